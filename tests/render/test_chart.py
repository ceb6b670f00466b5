"""Chart backend through the real pool: realistic charts, determinism, isolation, code as models write it."""

from __future__ import annotations

import numpy as np

from src.render import RenderJob, RenderPool
from tests.render.conftest import BAR_CHART, LINE_CHART, pixels, verdict_colour


def test_realistic_charts_render_at_figure_size(pool: RenderPool) -> None:
    bar, line = pool.render([RenderJob("chart", BAR_CHART), RenderJob("chart", LINE_CHART)])
    assert bar.ok and line.ok, (bar.message, line.message)
    assert pixels(bar.png).shape == (450, 700, 3)  # figsize (7, 4.5) at dpi 100
    assert pixels(line.png).shape == (400, 600, 3)
    # The bars' colours are in the image.
    img = pixels(bar.png).reshape(-1, 3).astype(int)
    assert (np.abs(img - [0x4C, 0x72, 0xB0]).sum(axis=1) < 10).sum() > 1000
    assert (np.abs(img - [0xDD, 0x84, 0x52]).sum(axis=1) < 10).sum() > 1000


def test_same_source_twice_gives_identical_pixels(pool: RenderPool) -> None:
    results = pool.render([RenderJob("chart", BAR_CHART)] * 4)  # spread over both workers
    assert all(r.ok for r in results)
    assert all(r.png == results[0].png for r in results)


def test_a_job_cannot_change_the_next_jobs_image(pool: RenderPool) -> None:
    (reference,) = pool.render([RenderJob("chart", LINE_CHART)])
    polluter = """
import matplotlib as mpl
import matplotlib.pyplot as plt
mpl.rcParams["lines.linewidth"] = 9
mpl.rcParams["axes.facecolor"] = "black"
plt.style.use("dark_background")
plt.rc("font", size=30)
import numpy as np
np.random.seed(123)
mpl.colors._colors_full_map["steelblue"] = "#ff00ff"
leaked = plt.figure(figsize=(3, 3))
plt.plot([0, 1], [1, 0])
"""
    results = pool.render([RenderJob("chart", polluter)] * 2 + [RenderJob("chart", LINE_CHART)] * 4)
    assert all(r.ok for r in results), [r.message for r in results]
    assert results[0].png != reference.png
    assert all(r.png == reference.png for r in results[2:])


def test_fenced_unfenced_show_and_savefig_all_render_the_same(pool: RenderPool) -> None:
    variants = [
        LINE_CHART,
        f"```python\n{LINE_CHART}\n```",
        f"Here is the code to reproduce the chart:\n\n```python\n{LINE_CHART}plt.show()\n```\n\nIt uses matplotlib.",
        f"{LINE_CHART}plt.savefig('figure.png', dpi=300, bbox_inches='tight')\nplt.close()\n",
        f"{LINE_CHART}plt.savefig('/tmp/elsewhere/chart.png')\nplt.show()\n",
        f"Sure! The chart shows renewable shares.\n{LINE_CHART}",
    ]
    results = pool.render([RenderJob("chart", v) for v in variants])
    assert all(r.ok for r in results), [(r.error_kind, r.message) for r in results]
    assert len({r.png for r in results}) == 1


def test_savefig_picks_the_saved_figure_even_after_a_new_one(pool: RenderPool) -> None:
    code = f"{LINE_CHART}plt.savefig('a.png')\nplt.figure(figsize=(2, 2))\n"
    (saved,), (plain,) = pool.render([RenderJob("chart", code)]), pool.render([RenderJob("chart", LINE_CHART)])
    assert saved.ok and saved.png == plain.png


def test_what_is_drawn_after_savefig_does_not_change_the_saved_picture(pool: RenderPool) -> None:
    code = (
        "import matplotlib.pyplot as plt\n"
        "fig = plt.figure(figsize=(2, 2))\nfig.suptitle('saved')\nfig.patch.set_facecolor('blue')\nplt.savefig('chart.png')\n"
        "fig.patch.set_facecolor('red')\nfig.canvas.draw()\n"
    )
    result = pool.render([RenderJob("chart", code)])[0]
    assert result.ok, result.message
    assert verdict_colour(result.png) == "blue"


def test_prose_without_code_is_no_code_and_broken_code_is_syntax(pool: RenderPool) -> None:
    prose, empty, broken, raises, nothing = pool.render(
        [
            RenderJob("chart", "I'm sorry, I cannot reproduce this chart."),
            RenderJob("chart", "```python\n\n```"),
            RenderJob("chart", "```python\nplt.plot([1, 2]\n```"),
            RenderJob("chart", "import matplotlib.pyplot as plt\nplt.plot([1, 2], [1])"),
            RenderJob("chart", "import matplotlib.pyplot as plt\nx = 1"),
        ]
    )
    assert prose.error_kind == "no_code" and empty.error_kind == "no_code"
    assert broken.error_kind == "syntax" and "line" in broken.message
    assert raises.error_kind == "runtime" and "ValueError" in raises.message
    assert nothing.error_kind == "blank"


def test_max_side_caps_the_output(pool: RenderPool) -> None:
    (result,) = pool.render([RenderJob("chart", BAR_CHART, max_side=350)])
    assert result.ok and max(pixels(result.png).shape[:2]) == 350


def test_bad_job_options_are_invalid_input(pool: RenderPool) -> None:
    (result,) = pool.render([RenderJob("chart", LINE_CHART, max_side=0)])
    assert result.error_kind == "invalid_input" and "max_side" in result.message


def test_child_keeps_read_only_font_files_and_closes_channels(tmp_path) -> None:
    """The forked child must keep matplotlib's open font files (glyphs stream from them lazily; a closed one's
    descriptor number gets reused by the next open) but close pipes and writable files (channels out)."""
    import json
    import os

    from src.render.sandbox import close_inherited_descriptors

    font = tmp_path / "font.ttf"
    font.write_bytes(b"glyph data")
    read_only = os.open(font, os.O_RDONLY)
    writable = os.open(tmp_path / "log.txt", os.O_WRONLY | os.O_CREAT)
    pipe_r, pipe_w = os.pipe()
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            close_inherited_descriptors(keep={report_w})
            alive = []
            for fd in (read_only, writable, pipe_r, pipe_w):
                try:
                    os.fstat(fd)
                    alive.append(fd)
                except OSError:
                    pass
            os.write(report_w, json.dumps(alive).encode())
        finally:
            os._exit(0)
    os.close(report_w)
    os.waitpid(pid, 0)
    alive = json.loads(os.read(report_r, 1024))
    for fd in (read_only, writable, pipe_r, pipe_w, report_r):
        os.close(fd)
    assert alive == [read_only]
