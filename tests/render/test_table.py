"""Table backend through the real pool and Chromium: HTML fragments, documents, Markdown; no JS, no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from src.render import RenderJob, RenderPool
from src.render.table import to_page
from tests.render.conftest import HTML_TABLE, MARKDOWN_TABLE, HitCounter, pixels

pytestmark = pytest.mark.browser


def _reddish(png: bytes) -> int:
    img = pixels(png).astype(int)
    return int(((img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] < 60)).sum())


def test_html_markdown_and_documents_render_cropped_to_the_table(pool: RenderPool) -> None:
    document = f"<!DOCTYPE html><html><head><title>t</title></head><body>{HTML_TABLE}</body></html>"
    fenced = f"Here is the table:\n```markdown\n{MARKDOWN_TABLE}```"
    results = pool.render([RenderJob("table", s) for s in (HTML_TABLE, document, MARKDOWN_TABLE, fenced)])
    assert all(r.ok for r in results), [r.message for r in results]
    fragment, doc, markdown, fenced_md = (pixels(r.png) for r in results)
    assert fragment.shape[1] < 600 and fragment.shape[0] < 300  # cropped, not the 1024-px viewport
    assert np.array_equal(fragment, doc)  # a fragment and the same table in a document look the same
    assert np.array_equal(markdown, fenced_md)
    assert (fragment < 100).all(axis=2).sum() > 500  # borders and text are drawn


def test_same_table_twice_is_pixel_identical(pool: RenderPool) -> None:
    results = pool.render([RenderJob("table", HTML_TABLE)] * 4)
    assert len({r.png for r in results}) == 1


def test_scripts_do_not_run(pool: RenderPool) -> None:
    script = "<script>document.body.style.background = 'red'; document.querySelector('td').textContent = 'X';</script>"
    plain, scripted = pool.render([RenderJob("table", HTML_TABLE), RenderJob("table", HTML_TABLE + script)])
    assert scripted.ok and scripted.png == plain.png


def test_no_request_leaves_the_page(pool: RenderPool, hit_counter: HitCounter, tmp_path: Path) -> None:
    local = tmp_path / "red.html"
    local.write_text("<html><body style='background:#ff0000'>LOCAL FILE</body></html>")
    url = hit_counter.url
    attacks = [
        f'<img src="{url}/logo.png" width="200" height="50">',
        f'<iframe src="{url}/frame" width="300" height="100"></iframe>',
        f'<iframe src="file://{local}" width="300" height="100"></iframe>',
        f'<link rel="stylesheet" href="{url}/style.css"><style>@import url("{url}/more.css");'
        f' table {{ background-image: url("{url}/bg.png"); }}</style>',
        f'<object data="{url}/obj" width="100" height="40"></object><video src="{url}/v.mp4" autoplay></video>',
    ]
    results = pool.render([RenderJob("table", HTML_TABLE + attack) for attack in attacks])
    assert all(r.ok for r in results), [r.message for r in results]
    assert all(_reddish(r.png) == 0 for r in results)  # neither the server's nor the local page's red appeared
    assert hit_counter.hits == 0 and hit_counter.connections == 0


def test_text_without_a_table_is_no_code(pool: RenderPool) -> None:
    (result,) = pool.render([RenderJob("table", "The table has three rows and two columns.")])
    assert result.error_kind == "no_code"


def test_empty_table_is_blank(pool: RenderPool) -> None:
    (result,) = pool.render([RenderJob("table", "<table style='border:0'></table>")])
    assert result.error_kind == "blank"


def test_page_template_leaves_a_documents_own_css_in_charge() -> None:
    page = to_page("<html><head><style>td { color: blue }</style></head><body><table></table></body></html>")
    assert page.index("Content-Security-Policy") < page.index("td { color: blue }")
