"""``RenderJob(mode="released")``: the images the public Visual-ERM reward renders, its rules written out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from src.render import RenderJob, RenderPool
from src.render.chart import _RELEASED_MARK, released_chart_script
from src.render.table import RELEASED_TABLE_VIEWPORT
from tests.render.conftest import pixels

RED_THEN_BLUE = """
import matplotlib.pyplot as plt
fig = plt.figure(figsize=(4, 3))
fig.patch.set_facecolor("red")
fig.text(0.5, 0.5, "revenue")
plt.savefig("chart.png")
fig.patch.set_facecolor("blue")
"""


def _corner(png: bytes) -> tuple[int, int, int]:
    return tuple(int(v) for v in pixels(png)[0, 0])  # type: ignore[return-value]


def test_released_script_blanks_save_and_show_calls_and_imports_pyplot() -> None:
    script = released_chart_script("plt.plot([1])\nplt.savefig(os.path.join('a', 'b'))\nfig.show()\n")
    assert script.startswith("import matplotlib.pyplot as plt\n")
    assert "plt.savefig(" not in script and "fig.show(" not in script
    # The public edit stops at the first ")": the rest stays, commented out with the call on its line.
    assert f"{_RELEASED_MARK})\n" in script and _RELEASED_MARK.startswith("#")
    assert released_chart_script("import matplotlib.pyplot as plt\nx = 1") == "import matplotlib.pyplot as plt\nx = 1"


def test_released_chart_saves_the_figure_as_it_is_at_the_end(pool: RenderPool) -> None:
    fenced = f"```python\n{RED_THEN_BLUE}\n```"
    project, released = pool.render(
        [RenderJob("chart", fenced, dpi=50), RenderJob("chart", fenced, dpi=50, mode="released")]
    )
    assert project.ok and released.ok, (project.message, released.message)
    assert _corner(project.png) == (255, 0, 0)  # ours: what the code saved
    assert _corner(released.png) == (0, 0, 255)  # released: the figure after the code ran
    assert pixels(project.png).shape[:2] == (150, 200)  # the job's DPI
    assert pixels(released.png).shape[:2] == (300, 400)  # the figure's own DPI (100), the job's ignored


def test_released_chart_follows_the_public_reading_and_its_failures(pool: RenderPool) -> None:
    in_block = "```python\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nif True:\n    plt.savefig('x.png')\n```"
    svg_last = "```python\nimport matplotlib.pyplot as plt\n```\n```svg\n<svg width='8' height='8'><rect width='8' height='4' fill='black'/></svg>\n```"
    black = "```python\nimport matplotlib.pyplot as plt\nplt.figure(facecolor='black')\n```"
    jobs = [
        RenderJob("chart", text, mode=mode) for text in (in_block, svg_last, black) for mode in ("project", "released")
    ]
    jobs.append(RenderJob("chart", "```\nimport matplotlib.pyplot as plt\nplt.plot([1])\n```", mode="released"))
    (block_ours, block_rel, svg_ours, svg_rel, black_ours, black_rel, untagged_rel) = pool.render(jobs)
    assert block_ours.ok and block_rel.error_kind == "syntax"  # the blanked call leaves the block empty
    assert svg_rel.ok and pixels(svg_rel.png).shape[:2] == (336, 336)  # the last fence's tag picked cairosvg
    assert svg_ours.error_kind == "blank"  # ours runs the python block, which draws nothing
    assert black_ours.error_kind == "blank" and black_rel.ok  # only pure white is blank there
    assert untagged_rel.error_kind == "no_code"


@pytest.mark.browser
def test_released_table_is_the_raw_answer_in_a_fixed_window(pool: RenderPool) -> None:
    rows = "".join(f"<tr><td style='width: 1200px'>row {i}</td></tr>" for i in range(300))
    long_table = f"<table>{rows}</table>"
    prose = "Here is the table you asked for, and no table."
    project, released, prose_ours, prose_rel, empty_rel = pool.render(
        [
            RenderJob("table", long_table, max_side=4096),
            RenderJob("table", long_table, max_side=4096, mode="released"),
            RenderJob("table", prose),
            RenderJob("table", prose, max_side=768, mode="released"),
            RenderJob("table", "", max_side=768, mode="released"),
        ]
    )
    assert project.ok and released.ok, (project.message, released.message)
    height, width = pixels(released.png).shape[:2]
    assert height <= RELEASED_TABLE_VIEWPORT[1] and height / width < 2.1  # the window cuts the ~9,000 px page
    project_height, project_width = pixels(project.png).shape[:2]
    assert project_height / project_width > 5  # ours captures all of it
    assert prose_ours.error_kind == "no_code" and prose_rel.ok  # the answer is the page, table or not
    assert (pixels(prose_rel.png) < 100).any()  # its text is drawn
    assert empty_rel.ok and (pixels(empty_rel.png) == 255).all()  # no blank check: the critic sees a white page
    assert max(pixels(empty_rel.png).shape[:2]) == 768  # the whole 3600x2400 window, thumbnailed
    corner = pixels(prose_rel.png)[0, 0]
    assert np.array_equal(corner, [255, 255, 255])  # cropped around the text with a margin of background
