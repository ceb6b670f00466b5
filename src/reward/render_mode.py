"""Render modes: which picture of a policy answer the judge is shown.

``ours`` (the default) hands the answer to the render pool as it is: our extraction, our table template and crop.
``released`` shows the pictures the released Visual-ERM judge was trained on and rewarded with, so a policy trained
here against that judge is rewarded on the same pictures as in the authors' runs. It works by preparing the source
before the pool and the image after it, without changing the renderers:

- charts: the last fenced block tagged ``python`` (the released reward takes no bare code), with
  ``import matplotlib.pyplot as plt`` prepended when the code uses ``plt.`` without importing it, every
  ``plt.savefig(...)`` / ``fig.savefig(...)`` (up to the first ``)``, as the released pattern matches) and
  ``plt.show()`` / ``fig.show()`` commented out, and one ``plt.savefig(...)`` appended, so the current figure after
  the code ran is what is judged (our renderer keeps the last saved figure);
- SVG: the last fenced ``svg`` block, else everything from the first ``<svg`` tag with a partial tag at the end
  dropped and ``</svg>`` added when missing;
- tables: the raw answer is the page body, fences and prose included, under the released page's CSS (white body,
  20 px margin; collapsed borders, Arial 14 px; ``td`` 1 px solid #333 border, 6 px 10 px padding; everything else
  the browser's defaults) in a 3600 px wide viewport. The pool crops its capture to the non-white content with a
  small margin; ``finish_render`` pads the picture again with its corner colour so that the released crop (content
  against the top-left pixel, 12 px padding, in the critic profile) finds the same box. An all-white page is judged
  there (as a 768x512 white picture), not refused as blank.

What the renderers cannot do here, and so differs from the released pictures: a chart is drawn at the job's DPI,
not the figure's own (``RenderJob`` has no "figure DPI" option); a table page taller than 2400 px is captured whole
rather than cut at 2400 px, and pages over ~4 MP are captured at a slightly lower scale; a flat page of a colour
other than white is shown white; a chart answer whose last block is ``svg`` (rendered as SVG there) has no code.
"""

from __future__ import annotations

import io
import re
from typing import Literal

from PIL import Image

from src.render.job import RenderJob, RenderResult

RenderMode = Literal["ours", "released"]
RENDER_MODES: tuple[str, ...] = ("ours", "released")

RELEASED_TABLE_VIEWPORT = 3600  # px: the released screenshot is 3600 x 2400
RELEASED_BLANK_PAGE = (768, 512)  # a white 3600 x 2400 page thumbnailed to 768 px, as the released reward sends it
# Restores room around the pool's tight crop (its margin is below the released 12 px padding): the critic profile
# then crops against the corner colour with its own padding.
_CROP_ROOM_PX = 16

# The released page's rules over our template's: ``revert`` gives a property back to the browser's default, which
# is what the released page leaves it at.
_RELEASED_TABLE_STYLE = (
    "<style>"
    "html { background: revert; }"
    "body { background: white; margin: 20px; padding: revert; font-family: revert; font-size: revert; color: revert; }"
    "table { border-collapse: collapse; font-family: Arial, sans-serif; font-size: 14px; margin-bottom: revert; }"
    "th, td { border: revert; padding: revert; }"
    "th { font-weight: revert; }"
    "caption { padding: revert; }"
    "td { border: 1px solid #333; padding: 6px 10px; }"
    "</style>"
)
# Makes the pool render the whole answer: it looks for a table, and inside fenced blocks first.
_TABLE_MARKER = '<table hidden style="display:none"></table>'
_FENCE = "```"
_FENCE_ENTITIES = "&#96;&#96;&#96;"  # the same three backticks on the page, but no fence to the pool's extraction

_BLOCK = re.compile(r"```([a-zA-Z0-9_+-]+)\s*(.*?)\s*```", re.DOTALL)
_SAVEFIG = (re.compile(r"plt\.savefig\s*\(.*?\)", re.DOTALL), re.compile(r"fig\.savefig\s*\(.*?\)", re.DOTALL))
_SHOW = (re.compile(r"plt\.show\s*\(\s*\)"), re.compile(r"fig\.show\s*\(\s*\)"))
_SVG_START = re.compile(r"<svg[^>]*>.*", re.DOTALL | re.IGNORECASE)
_PARTIAL_TAG = re.compile(r"<[^>]*$")


