"""SVG backend: cairosvg to pixels on white, at ``job.svg_size`` square as the paper's pipeline (336x336).

Untrusted SVG is refused anything outside itself: the ``url_fetcher`` serves inline ``data:`` URLs and answers
every other URL (``file://``, ``http://``) with an empty SVG, so the render goes on with that part absent and the
result's message names what was refused; and a DOCTYPE declaring entities is rejected as ``invalid_input`` in the
worker before any parsing (cairosvg's own defusedxml guard would also refuse it; we do not rely on one layer).

Decompression bombs: a 40 KiB ``data:`` PNG of 16000x16000 1-bit pixels decodes to 1 GiB of ARGB in cairo, and
gzip inside gzip ``data:image/svg+xml`` (2.6 KB) expands to 300 MiB of SVG through cairosvg's unbounded
``gzip.decompress``. The fetcher therefore reads an embedded raster's size from its header before anyone decodes
it (``MAX_IMAGE_PIXELS`` per image, ``MAX_TOTAL_PIXELS`` per job), inflates gzip itself in bounded steps (every
layer of it, so cairosvg never sees a gzip stream) and counts every byte it hands out against ``MAX_FETCHED_BYTES``.
A job over a budget ends as ``invalid_input`` naming the budget.

Rendering runs in a sandboxed child of the worker's clean template (``zygote.py``), under the same address-space
cap, CPU limit and wall-clock kill as a chart: a file that hangs cairo inside C (huge path data, deep nesting, a
huge filter surface) is killed at ``timeout_s`` and the worker is untouched. That isolation has a price, measured
as CPU per job over 80 seed SVGs on the 2-core CI machine: 4.5 ms rendering in the worker (before), 19.6 ms now
(fork and sandbox set-up ~4 ms in the child and ~5 ms in the template, the render ~6 ms in a fresh child against
~3 ms in a warm process, PNG encoding ~4 ms in the worker). Reusing one child for several SVG jobs would win most of
it back, but that child would hold earlier jobs' sources; every job gets a fresh one instead.
"""

from __future__ import annotations

import io
import re
import struct
import zlib

from src.render.job import JobFailure

MAX_IMAGE_PIXELS = 4096 * 4096  # one embedded raster: 64 MiB of ARGB in cairo
MAX_TOTAL_PIXELS = 2 * MAX_IMAGE_PIXELS  # all embedded rasters of one job
MAX_FETCHED_BYTES = 32 << 20  # decoded data: URLs and inflated gzip, all layers, per job
_GZIP_MAGIC = b"\x1f\x8b"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_DOCTYPE_SUBSET = re.compile(r"<!DOCTYPE[^>\[]*\[", re.IGNORECASE)
_EMPTY_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>'
# Drawn once in the worker before the SVG template forks, so every child inherits cairosvg/tinycss2/cssselect2 with
# their lazy imports done and their regex and parser caches filled: a bare rectangle leaves most of that work (style
# sheets, text, paths, gradients) to every child.
WARM_SVG = """<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" viewBox="0 0 120 120"
 width="120" height="120">
<style>.a { fill: #1E88E5; stroke: rgb(20, 30, 40); stroke-width: 1.5px } #t { font: italic bold 9px sans-serif }</style>
<defs>
 <linearGradient id="g1" x1="0%" y1="0%" x2="100%" y2="100%" gradientTransform="rotate(10)">
  <stop offset="0" stop-color="#6EC6FF" stop-opacity="0.9"/><stop offset="1" style="stop-color: navy"/></linearGradient>
 <radialGradient id="g2" cx="50%" cy="50%" r="50%" fx="40%" fy="40%">
  <stop offset="0%" stop-color="yellow"/><stop offset="100%" stop-color="orange"/></radialGradient>
 <clipPath id="c"><circle cx="60" cy="60" r="50"/></clipPath>
 <pattern id="p" width="8" height="8" patternUnits="userSpaceOnUse"><rect width="4" height="4" fill="gray"/></pattern>
 <marker id="m" markerWidth="4" markerHeight="4" refX="2" refY="2"><circle cx="2" cy="2" r="1"/></marker>
 <symbol id="s" viewBox="0 0 10 10"><path d="M0 0 L10 5 L0 10 z"/></symbol>
</defs>
<rect x="2" y="2" width="116" height="116" rx="10" ry="8" fill="url(#g1)"/>
<g clip-path="url(#c)" transform="translate(5 5) scale(0.9) rotate(-5 60 60) skewX(3)" opacity="0.8">
 <circle class="a" cx="40" cy="40" r="15"/><ellipse cx="80" cy="40" rx="15" ry="8" fill="url(#g2)"/>
 <path d="M10 90 C 30 60, 50 60, 70 90 S 110 120, 115 80 Q 90 70 80 100 T 60 110 A 10 12 30 1 0 20 100 Z"
  fill="hsl(120, 50%, 40%)" fill-rule="evenodd" stroke="#333" stroke-dasharray="3 1" stroke-linecap="round"
  stroke-linejoin="bevel"/>
 <polygon points="60,10 70,30 50,30" fill="url(#p)"/><polyline points="5,60 20,70 35,60" fill="none"
  stroke="red" marker-end="url(#m)"/><line x1="0" y1="0" x2="120" y2="120" stroke="black" stroke-opacity="0.3"/>
</g>
<use xlink:href="#s" x="90" y="90" width="20" height="20" fill="purple"/>
<text id="t" x="60" y="112" text-anchor="middle" letter-spacing="1">Warm <tspan dy="-2" fill="red">up</tspan></text>
<text x="5" y="10" font-family="DejaVu Sans" font-size="6" font-weight="700" transform="rotate(3)">Label 1.5%</text>
<image x="100" y="5" width="10" height="10" href="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="/>
</svg>"""


