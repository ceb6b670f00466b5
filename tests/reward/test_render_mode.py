"""Render modes: the released mode prepares sources and pictures as the released reward code does (written out by hand
below); the default mode leaves the answer alone."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image, ImageChops, ImageDraw

from src.render import RenderPool
from src.render.job import RenderResult
from src.reward.critic_profile import ImageEncoding
from src.reward.render_mode import (
    finish_render,
    released_chart_program,
    released_svg_markup,
    released_table_page,
    render_job,
)
from tests.reward.conftest import png_bytes


def test_chart_program_is_the_last_python_block_with_saves_removed_and_one_save_appended() -> None:
    answer = (
        "First the data:\n```python\nx = [1, 2]\n```\nThen the chart:\n```python\n"
        "fig, ax = plt.subplots()\nax.bar([0, 1], [3, 4])\nplt.savefig(os.path.join(out, 'a.png'))\n"
        "fig.savefig('b.png', dpi=200)\nplt.show()\n```\nDone."
    )
    assert released_chart_program(answer) == (
        "import matplotlib.pyplot as plt\n"  # plt. used, pyplot never imported
        "fig, ax = plt.subplots()\nax.bar([0, 1], [3, 4])\n"
        "# removed by render hack)\n"  # the released pattern stops at the first ")": the rest stays
        "# removed by render hack\n# removed by render hack\n"
        'import matplotlib.pyplot as plt\nplt.savefig("released_render.png")\n'
    )
    assert released_chart_program("import matplotlib.pyplot as plt\nplt.plot([1])") is None  # bare code: none
    assert released_chart_program("```python\n\n```") is None
    assert released_chart_program("```python\nplt.plot([1])\n```\n```svg\n<svg/>\n```") is None  # last block is svg


def test_svg_markup_takes_the_last_svg_block_else_closes_a_bare_tag() -> None:
    assert released_svg_markup("```svg\n<svg a/>\n```\n```svg\n<svg b></svg>\n```") == "<svg b></svg>"
    assert released_svg_markup('Here: <svg width="8"><rect x="1"/><circ') == '<svg width="8"><rect x="1"/></svg>'
    assert released_svg_markup("no picture") is None


def test_table_page_is_the_raw_answer_with_fences_kept_as_text() -> None:
    answer = "Here is the table:\n```html\n<table><tr><td>1</td></tr></table>\n```"
    page = released_table_page(answer)
    assert "```" not in page and page.endswith(
        "&#96;&#96;&#96;html\n<table><tr><td>1</td></tr></table>\n&#96;&#96;&#96;"
    )
    assert "margin: 20px" in page and "border: 1px solid #333; padding: 6px 10px" in page
    job = render_job("table", answer, "released")
    assert (job.table_width, job.max_side, job.source) == (3600, 8192, page)
    assert render_job("table", answer).source == answer  # the default mode leaves the answer alone


def test_table_picture_cropped_by_the_profile_equals_the_released_crop() -> None:
    page = Image.new("RGB", (3600, 2400), "white")
    ImageDraw.Draw(page).rectangle((20, 20, 500, 140), outline="#333333")
    # The released picture: content against the top-left pixel, 12 px padding, thumbnail 768.
    box = ImageChops.difference(page, Image.new("RGB", page.size, "white")).getbbox()
    assert box == (20, 20, 501, 141)
    released = page.crop((8, 8, 513, 153))
    released.thumbnail((768, 768))
    # The pool's picture: the content with an 8 px white margin.
    pooled = RenderResult(ok=True, png=png_bytes(page.crop((12, 12, 509, 149))))
    finished = finish_render(pooled, "table", "released")
    assert finished.ok and finished.png is not None
    with Image.open(io.BytesIO(finished.png)) as image:
        shown = ImageEncoding(format="png", max_side=768, crop_padding=12).fit(image, is_reference=False)
    assert shown.size == released.size and shown.tobytes() == released.convert("RGB").tobytes()


def test_blank_table_page_is_judged_as_a_white_page() -> None:
    finished = finish_render(RenderResult.failure("blank", "flat"), "table", "released")
    assert finished.ok and finished.png is not None
    with Image.open(io.BytesIO(finished.png)) as image:
        assert image.size == (768, 512) and image.convert("L").getextrema() == (255, 255)
    # Other failures, other domains and our mode are left as they are.
    failed = RenderResult.failure("timeout", "slow")
    assert finish_render(failed, "table", "released") is failed
    assert finish_render(RenderResult.failure("blank", "flat"), "chart", "released").ok is False


@pytest.fixture(scope="module")
def pool() -> Iterator[RenderPool]:
    with RenderPool(workers=1) as pool:
        yield pool


def test_released_chart_judges_the_figure_left_after_the_code_ran(pool: RenderPool) -> None:
    """A program that saves and then closes its figure: our mode shows the saved chart; the released code saves the
    current figure after the run, a new empty one, which is white (no reward there, a failed render here)."""
    answer = (
        "```python\nimport matplotlib.pyplot as plt\nplt.bar([0, 1], [3, 4])\nplt.savefig('x.png')\nplt.close()\n```"
    )
    ours, released = pool.render([render_job("chart", answer), render_job("chart", answer, "released")])
    assert ours.ok
    assert not released.ok and released.error_kind == "blank"
