"""Matplotlib backend: run untrusted plotting code in a sandboxed child forked from a warm worker.

Why fork per job: the worker imports matplotlib and draws one warm-up chart once (fonts, caches, text layout
primed), so ``fork`` hands every job a pristine, already-warm interpreter for ~4 ms instead of the ~0.4 s a fresh
Python costs (the paper's reward code starts one per chart). Isolation comes for free: the child's rcParams,
globals and leaked figures die with it, so no job can change the next one's image, and the worker itself never
runs untrusted code. The child closes every inherited descriptor except its result pipe and read-only regular files
(so it cannot talk to the pool, or to the worker's Playwright driver) before ``sandbox.apply_sandbox`` confines it.
The read-only files are the warm font cache: matplotlib's FT2Font objects stream glyphs lazily from their open
font files, and closing those let a later ``open`` in the child reuse the descriptor number, so glyphs were read
from the wrong file (~2 in 300 synthesized charts failed with FT_Load_Glyph "invalid stream operation").

What is saved: the figure the code saved last (its ``savefig`` calls are captured, not written to their paths,
so ``plt.close()`` right after ``savefig`` still works), else the current figure, like the ``savefig`` the paper
appends. ``plt.show()`` does nothing. Figures larger than twice ``max_side`` px are drawn at a lower DPI (the
same picture, fewer pixels) because the judge sees at most ``max_side`` px anyway.

The child sends raw RGBA with its size; the worker checks the size against the byte count and does the PNG
encoding, so nothing the untrusted child writes is ever parsed by more than a length check and a JSON header.
"""

from __future__ import annotations

import builtins
import ctypes
import fcntl
import json
import math
import os
import select
import shutil
import signal
import stat
import struct
import tempfile
import time
import traceback

from src.render import image as image_ops
from src.render.job import ERROR_KINDS, RenderJob, RenderResult
from src.render.sandbox import apply_sandbox, default_read_paths

MAX_RENDER_SIDE = 4096  # px; figures larger than min(this, 2 * max_side) are drawn at a lower DPI
MIN_DPI = 20
_MAGIC = b"VERM"
_HEADER_MAX = 1 << 16
_PR_SET_PDEATHSIG = 1