def svg_problem(markup: str) -> str | None:
    """Why the worker refuses this SVG before any child parses it, or None."""
    if _ENTITY_DECL.search(markup) or _DOCTYPE_SUBSET.search(markup):
        return "SVG declares XML entities or an internal DTD subset; refused"
    return None


class BudgetFetcher:
    """cairosvg ``url_fetcher``: inline ``data:`` URLs only, within the job's byte and pixel budgets; any other URL
    renders as nothing and is noted."""

    def __init__(self) -> None:
        self.refused: list[str] = []
        self.fetched_bytes = 0
        self.pixels = 0

    def __call__(self, url: str, resource_type: str) -> bytes:
        if not url.startswith("data:"):
            self.refused.append(url[:200])
            return _EMPTY_SVG
        from cairosvg.url import fetch

        data = self._count(fetch(url, resource_type))  # data: URLs decode to less than their own length
        while data.startswith(_GZIP_MAGIC):  # gzip inside gzip inside ...: every layer within the budget
            data = self._count(self._inflate(data))
        if not (data.lstrip().startswith((b"<", b"\xef\xbb\xbf<")) or b"<svg" in data[:4096]):
            self._check_raster(data)
        return data

    def _count(self, data: bytes) -> bytes:
        self.fetched_bytes += len(data)
        if self.fetched_bytes > MAX_FETCHED_BYTES:
            raise JobFailure(
                "invalid_input", f"embedded data expands past the budget of {MAX_FETCHED_BYTES >> 20} MiB per job"
            )
        return data

    def _inflate(self, data: bytes) -> bytes:
        """All gzip members of ``data``, stopping as soon as the output would pass the remaining budget."""
        budget = MAX_FETCHED_BYTES - self.fetched_bytes
        out = bytearray()
        while data.startswith(_GZIP_MAGIC):
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            try:
                out += inflater.decompress(data, budget + 1 - len(out))
            except zlib.error as exc:
                raise JobFailure("invalid_input", f"corrupt gzip data in the SVG: {exc}") from None
            if len(out) > budget or inflater.unconsumed_tail:
                raise JobFailure(
                    "invalid_input", f"gzip data expands past the budget of {MAX_FETCHED_BYTES >> 20} MiB per job"
                )
            data = inflater.unused_data
        return bytes(out)

    def _check_raster(self, data: bytes) -> None:
        width, height = _raster_size(data)
        if width * height > MAX_IMAGE_PIXELS:
            raise JobFailure(
                "invalid_input", f"embedded image of {width}x{height} px is over the budget of {MAX_IMAGE_PIXELS} px"
            )
        self.pixels += width * height
        if self.pixels > MAX_TOTAL_PIXELS:
            raise JobFailure("invalid_input", f"embedded images total over the budget of {MAX_TOTAL_PIXELS} px")


def _raster_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header alone. PNG is read by hand because cairo decodes it without Pillow."""
    if data.startswith(_PNG_MAGIC) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:  # lazy: reads the header, decodes nothing
            return image.size
    except Image.DecompressionBombError as exc:
        raise JobFailure("invalid_input", f"embedded image: {exc}") from None
    except Exception:  # noqa: BLE001 - not an image Pillow knows: cairosvg will fail on it (or skip it) itself
        return 0, 0


def draw_svg(markup: str, size: int) -> tuple[int, int, bytes, str]:
    """Render to ``size`` x ``size`` RGBA on white; also returns a note on refused resources. Runs in the child."""
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # Pillow's own guard, for formats cairosvg hands to it
    fetcher = BudgetFetcher()
    tree = Tree(bytestring=markup.encode("utf-8"), url_fetcher=fetcher, unsafe=False)
    # The surface by hand (what PNGSurface.convert does) so the pixels are read straight from cairo; the PNG it
    # would write is never made (the worker encodes). convert()/svg2png would not pass url_fetcher on anyway.
    surface = PNGSurface(tree, io.BytesIO(), 96, None, None, None, 1, size, size, "white")
    canvas = surface.cairo
    canvas.flush()
    width, height, stride = canvas.get_width(), canvas.get_height(), canvas.get_stride()
    # cairo's ARGB32 is native-endian BGRA, alpha-premultiplied; on a white background alpha is 255 throughout.
    # Pillow reorders it (numpy would too, but importing it makes the SVG template heavier to fork).
    rgba = Image.frombuffer("RGBA", (width, height), bytes(canvas.get_data()), "raw", "BGRA", stride, 1).tobytes()
    note = f"external resources refused (not drawn): {', '.join(fetcher.refused)}" if fetcher.refused else ""
    return width, height, rgba, note


def classify_svg_exception(exc: BaseException) -> tuple[str, str]:
    """(error kind, message) for an exception out of cairosvg on untrusted markup."""
    message = f"{type(exc).__name__}: {exc}"[:2000]
    if isinstance(exc, MemoryError):  # also cairo.MemoryError: a surface over the address-space cap
        return "memory", message
    if isinstance(exc, RecursionError):
        return "invalid_input", f"SVG nested too deeply: {message}"
    return "invalid_input", message  # malformed XML, bad attributes, defusedxml refusals: many types
