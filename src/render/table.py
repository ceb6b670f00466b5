"""Table backend: HTML or Markdown in a CSS template, screenshotted by headless Chromium through Playwright.

One browser per worker, one context, one page reused for every job (~40 ms a shot here through CDP, against
~190 ms with a new context per shot; see ``TableBrowser._screenshot``). The browser is launched lazily on the first table job, so a worker that only renders charts
never pays for it. Safety without JavaScript: the context has JavaScript off (unless the pool asks for it), every
request is routed to ``abort`` (``<img src=http://...>``, iframes, fonts, CSS imports never load), and the page
carries a ``default-src 'none'`` Content-Security-Policy as a second wall. ``file://`` subresources are refused by
Chromium itself for a page without a file origin.

The screenshot is the full page, cropped to the bounding box of non-white pixels plus a margin: that works with
JavaScript off and for fragments, full documents and Markdown alike.
"""

from __future__ import annotations

import base64
import contextlib
import html
import re
import shutil
import time
from typing import TYPE_CHECKING

from PIL import Image, ImageChops

from src.render import image as image_ops
from src.render.extract import looks_like_markdown_table
from src.render.job import RenderJob, RenderResult

if TYPE_CHECKING:
    from playwright.sync_api import Browser, CDPSession, Page, Playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root in CI; the page has no JavaScript and no network, see the module docstring
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    # Measured: an <iframe src=http://127.0.0.1:...> made Chromium preconnect (a TCP connection, no request) before
    # routing could abort the navigation. A dead proxy for every host, loopback included, stops that too.
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
]
CROP_MARGIN_PX = 8
MAX_PAGE_PX = 16384  # Chromium's largest capture; longer pages are cut (and downscaled to max_side anyway)