def import_matplotlib() -> None:
    """Import and warm matplotlib with the Agg backend; call once in the worker before any fork."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    # One realistic chart primes the font cache, text layout, mathtext and tick machinery for every child.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(6, 3))
    xs = np.arange(5)
    ax1.bar(xs, [3, 5, 2, 6, 4], color="tab:blue", label="2023")
    ax1.plot(xs, [2, 4, 3, 5, 6], "o--", color="tab:orange", label="2024")
    ax1.set_title("Revenue by quarter ($\\times 10^3$)")
    ax1.set_xlabel("Quarter")
    ax1.legend(loc="upper left")
    ax1.grid(True, alpha=0.3)
    ax2.pie([30, 45, 25], labels=["A", "B", "C"], autopct="%1.1f%%")
    ax2.annotate("peak", xy=(0, 0))
    fig.tight_layout()
    fig.canvas.draw()
    plt.close("all")


class ChartSandbox:
    """Runs chart jobs in forked, sandboxed children; one per worker process."""

    def __init__(self, timeout_s: float, memory_mb: int, scratch_root: str | None = None) -> None:
        import_matplotlib()
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.scratch_root = scratch_root or tempfile.gettempdir()
        self.read_paths = default_read_paths()
        self.max_bytes = MAX_RENDER_SIDE * MAX_RENDER_SIDE * 4 + _HEADER_MAX + 8

    def render(self, job: RenderJob, code: str) -> RenderResult:
        start = time.perf_counter()
        scratch = tempfile.mkdtemp(prefix="verm-job-", dir=self.scratch_root)
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
            if pid == 0:  # child: never returns
                try:
                    os.close(read_fd)
                    _child_main(job, code, write_fd, scratch, self)
                finally:
                    os._exit(70)
            os.close(write_fd)
            payload, status, timed_out = self._collect(pid, read_fd, start + self.timeout_s)
        finally:
            os.close(read_fd)
            shutil.rmtree(scratch, ignore_errors=True)
        return self._verdict(job, payload, status, timed_out, time.perf_counter() - start)

    def _collect(self, pid: int, read_fd: int, deadline: float) -> tuple[bytes, int | None, bool]:
        """Read the child's result until EOF and reap it, killing it at the deadline or on oversized output."""
        chunks: list[bytes] = []
        size = 0
        timed_out = False
        pidfd = os.pidfd_open(pid)
        try:
            while True:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    timed_out = True
                    break
                ready, _, _ = select.select([read_fd], [], [], remaining)
                if not ready:
                    continue
                chunk = os.read(read_fd, 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > self.max_bytes:
                    break
            if not timed_out:
                remaining = max(deadline - time.perf_counter(), 0.05)
                ready, _, _ = select.select([pidfd], [], [], remaining)
                timed_out = not ready
            if timed_out or size > self.max_bytes:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(pidfd)
        return b"".join(chunks), status, timed_out

    def _verdict(
        self, job: RenderJob, payload: bytes, status: int | None, timed_out: bool, seconds: float
    ) -> RenderResult:
        if timed_out:
            return RenderResult.failure("timeout", f"wall-clock limit of {self.timeout_s:g} s reached", seconds)
        header, pixels = _parse_payload(payload)
        if header is None:
            return RenderResult.failure(*_death_cause(status, self.timeout_s), seconds=seconds)
        if header.get("status") != "ok":
            kind = header.get("kind")
            kind = kind if kind in ERROR_KINDS else "runtime"
            return RenderResult.failure(kind, str(header.get("message", ""))[:2000], seconds)
        try:
            image = image_ops.from_rgba(pixels, int(header["width"]), int(header["height"]))
            png = image_ops.finalize(image, job.max_side)
        except image_ops.BlankImage as exc:
            return RenderResult.failure("blank", str(exc), seconds)
        except (KeyError, TypeError, ValueError) as exc:
            return RenderResult.failure("crashed", f"malformed result from the chart process: {exc}", seconds)
        return RenderResult(ok=True, png=png, seconds=seconds)


def _parse_payload(payload: bytes) -> tuple[dict | None, bytes]:
    if len(payload) < 8 or payload[:4] != _MAGIC:
        return None, b""
    (length,) = struct.unpack("<I", payload[4:8])
    if length > _HEADER_MAX or len(payload) < 8 + length:
        return None, b""
    try:
        header = json.loads(payload[8 : 8 + length])
    except ValueError:
        return None, b""
    return (header if isinstance(header, dict) else None), payload[8 + length :]


def _death_cause(status: int | None, timeout_s: float) -> tuple[str, str]:
    if status is None:
        return "crashed", "the chart process vanished"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            # SIGKILL we did not send comes from RLIMIT_CPU's hard limit (or the OOM killer).
            return "timeout", f"CPU limit of {math.ceil(timeout_s)} s reached ({signal.Signals(sig).name})"
        if sig == signal.SIGSYS:
            return "forbidden", "a system call refused by the sandbox killed the process"
        return "crashed", f"the chart process died of {signal.Signals(sig).name}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return "crashed", f"the chart process exited with code {code} without producing an image"


def _send(write_fd: int, header: dict, pixels: bytes | memoryview = b"") -> None:
    head = json.dumps(header).encode()[: _HEADER_MAX - 1024]
    data = memoryview(_MAGIC + struct.pack("<I", len(head)) + head)
    for part in (data, memoryview(pixels).cast("B")):
        while len(part):
            written = os.write(write_fd, part)
            part = part[written:]


def _close_inherited_descriptors(keep: int) -> None:
    """Close pipes, sockets and writable files inherited from the worker; keep ``keep`` and read-only files."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd == keep:
            continue
        try:
            mode = os.fstat(fd).st_mode
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:  # the listing's own directory descriptor, already closed
            continue
        if stat.S_ISREG(mode) and flags & os.O_ACCMODE == os.O_RDONLY:
            continue
        os.close(fd)


def _child_main(job: RenderJob, code: str, write_fd: int, scratch: str, sandbox: ChartSandbox) -> None:
    """Confine this process, run the code, send back the pixels. Runs only in the forked child."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # never outlive the worker
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    _close_inherited_descriptors(keep=write_fd)
    os.chdir(scratch)
    for var in ("HOME", "TMPDIR", "MPLCONFIGDIR"):
        os.environ[var] = scratch
    tempfile.tempdir = scratch

    try:
        compiled = compile(code, "<chart>", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
        _send(write_fd, {"status": "error", "kind": "syntax", "message": _syntax_message(exc)})
        return

    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    snapshots: list[tuple[int, int, bytes]] = []

    def captured_savefig(fig: Figure, *args: object, **kwargs: object) -> None:
        snapshots[:] = [_draw(fig, job.dpi, job.max_side)]

    # Deliberately swapped for a capture with a looser signature: user code may pass any savefig arguments.
    Figure.savefig = captured_savefig  # type: ignore[method-assign,assignment]
    plt.show = lambda *args, **kwargs: None

    apply_sandbox(scratch, memory_mb=sandbox.memory_mb, cpu_s=max(1, math.ceil(sandbox.timeout_s)),
                  read_paths=sandbox.read_paths)  # fmt: skip
    try:
        exec(compiled, {"__name__": "__main__", "__builtins__": builtins})
        if not snapshots:
            if not plt.get_fignums():
                _send(write_fd, {"status": "error", "kind": "blank", "message": "the code made no figure"})
                return
            snapshots.append(_draw(plt.gcf(), job.dpi, job.max_side))
    except BaseException as exc:  # noqa: BLE001 - every failure of untrusted code becomes a verdict
        kind, message = _classify_exception(exc)
        _send(write_fd, {"status": "error", "kind": kind, "message": message})
        return
    width, height, pixels = snapshots[-1]
    _send(write_fd, {"status": "ok", "width": width, "height": height}, pixels)


def _draw(fig: object, dpi: int, max_side: int) -> tuple[int, int, bytes]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    width_in, height_in = fig.get_size_inches()  # type: ignore[attr-defined]
    render_side = min(MAX_RENDER_SIDE, 2 * max_side)  # twice the output keeps downscaling sharp
    if max(width_in, height_in, 1e-3) * dpi > render_side:
        dpi = render_side / max(width_in, height_in)
        if dpi < MIN_DPI:  # below this FreeType cannot size text: the figure is absurd, not just large
            raise ValueError(f"the figure is {width_in:g}x{height_in:g} inches, too large to render")
    fig.set_dpi(dpi)  # type: ignore[attr-defined]
    canvas = FigureCanvasAgg(fig)  # type: ignore[arg-type]
    canvas.draw()
    buffer = canvas.buffer_rgba()
    height, width = buffer.shape[:2]
    return width, height, bytes(buffer)


def _syntax_message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


def _caused_by_refusal(exc: BaseException) -> bool:
    """A PermissionError anywhere in the chain (urllib wraps the sandbox's EPERM in ``URLError.reason``)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        err = todo.pop()
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, PermissionError):
            return True
        todo += [err.__cause__, err.__context__, getattr(err, "reason", None)]
    return False


def _classify_exception(exc: BaseException) -> tuple[str, str]:
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == "<chart>":
            where = f" (line {frame.lineno})"
            break
    message = f"{type(exc).__name__}: {exc}{where}"[:2000]
    if isinstance(exc, MemoryError):
        return "memory", message
    if _caused_by_refusal(exc):
        return "forbidden", message
    if isinstance(exc, SystemExit):
        return "runtime", f"the code called sys.exit({exc.code!r}){where}"
    if isinstance(exc, SyntaxError):  # exec() of a string, or a module the code imports
        return "syntax", _syntax_message(exc)
    return "runtime", message