def _last_block(answer: str, languages: tuple[str, ...]) -> tuple[str, str] | None:
    """(language, code) of the last non-empty fenced block in one of the released reward's languages."""
    for match in reversed(list(_BLOCK.finditer(answer or ""))):
        language, code = match.group(1).strip().lower(), match.group(2).strip()
        if language in languages and code:
            return language, code
    return None


def released_chart_program(answer: str) -> str | None:
    """The program the released chart reward runs for ``answer``; ``None`` when it finds no python block."""
    block = _last_block(answer, ("python", "svg"))
    if block is None or block[0] != "python":
        return None
    code = block[1]
    if "matplotlib.pyplot" not in code and "plt." in code:
        code = "import matplotlib.pyplot as plt\n" + code
    for pattern in (*_SAVEFIG, *_SHOW):
        code = pattern.sub("# removed by render hack", code)
    return code + '\nimport matplotlib.pyplot as plt\nplt.savefig("released_render.png")\n'


def released_svg_markup(answer: str) -> str | None:
    """The SVG the released SVG reward renders for ``answer``; ``None`` when there is none."""
    block = _last_block(answer, ("python", "svg"))
    if block is not None:
        return block[1] if block[0] == "svg" else None
    match = _SVG_START.search(answer or "")
    if match is None:
        return None
    markup = _PARTIAL_TAG.sub("", match.group(0))
    return markup if markup.strip().endswith("</svg>") else markup + "</svg>"


def released_table_page(answer: str) -> str:
    """The released table page's body for the pool: its CSS, then the raw answer (fences shown as text)."""
    return _RELEASED_TABLE_STYLE + _TABLE_MARKER + (answer or "").replace(_FENCE, _FENCE_ENTITIES)


def render_job(domain: str, answer: str, mode: RenderMode = "ours", max_side: int = 1024, tag: str = "") -> RenderJob:
    """The render job showing ``answer`` as ``mode`` does (``ours``: the answer as written)."""
    if mode == "ours":
        return RenderJob(domain=domain, source=answer, max_side=max_side, tag=tag)  # type: ignore[arg-type]
    if mode != "released":
        raise ValueError(f"mode: {mode!r} is not one of {RENDER_MODES}")
    if domain == "table":
        # Captured at full size: the critic profile crops with the released padding and thumbnails to 768 px.
        return RenderJob(
            "table", released_table_page(answer), max_side=8192, table_width=RELEASED_TABLE_VIEWPORT, tag=tag
        )
    source = released_chart_program(answer) if domain == "chart" else released_svg_markup(answer)
    # No program: an empty source, which the pool reports as ``no_code`` (reward 0, as released).
    return RenderJob(domain=domain, source=source or "", max_side=max_side, tag=tag)  # type: ignore[arg-type]


def finish_render(result: RenderResult, domain: str, mode: RenderMode = "ours") -> RenderResult:
    """The picture the judge is shown, from the pool's result of ``render_job(domain, answer, mode)``."""
    if mode == "ours" or domain != "table":
        return result
    if not result.ok and result.error_kind == "blank":
        return RenderResult(ok=True, png=_png(Image.new("RGB", RELEASED_BLANK_PAGE, "white")), seconds=result.seconds)
    if not result.ok or result.png is None:
        return result
    with Image.open(io.BytesIO(result.png)) as image:
        rgb = image.convert("RGB")
    corner = rgb.getpixel((0, 0))
    padded = Image.new("RGB", (rgb.width + 2 * _CROP_ROOM_PX, rgb.height + 2 * _CROP_ROOM_PX), corner)  # type: ignore[arg-type]
    padded.paste(rgb, (_CROP_ROOM_PX, _CROP_ROOM_PX))
    return RenderResult(ok=True, png=_png(padded), seconds=result.seconds, cached=result.cached)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
