"""Table backend: HTML or Markdown in a CSS template, screenshotted by headless Chromium through Playwright.

One browser per worker, launched on the first table job (a worker that only renders charts never pays for it), one
context and one page reused across jobs, driven straight through CDP. Safety without JavaScript: the context has
JavaScript off (unless the pool asks for it), every request is routed to ``abort`` (``<img src=http://...>``,
iframes, fonts, CSS imports never load), and the page carries a ``default-src 'none'`` Content-Security-Policy as a
second wall. ``file://`` subresources are refused by Chromium itself for a page without a file origin.

What one job cannot leave to the next, and why each holds:
- **No state from an earlier job.** ``Page.setDocumentContent`` rewrites the *same* document (``document.open``),
  which keeps what a document's pragmas set: a job's ``<meta http-equiv="Content-Security-Policy" content="style-src
  'none'">`` stayed in force and stripped the CSS of every later table, and a ``<meta http-equiv="refresh">`` timer
  fired in a later job. With JavaScript off, an ``http-equiv`` pragma is the one thing in static markup that sets
  state outliving ``document.open`` (the policy is additive, the refresh timer belongs to the frame); everything else
  a page declares lives in its DOM and goes with it, and a subframe's pragmas die with the subframe. So a job whose
  source contains ``http-equiv`` anywhere (ASCII case-insensitive, as the HTML tokenizer matches attribute names; no
  markup can spell an attribute name any other way) marks the page dirty, and the next job starts with a
  browser-initiated navigation to ``about:blank``: a new document with an empty policy container, no timers and an
  opaque origin. A job that fails in any way closes its context. Always navigating cost twice the CPU of a reused
  document (measured in ``TableBrowser.render``), so only a dirty page pays for it. With JavaScript on, a script can
  leave state on the browsing context itself (``window.name`` survives even that navigation), so that mode gets a
  fresh context per job instead.
- **The template comes first, always.** Model output is appended after a fixed ``<!DOCTYPE html><html><head>``
  carrying the policy and the CSS, so nothing in the source (a leading ``<!-- <head> -->``, a doctype, its own
  ``<head>``) can move the template: the parser has read it before the first byte of the source. A document's own
  ``<style>`` still comes later and wins, its ``<head>``/``<body>`` tags merge into ours, and every page renders in
  standards mode (a fragment and the same table in a document look the same).
- **Time.** Each job has ``timeout_s`` from the moment a page is ready (launching Chromium or opening a context is
  start-up, bounded by ``LAUNCH_TIMEOUT_S``): every CDP call of the job runs under that one deadline. Past it, or
  when the renderer dies, the job's context is closed (which kills its renderer even mid-layout), bounded by
  ``CLOSE_TIMEOUT_S``; past that, Chromium's process group is killed and relaunched on the next job. So a job ends
  within ``timeout_s + JOB_SLACK_S``, even a table Chromium needs tens of seconds to lay out, and the next job renders
  on a new context.
- **Pixels.** A page is laid out, measured, and refused as ``invalid_input`` when either side exceeds
  ``MAX_PAGE_PX`` or its area exceeds ``PAGE_PIXEL_BUDGET``: a 120-byte ``<div style="width:16000px;height:
  16000px">`` would otherwise cost seconds and gigabytes to capture. Pages within the budget are captured at a scale
  that keeps the bitmap under ``CAPTURE_PIXELS``: the judge sees at most 1024 px anyway, and decoding and cropping a
  capture of tens of megapixels in this process would run seconds past the deadline. Ordinary tables (to ~1024 x 4096) keep scale 1.
- **Privileges.** Given a ``uid`` (a root pool gives each slot one no job shares), Chromium runs as that uid with no
  groups and no capabilities (a ``setpriv`` launcher) and at most ``CHROMIUM_MAX_TASKS`` threads and processes for
  that uid (``prlimit``), and, where the machine lets an unprivileged process make a user
  namespace, with its own sandbox on: renderers in a user namespace under Chromium's seccomp-bpf filter. A page that
  broke the renderer (with JavaScript on, the case that matters) is then neither root nor free to make system calls.
  Without a uid a root process's Chromium stays root with ``--no-sandbox``; the pool logs what it could not get.
- **Memory.** Chromium runs under ``RLIMIT_DATA = memory_mb`` per process (a ``ulimit -d`` launcher): the private
  writable memory a page's DOM and layout grow in. A renderer that reaches it dies, and the job ends as
  ``memory``; the browser itself is untouched. Shared-memory bitmaps are not counted by that limit; the pixel budget
  bounds them.

The screenshot is the full page, cropped to the bounding box of non-white pixels plus a margin: that works with
JavaScript off and for fragments, full documents and Markdown alike.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import re
import shlex
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from src.render import image as image_ops
from src.render.extract import looks_like_markdown_table
from src.render.job import RenderJob, RenderResult
from src.render.markdown_table import markdown_to_html
from src.render.sandbox import CLONE_NEWUSER, _drop_identity, _libc, readable_by_others

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, CDPSession, Page, Playwright, Route

CHROMIUM_ARGS = [  # the baseline; ``TableBrowser`` drops ``--no-sandbox`` where Chromium's own sandbox works
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    # Measured: an <iframe src=http://127.0.0.1:...> made Chromium preconnect (a TCP connection, no request) before
    # routing could abort the navigation. A dead proxy for every host, loopback included, stops that too; its
    # address is a port this process holds bound and never listens on (``TableBrowser.proxy_address``), so no other
    # program can take it and connections to it are refused at once.
    "--proxy-bypass-list=<-loopback>",
    # WebRTC sends UDP (STUN, TURN) to any host a script names; routing, the CSP and the proxy see only HTTP and TCP.
    # This policy leaves WebRTC proxied TCP only, and the proxy is dead. Chromium 156 honours this spelling of the
    # switch and ignores ``--force-webrtc-ip-handling-policy`` (the test listens for the datagrams).
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    # Without it, while browsers share the cores, a capture now and then waits about a second for a frame.
    "--run-all-compositor-stages-before-draw",
]
CROP_MARGIN_PX = 8
VIEWPORT_HEIGHT = 64  # a page is measured in a short viewport (its own height shows), then captured in a tall one
MAX_PAGE_PX = 16384  # Chromium's largest texture side; a longer page is refused, not cut
# 2048 x 16384 CSS px. At the judge's <= 1024 px a page past this shows rows under a pixel tall: nothing to judge.
PAGE_PIXEL_BUDGET = 2048 * MAX_PAGE_PX
CAPTURE_PIXELS = 2048 * 2048  # captured bitmap cap: decoding and cropping a capture here grows with its pixels
CHROMIUM_MEMORY_MB = 2048  # default RLIMIT_DATA per Chromium process when the pool does not say
BROWSER_UID_OFFSET = 1_000  # a root pool's Chromium runs as its slot's job uid + this: a uid no job shares
# RLIMIT_NPROC of a Chromium that runs as its own uid (counted per uid): it runs ~115 threads across its processes,
# and a page (with JavaScript on, the case that matters) cannot take the host's PIDs past this.
CHROMIUM_MAX_TASKS = 512
CHROMIUM_MIN_MB = 512  # Chromium does not start with a much smaller data limit; this leaves it room
LAUNCH_TIMEOUT_S = 60.0  # launching Chromium or opening a context: start-up, not the job's time
CLOSE_TIMEOUT_S = 1.0  # closing a timed-out job's context takes a fraction of this; past it Chromium is killed
# How far past timeout_s a table job may end: closing its context, then decoding and cropping a capture (bounded
# by CAPTURE_PIXELS). Measured under load on 2 cores: under 1 s.
JOB_SLACK_S = CLOSE_TIMEOUT_S + 1.0

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
# The public Visual-ERM table reward's page (white body with a 20 px margin; collapsed table in 14 px Arial; cells
# with a 1 px #333 border and 6/10 px padding), its window and its crop margin: ``RenderJob(mode="released")``.
RELEASED_TABLE_CSS = """
body { background: white; margin: 20px; }
table { border-collapse: collapse; font-family: Arial, sans-serif; font-size: 14px; }
td { border: 1px solid #333; padding: 6px 10px; }
"""
RELEASED_TABLE_VIEWPORT = (3600, 2400)  # CSS px at scale 1; the capture is this window, a longer page is cut
RELEASED_CROP_MARGIN_PX = 12
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
CSP_WITH_SCRIPTS = CSP + "; script-src 'unsafe-inline'"  # only when the pool asks for JavaScript
# A pragma may set state that outlives the document's content (see the module docstring): the next job navigates.
_PRAGMA = re.compile(r"http-equiv", re.IGNORECASE | re.ASCII)

_T = TypeVar("_T")


def to_page(markup: str, javascript: bool = False) -> str:
    """The template, then the source: nothing in the source can come before (or displace) the policy and CSS.

    Markdown is converted to HTML first. A full document's own ``<head>`` content lands after the template, so its
    CSS wins; its own Content-Security-Policy ``<meta>`` no longer applies (Chromium honours one only inside
    ``<head>``), which only takes away a way for a job to change its own page.
    """
    if not re.search(r"<table\b", markup, re.IGNORECASE) and looks_like_markdown_table(markup):
        markup = markdown_to_html(markup)
    policy = CSP_WITH_SCRIPTS if javascript else CSP
    policy_meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    head = f'<meta charset="utf-8">{policy_meta}<style>{TABLE_CSS}</style>'
    return f"<!DOCTYPE html><html><head>{head}</head><body>{markup}</body></html>"


def released_page(answer: str, javascript: bool = False) -> str:
    """The released reward's page: the policy's answer as it is (prose and fences included) as the body, in quirks
    mode as there (no doctype). Our policy ``<meta>`` still comes first; it changes nothing a static page shows."""
    policy = CSP_WITH_SCRIPTS if javascript else CSP
    policy_meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    head = f'<meta charset="utf-8">{policy_meta}<style>{RELEASED_TABLE_CSS}</style>'
    return f"<html><head>{head}</head><body>\n{answer}\n</body></html>"


def page_size_problem(width: float, height: float) -> str | None:
    """Why a laid-out page is too large to capture (names the budget), or None."""
    if max(width, height) > MAX_PAGE_PX:
        return f"the page lays out at {width:.0f}x{height:.0f} px: a side over {MAX_PAGE_PX} px"
    if width * height > PAGE_PIXEL_BUDGET:
        return f"the page lays out at {width:.0f}x{height:.0f} px: over the {PAGE_PIXEL_BUDGET:,} px budget"
    return None


def capture_scale(width: float, height: float) -> float:
    """1 for ordinary pages; smaller, so the captured bitmap stays under ``CAPTURE_PIXELS``, for large ones."""
    area = max(width * height, 1.0)
    return min(1.0, math.sqrt(CAPTURE_PIXELS / area))


def chromium_sandbox_works(uid: int | None) -> bool:
    """Whether Chromium can use its own sandbox here: it needs a non-root process that may make a user namespace.

    Tried in a forked child that takes ``uid`` (if given) and calls ``unshare(CLONE_NEWUSER)``, as Chromium will.
    """
    if os.geteuid() == 0 and uid is None:
        return False
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            if uid is not None:
                _drop_identity(uid, keep_read_search=False)
            code = 0 if _libc.unshare(CLONE_NEWUSER) == 0 else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


class _JobFailed(Exception):
    """A job ended without a picture; carries the render error kind."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class TableBrowser:
    """One headless Chromium, one context and page reused across jobs (each job on a fresh document).

    Args:
        timeout_s: the job's time from a ready page to its screenshot; every CDP call runs under it.
        chromium_path: the Chromium binary; default: ``chromium`` on PATH.
        javascript: run the page's scripts (off: model output is untrusted). On, each job gets a fresh context.
        memory_mb: ``RLIMIT_DATA`` of every Chromium process, in MiB (at least ``CHROMIUM_MIN_MB``).
        uid: for a root process, the unprivileged uid/gid Chromium runs as (a root pool passes one per slot);
            None leaves a root Chromium as root, without its own sandbox.
    """

    def __init__(
        self,
        timeout_s: float,
        chromium_path: str | None = None,
        javascript: bool = False,
        memory_mb: int = CHROMIUM_MEMORY_MB,
        uid: int | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        dropping = uid is not None and os.geteuid() == 0 and shutil.which("setpriv") and shutil.which("prlimit")
        self.uid = uid if dropping else None
        self.own_sandbox = chromium_sandbox_works(self.uid)
        self._home: str | None = None  # HOME and TMPDIR of a Chromium that runs as ``uid``
        self.chromium_path = chromium_path or shutil.which("chromium") or shutil.which("chromium-browser")
        self.javascript = javascript
        self.memory_mb = max(memory_mb, CHROMIUM_MIN_MB)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._browser_pid: int | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._cdp: CDPSession | None = None
        self._crashed: asyncio.Future[None] | None = None
        self._used = False  # the current context has served a job (JavaScript mode opens a new one per job)
        self._dirty = False  # the last job may have left state on its document: the next one navigates first
        self._frame_id = ""
        self._last_ok: tuple[tuple[str, int, int, str], bytes] | None = None  # (markup, width, max_side, mode), PNG
        self._width = 0
        self._proxy: socket.socket | None = None  # bound, never listening: the dead proxy (see CHROMIUM_ARGS)

    @property
    def proxy_address(self) -> tuple[str, int]:
        """Where Chromium's proxy points: a loopback port held by this process, bound but never listening."""
        if self._proxy is None:
            self._proxy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._proxy.bind(("127.0.0.1", 0))  # no SO_REUSEADDR: nobody else can bind the port while we hold it
        host, port = self._proxy.getsockname()[:2]
        return host, port

    def chromium_args(self) -> list[str]:
        """The command-line switches this browser launches Chromium with."""
        host, port = self.proxy_address
        args = [a for a in CHROMIUM_ARGS if not (self.own_sandbox and a == "--no-sandbox")]
        return [*args, f"--proxy-server={host}:{port}"]

    def render(self, job: RenderJob, markup: str) -> RenderResult:
        """Render one table; every outcome is a ``RenderResult``.

        What a new document costs, measured on this machine (2 cores, idle; 40 seed tables twice; bare CDP shots in
        one process, CPU of the whole Chromium tree included): navigating to ``about:blank`` before every job took 66
        ms and 77 ms of CPU a job, the reused document 36 ms and 31 ms of CPU (``--disable-features=RenderDocument``
        brought the navigation to 62 ms of CPU; a ``data:`` URL navigation took 167 ms; a fresh context per job
        717 ms, a new renderer process each time). Hence a navigation only after a job with a pragma, and a fresh
        context only in JavaScript mode. Starting the next job's navigation right after a capture, to overlap it
        with the crop here, made every capture wait ~1 s in Chromium: not done.

        Drives a private asyncio loop: call it from a thread with no running event loop (the render worker's main
        thread); sync Playwright in the same thread (its loop runs in a greenlet) makes every job fail as crashed.
        """
        from playwright.async_api import Error as PlaywrightError

        start = time.perf_counter()
        released = job.mode == "released"
        width = RELEASED_TABLE_VIEWPORT[0] if released else job.table_width
        key = (markup, width, job.max_side, job.mode)
        if self._last_ok is not None and self._last_ok[0] == key and not self.javascript:
            # The same page as the last job (a group of rollouts often repeats one): the same pixels, since every
            # job starts on a clean document, without a load and capture in Chromium.
            return RenderResult(ok=True, png=self._last_ok[1], seconds=time.perf_counter() - start)
        self._last_ok = None
        try:
            self._run(self._ready(width), LAUNCH_TIMEOUT_S)
        except (PlaywrightError, OSError, TimeoutError, RuntimeError) as exc:
            self.close()  # the next job relaunches
            message = f"Chromium did not start a page: {type(exc).__name__}: {exc}"
            return RenderResult.failure("crashed", message, time.perf_counter() - start)
        try:
            page = released_page(markup, self.javascript) if released else to_page(markup, self.javascript)
            window = RELEASED_TABLE_VIEWPORT if released else None
            shot = self._run(self._job(page, _PRAGMA.search(markup) is not None, window), None)
        except _JobFailed as exc:
            return RenderResult.failure(exc.kind, str(exc), time.perf_counter() - start)
        except PlaywrightError as exc:
            if self._browser is not None and self._browser.is_connected():
                # Chromium is fine but the page went away under a CDP call: a refresh or navigation of its own.
                self._run(self._discard_context(), None)
                message = f"the page changed while it was captured (it navigated itself?): {exc}"
                return RenderResult.failure("invalid_input", message, time.perf_counter() - start)
            self.close()  # the browser is gone; the next job relaunches it
            return RenderResult.failure("crashed", f"Chromium: {exc}", time.perf_counter() - start)
        try:
            if released:  # no blank check there: an empty page goes to the critic like any other
                cropped = image_ops.crop_to_content(image_ops.from_png(shot), RELEASED_CROP_MARGIN_PX, "corner")
                cropped.thumbnail((job.max_side, job.max_side))
                png = image_ops.encode_png(cropped)
            else:
                png = image_ops.finalize(
                    image_ops.crop_to_content(image_ops.from_png(shot), CROP_MARGIN_PX), job.max_side
                )
        except image_ops.BlankImage as exc:
            return RenderResult.failure("blank", f"the page shows nothing: {exc}", time.perf_counter() - start)
        self._last_ok = (key, png)
        return RenderResult(ok=True, png=png, seconds=time.perf_counter() - start)

    def _run(self, step: Awaitable[_T], timeout_s: float | None) -> _T:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(asyncio.wait_for(step, timeout_s))

    async def _ready(self, width: int) -> None:
        """A running browser and a page that no job has used (JavaScript mode) at ``width``: start-up, not job time."""
        if self._browser is None or not self._browser.is_connected():
            await self._shutdown()
            await self._launch()
        if self._page is None or (self.javascript and self._used):
            await self._discard_context()
            await self._new_context()
        page = self._page
        if page is None:
            raise RuntimeError("the browser is running but has no page")
        if width != self._width:
            await self._set_viewport(width, VIEWPORT_HEIGHT)
            self._width = width

    async def _launch(self) -> None:
        if self.chromium_path is None:
            raise FileNotFoundError("no Chromium found: install the `chromium` package or pass chromium_path")
        from playwright.async_api import async_playwright

        home = self._browser_home()
        saved_tmpdir = os.environ.get("TMPDIR")
        if home is not None:  # the driver makes Chromium's user-data dir under TMPDIR: one the browser's uid reaches
            os.environ["TMPDIR"] = home
        try:
            self._playwright = await async_playwright().start()
        finally:
            if home is not None and saved_tmpdir is None:
                del os.environ["TMPDIR"]
            elif home is not None and saved_tmpdir is not None:
                os.environ["TMPDIR"] = saved_tmpdir
        launcher = Path(tempfile.mkdtemp(prefix="verm-chromium-"))
        try:
            script = launcher / "chromium"
            script.write_text(self._launcher_script(home))
            script.chmod(0o700)
            self._browser = await self._playwright.chromium.launch(
                executable_path=str(script), args=self.chromium_args(), chromium_sandbox=self.own_sandbox
            )
        finally:
            shutil.rmtree(launcher, ignore_errors=True)  # Chromium has exec'd; its children fork, never re-run it
        session = await self._browser.new_browser_cdp_session()
        processes = (await session.send("SystemInfo.getProcessInfo"))["processInfo"]
        self._browser_pid = next((p["id"] for p in processes if p["type"] == "browser"), None)
        await session.detach()

    def protection_gaps(self) -> list[str]:
        """What this browser's Chromium cannot get on this machine, as lines for the pool's start-up log."""
        gaps = []
        if os.geteuid() == 0 and self.uid is None:
            gaps.append("tables: Chromium runs as root (no uid given to run it as, or no setpriv)")
        if not self.own_sandbox:
            gaps.append(
                "tables: Chromium runs without its own sandbox (it needs a non-root uid and unprivileged user "
                "namespaces): pages are held by JavaScript being off, request blocking and RLIMIT_DATA only"
            )
        return gaps

    def _browser_home(self) -> str | None:
        """A fresh HOME for a Chromium that runs as ``uid`` (its user-data dir, caches and shared-memory files go there)."""
        if self.uid is None:
            return None
        if self._home is None:
            base = tempfile.gettempdir()
            self._home = tempfile.mkdtemp(
                prefix="verm-chromium-home-", dir=base if readable_by_others(base) else "/tmp"
            )
            os.chown(self._home, self.uid, self.uid)
        return self._home

    def _launcher_script(self, home: str | None) -> str:
        """``sh`` that caps Chromium's data (``RLIMIT_DATA``, not ``RLIMIT_AS``: Chromium reserves tens of GB of address
        space it never touches) and, for a root process with a ``uid``, caps that uid's threads and processes
        (``CHROMIUM_MAX_TASKS``), hands Playwright's user-data dir to it and drops to it with no groups and no
        capabilities before Chromium starts."""
        chromium = shlex.quote(str(self.chromium_path))
        lines = ["#!/bin/sh", f"ulimit -d {self.memory_mb * 1024} || exit 1"]
        if self.uid is None or home is None:
            return "\n".join([*lines, f'exec {chromium} "$@"', ""])
        ids, where = f"{self.uid}:{self.uid}", shlex.quote(home)
        lines += [
            'for arg in "$@"; do case "$arg" in --user-data-dir=*) chown -R '
            + ids
            + ' "${arg#--user-data-dir=}" || exit 1 ;; esac; done',
            f"exec prlimit --nproc={CHROMIUM_MAX_TASKS}:{CHROMIUM_MAX_TASKS} "  # counted per uid: Chromium's alone
            f"setpriv --reuid={self.uid} --regid={self.uid} --clear-groups --inh-caps=-all --bounding-set=-all "
            f'env HOME={where} TMPDIR={where} {chromium} "$@"',
        ]
        return "\n".join([*lines, ""])

    async def _new_context(self) -> None:
        if self._browser is None:
            raise RuntimeError("no browser to open a page in: launch it first")
        context = await self._browser.new_context(
            java_script_enabled=self.javascript,
            viewport={"width": 1024, "height": VIEWPORT_HEIGHT},
            device_scale_factor=1,
        )
        await context.route("**/*", _refuse)
        self._context = context
        self._page = page = await context.new_page()
        self._cdp = await context.new_cdp_session(page)
        self._frame_id = (await self._cdp.send("Page.getFrameTree"))["frameTree"]["frame"]["id"]
        self._crashed = crashed = asyncio.get_running_loop().create_future()

        def renderer_died(_page: Page) -> None:
            if not crashed.done():
                crashed.set_result(None)

        page.on("crash", renderer_died)
        self._used = self._dirty = False
        self._width = 1024

    async def _job(self, page_html: str, leaves_state: bool, window: tuple[int, int] | None = None) -> bytes:
        """The job's own time: load, lay out, measure, capture, all under one ``timeout_s`` deadline.

        ``window``: capture exactly this viewport (width, height) at scale 1 instead of the whole page."""
        crashed = self._crashed
        if crashed is None:
            raise RuntimeError("no page: _ready() first")
        self._used = True
        fresh_document, self._dirty = self._dirty, leaves_state
        capture = asyncio.ensure_future(self._capture(page_html, fresh_document, window))
        waiters: list[asyncio.Future[Any]] = [capture, crashed]
        done, _ = await asyncio.wait(waiters, timeout=self.timeout_s, return_when=asyncio.FIRST_COMPLETED)
        if capture in done:
            return capture.result()
        capture.cancel()
        await asyncio.gather(capture, return_exceptions=True)
        await self._discard_context()  # kills the renderer, busy or dead; the next job opens a new context
        if crashed in done:
            limit = f"{self.memory_mb} MiB of data per Chromium process"
            raise _JobFailed("memory", f"Chromium's renderer died laying out the page (its memory limit is {limit})")
        raise _JobFailed("timeout", f"the page did not load, lay out and capture within {self.timeout_s:g} s")

    async def _capture(self, page_html: str, fresh_document: bool, window: tuple[int, int] | None) -> bytes:
        """Load the page (into a new document when the last job left the old one dirty) and capture all of it.

        Measured on 30 seed tables: 36-42 ms a shot against 65-80 ms for Playwright's ``set_content`` +
        ``screenshot(full_page=True)`` (which waits for load events and resizes the viewport twice), with identical
        pixels. ``optimizeForSpeed`` only lowers the PNG compression level.
        """
        cdp = self._cdp
        if cdp is None:
            raise RuntimeError("no CDP session: the browser is not running")
        frame = self._frame_id
        if fresh_document:  # browser-initiated, so the new document inherits nothing: no policy, timer or origin
            frame = (await cdp.send("Page.navigate", {"url": "about:blank"}))["frameId"]
        await cdp.send("Page.setDocumentContent", {"frameId": frame, "html": page_html})
        if window is not None:  # a fixed window: the capture is bounded whatever the page lays out to
            await self._set_viewport(*window)
            clip: dict[str, float] = {"x": 0, "y": 0, "width": window[0], "height": window[1], "scale": 1}
            shot = await cdp.send("Page.captureScreenshot", {"format": "png", "optimizeForSpeed": True, "clip": clip})
            await self._set_viewport(self._width, VIEWPORT_HEIGHT)
            return base64.b64decode(shot["data"])
        size = (await cdp.send("Page.getLayoutMetrics"))["cssContentSize"]
        width, height = size["width"], size["height"]
        problem = page_size_problem(width, height)
        if problem is not None:
            raise _JobFailed("invalid_input", f"{problem}; refused before capturing")
        # The viewport grows to the whole page for the capture, and back for the next job's measurement.
        # ``captureBeyondViewport`` left 6 of 30 captures of a page identical to the last one waiting ~1 s for a
        # frame; this way 2 of 80 still did, and none of 200 once ``--run-all-compositor-stages-before-draw`` was
        # added (0 of 300 distinct seed tables either way).
        await self._set_viewport(max(self._width, math.ceil(width)), math.ceil(height))
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": capture_scale(width, height)}
        params = {"format": "png", "optimizeForSpeed": True, "clip": clip}
        shot = (await cdp.send("Page.captureScreenshot", params))["data"]
        await self._set_viewport(self._width, VIEWPORT_HEIGHT)
        return base64.b64decode(shot)

    async def _set_viewport(self, width: int, height: int) -> None:
        if self._cdp is None:
            raise RuntimeError("no CDP session: the browser is not running")
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        await self._cdp.send("Emulation.setDeviceMetricsOverride", metrics)

    async def _discard_context(self) -> None:
        context = self._context
        self._context = self._page = self._cdp = self._crashed = None
        if context is None:
            return
        try:
            await asyncio.wait_for(context.close(), CLOSE_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a browser that cannot close a context is killed and relaunched
            self._kill_chromium()

    def _kill_chromium(self) -> None:
        """Chromium runs in its own process group (Playwright starts it detached): end all of it at once."""
        if self._browser_pid is not None:
            with contextlib.suppress(OSError):
                os.killpg(self._browser_pid, signal.SIGKILL)
        self._browser_pid = None

    async def _shutdown(self) -> None:
        browser, playwright = self._browser, self._playwright
        self._browser = self._playwright = None
        self._context = self._page = self._cdp = self._crashed = None
        if browser is not None:
            try:
                await asyncio.wait_for(browser.close(), CLOSE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - best effort on a possibly dead browser
                self._kill_chromium()
        self._browser_pid = None
        if playwright is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(playwright.stop(), CLOSE_TIMEOUT_S)

    def close(self) -> None:
        """Shut the browser down (a possibly dead or never started one); the next job relaunches it."""
        loop, self._loop = self._loop, None
        if loop is None:
            return
        with contextlib.suppress(Exception):
            loop.run_until_complete(self._shutdown())
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()
        self._kill_chromium()
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None
        if self._proxy is not None:  # the relaunch (if any) holds a new port
            self._proxy.close()
            self._proxy = None


async def _refuse(route: Route) -> None:
    # A request may be cancelled (its document replaced) before the abort reaches it.
    with contextlib.suppress(Exception):
        await route.abort()