# Close to the paper's template: a plain, bordered, collapsed table in a sans-serif font on white.
TABLE_CSS = """
html, body { background: #ffffff; }
body { margin: 0; padding: 8px; font-family: "DejaVu Sans", Arial, Helvetica, sans-serif; font-size: 14px;
       color: #000000; }
table { border-collapse: collapse; margin-bottom: 8px; }
th, td { border: 1px solid #000000; padding: 4px 8px; }
th { font-weight: bold; }
caption { padding: 4px; }
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
_HEAD = f'<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="{CSP}"><style>{TABLE_CSS}</style>'


def markdown_to_html(text: str) -> str:
    """Pipe tables → ``<table>``; inline ``**bold**``, ``*italic*``, ```code``` kept. Other lines are dropped."""
    lines = text.splitlines()
    tables: list[str] = []
    i = 0
    while i < len(lines) - 1:
        if "|" in lines[i] and looks_like_markdown_table(lines[i] + "\n" + lines[i + 1]):
            header = _split_row(lines[i])
            aligns = [_alignment(cell) for cell in _split_row(lines[i + 1])]
            body: list[list[str]] = []
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                body.append(_split_row(lines[i]))
                i += 1
            tables.append(_table_html(header, aligns, body))
        else:
            i += 1
    return "\n".join(tables)


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def _alignment(separator: str) -> str:
    sep = separator.strip()
    if sep.startswith(":") and sep.endswith(":"):
        return "center"
    if sep.endswith(":"):
        return "right"
    return "left" if sep.startswith(":") else ""


def _inline(cell: str) -> str:
    out = html.escape(cell)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: f"<b>{m.group(1) or m.group(2)}</b>", out)
    out = re.sub(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?!\*)", r"<i>\1</i>", out)
    return out.replace("&lt;br&gt;", "<br>")


def _table_html(header: list[str], aligns: list[str], body: list[list[str]]) -> str:
    width = len(header)

    def row(cells: list[str], tag: str) -> str:
        cells = (cells + [""] * width)[:width]
        parts = []
        for col, cell in enumerate(cells):
            align = aligns[col] if col < len(aligns) else ""
            style = f' style="text-align: {align}"' if align else ""
            parts.append(f"<{tag}{style}>{_inline(cell)}</{tag}>")
        return "<tr>" + "".join(parts) + "</tr>"

    rows = "".join(row(cells, "td") for cells in body)
    return f"<table><thead>{row(header, 'th')}</thead><tbody>{rows}</tbody></table>"


def to_page(markup: str) -> str:
    """Wrap a fragment in the template; inject the template first into a full document (its own CSS wins)."""
    if not re.search(r"<table\b", markup, re.IGNORECASE) and looks_like_markdown_table(markup):
        markup = markdown_to_html(markup)
    if re.search(r"<html\b|<body\b|<head\b", markup, re.IGNORECASE):
        head = re.search(r"<head\b[^>]*>", markup, re.IGNORECASE)
        if head:
            return markup[: head.end()] + _HEAD + markup[head.end() :]
        html_tag = re.search(r"<html\b[^>]*>", markup, re.IGNORECASE)
        at = html_tag.end() if html_tag else 0
        return markup[:at] + f"<head>{_HEAD}</head>" + markup[at:]
    return f"<!DOCTYPE html><html><head>{_HEAD}</head><body>{markup}</body></html>"


class TableBrowser:
    """One headless Chromium with one reused page; launched on first use."""

    def __init__(self, timeout_s: float, chromium_path: str | None = None, javascript: bool = False) -> None:
        self.timeout_s = timeout_s
        self.chromium_path = chromium_path or shutil.which("chromium") or shutil.which("chromium-browser")
        self.javascript = javascript
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._page: Page | None = None
        self._cdp: CDPSession | None = None
        self._frame_id = ""
        self._width = 0

    def _launch(self) -> None:
        if self.chromium_path is None:
            raise FileNotFoundError("no Chromium found: install the `chromium` package or pass chromium_path")
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        self._playwright = playwright
        self._browser = playwright.chromium.launch(executable_path=self.chromium_path, args=CHROMIUM_ARGS)
        self._new_page()

    def _new_page(self) -> None:
        if self._browser is None:
            raise RuntimeError("no browser to open a page in: launch it first")
        context = self._browser.new_context(
            java_script_enabled=self.javascript, viewport={"width": 1024, "height": 64}, device_scale_factor=1
        )
        context.route("**/*", lambda route: route.abort())
        self._page = page = context.new_page()
        self._cdp = cdp = context.new_cdp_session(page)
        self._frame_id = cdp.send("Page.getFrameTree")["frameTree"]["frame"]["id"]
        self._width = 1024

    def render(self, job: RenderJob, markup: str) -> RenderResult:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        start = time.perf_counter()
        try:
            if self._page is None:
                self._launch()
            page = self._page
            if page is None:
                raise RuntimeError("the browser was launched but has no page")
            if job.table_width != self._width:
                page.set_viewport_size({"width": job.table_width, "height": 64})
                self._width = job.table_width
            shot = self._screenshot(to_page(markup))
        except PlaywrightTimeout as exc:
            self._reset_page()
            return RenderResult.failure("timeout", f"Chromium: {exc}", time.perf_counter() - start)
        except PlaywrightError as exc:
            self.close()  # the browser may be gone; the next job relaunches it
            return RenderResult.failure("crashed", f"Chromium: {exc}", time.perf_counter() - start)
        try:
            png = image_ops.finalize(crop_to_content(image_ops.from_png(shot)), job.max_side)
        except image_ops.BlankImage as exc:
            return RenderResult.failure("blank", f"the page shows nothing: {exc}", time.perf_counter() - start)
        return RenderResult(ok=True, png=png, seconds=time.perf_counter() - start)

    def _screenshot(self, page_html: str) -> bytes:
        """Load the page and capture all of it, straight through CDP.

        Measured on 30 seed tables: 36-42 ms a shot against 65-80 ms for Playwright's ``set_content`` +
        ``screenshot(full_page=True)`` (which waits for load events and resizes the viewport twice), with identical
        pixels. ``optimizeForSpeed`` only lowers the PNG compression level. CDP calls take no timeout: a page that
        hangs Chromium is caught by the pool's backstop, which replaces the worker.
        """
        cdp = self._cdp
        if cdp is None:
            raise RuntimeError("no CDP session: the browser is not running")
        cdp.send("Page.setDocumentContent", {"frameId": self._frame_id, "html": page_html})
        size = cdp.send("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": min(size["width"], MAX_PAGE_PX), "height": min(size["height"], MAX_PAGE_PX)}
        params = {
            "format": "png",
            "optimizeForSpeed": True,
            "captureBeyondViewport": True,
            "clip": {**clip, "scale": 1},
        }
        return base64.b64decode(cdp.send("Page.captureScreenshot", params)["data"])

    def _reset_page(self) -> None:
        try:
            if self._page is not None:
                self._page.context.close()
            self._new_page()
        except Exception:  # noqa: BLE001 - a browser that cannot open a page is relaunched on the next job
            self.close()

    def close(self) -> None:
        # Best-effort shutdown of a possibly dead (or never started) browser.
        if self._browser is not None:
            with contextlib.suppress(Exception):
                self._browser.close()
        if self._playwright is not None:
            with contextlib.suppress(Exception):
                self._playwright.stop()
        self._playwright = self._browser = self._page = self._cdp = None


def crop_to_content(image: Image.Image) -> Image.Image:
    """Crop to the non-white pixels plus a margin; an all-white page is left for the blank check."""
    rgb = image_ops.flatten_on_white(image)
    bbox = ImageChops.difference(rgb, Image.new("RGB", rgb.size, (255, 255, 255))).getbbox()
    if bbox is None:
        return rgb
    left, top, right, bottom = bbox
    m = CROP_MARGIN_PX
    return rgb.crop((max(left - m, 0), max(top - m, 0), min(right + m, rgb.width), min(bottom + m, rgb.height)))
