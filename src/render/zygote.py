"""A clean template process that forks one sandboxed child per chart or SVG job, and the worker's side of it.

Why a template: a child forked from the worker itself inherited the worker's heap, and with it earlier jobs' data
(measured: walking stack frames returned the previous job's PNG, and ``/proc/self/mem`` held an SVG source from
three jobs before; a rollout could copy a sibling's image, and its reward). The worker therefore forks this
template right after warming matplotlib and cairosvg and before it receives any job; the template never receives
one either. On request it forks a child and passes the child's pipes to the worker over a UNIX socket
(``SCM_RIGHTS``); the worker writes the job straight into the child. So every child starts from the warm state
and holds exactly one job: its own.

A root pool's template enters an empty network namespace once, and its children stay in it instead of each making
and tearing down their own (see ``sandbox``).

Two templates per worker, one for SVG forked before matplotlib is imported (a lighter process forks and exits
faster) and one for charts forked after matplotlib is warm.

Why prefork: the child sets up its whole sandbox (namespaces, scratch tmpfs, Landlock, uid, seccomp; ~2-3 ms)
before it reads its job, so the worker asks for the next child as soon as it takes one; fork and sandbox set-up
then overlap with the previous job's PNG encoding instead of adding to each job's latency.

Deaths: the template reaps its children and reports each exit status (the worker needs it: SIGXCPU is a timeout,
SIGSYS a refused syscall); the worker kills a child through a pidfd the template passed along, so a recycled pid
is never signalled, and it does so in a ``finally`` after every job, whatever the child wrote: a child that
forges its result frame (a non-finite size, a 30,000-deep header) must not make the worker skip the kill and leave
it sleeping with its memory. Everything a child writes is untrusted: a frame that is not exactly what ``_send``
writes is a ``forbidden`` verdict, never an exception. The template dies with the worker (``PR_SET_PDEATHSIG``) and
a child with the template; the child cannot clear that signal (seccomp refuses ``PR_SET_PDEATHSIG``), so a job
that tried to outlive its worker dies with it all the same. The template is a subreaper (anything orphaned below
it is its own to reap), and when the worker closes its socket it kills and reaps every child before it exits. The
worker's health check after each job counts the template's live children against the ones it knows of.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import select
import shutil
import signal
import socket
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from src.render import image as image_ops
from src.render.chart import classify_chart_exception, draw_chart, import_matplotlib
from src.render.chart_trace import draw_traced_chart
from src.render.job import ERROR_KINDS, JobFailure, RenderJob, RenderResult
from src.render.sandbox import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_PDEATHSIG,
    _libc,
    apply_sandbox,
    close_inherited_descriptors,
    default_read_paths,
    enter_network_namespace,
    readable_by_others,
)
from src.render.sandbox import warm as warm_sandbox
from src.render.svg import WARM_SVG, classify_svg_exception, draw_svg

_MAGIC = b"VERM"
_HEADER_MAX = 1 << 16
_MAX_SIDE = 1 << 15  # no drawing function returns a side this long (charts and SVG are capped far below it)
_REAP_GRACE_S = 5.0  # a SIGKILLed child is reaped within ms; this only bounds a wedged template
_SHUTDOWN_GRACE_S = 1.0  # how long a closing worker lets its template kill and reap its children
# The environment a child sees: nothing of the caller's (API tokens, credentials), only what plotting needs.
_CHILD_ENV = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # fmt: skip
_WARM_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="4" height="4"/></svg>'


class TemplateLost(RuntimeError):
    """The template process died or stopped answering: the worker can no longer run sandboxed jobs."""


@dataclass(frozen=True)
class ChildLimits:
    """What every child gets; pool-wide settings only, never job data."""

    timeout_s: float
    memory_mb: int
    scratch_mb: int
    uid: int | None
    read_paths: tuple[str, ...]
    keep_read_search: bool  # the interpreter is not readable by other users (see ``apply_sandbox``)


@dataclass
class _Child:
    pid: int
    pidfd: int
    job_w: int
    result_r: int
    scratch: str

    def close(self) -> None:
        for fd in (self.pidfd, self.job_w, self.result_r):
            with contextlib.suppress(OSError):  # job_w is -1 once sent
                os.close(fd)
        shutil.rmtree(self.scratch, ignore_errors=True)


class Zygote:
    """Worker-side handle of the template: ask for children, take them, learn how they ended."""

    def __init__(self, limits: ChildLimits, scratch_root: str) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        worker_pid = os.getpid()
        pid = os.fork()
        if pid == 0:  # the template: never returns
            try:
                ours.close()
                _template_main(theirs, limits, scratch_root, worker_pid)
            finally:
                os._exit(0)
        theirs.close()
        self.pid = pid
        self.sock = ours
        self._ready: list[_Child] = []
        self._asked = 0
        self._exits: dict[int, int] = {}
        self._forgotten: set[int] = set()
        self._dying: dict[int, tuple[int, float]] = {}  # pid -> (pidfd, when killed): killed, maybe not yet gone

    def ask(self) -> None:
        """Have the template fork (and sandbox) a child in the background."""
        try:
            self.sock.send(b"S")
        except OSError as exc:
            raise TemplateLost(f"template socket: {exc}") from exc
        self._asked += 1

    def take(self, deadline: float) -> _Child:
        if not self._ready and not self._asked:
            self.ask()
        while not self._ready:
            if not self._pump(deadline):
                raise TemplateLost("the template forked no child in time")
        return self._ready.pop(0)

    def exit_status(self, pid: int, deadline: float) -> int | None:
        while pid not in self._exits:
            if not self._pump(deadline):
                return None
        return self._exits.pop(pid)

    def release(self, child: _Child) -> None:
        """Kill a child the worker is done with (whatever state it is in) and close the worker's end of it."""
        _kill(child)
        self._dying[child.pid] = (child.pidfd, time.perf_counter())
        child.pidfd = -1  # kept open until the child is seen gone (``strays``), so its pid cannot be reused meanwhile
        child.close()

    def strays(self) -> str | None:
        """None, or why the template's children are not the ones this worker knows of.

        Known: the preforked children waiting in ``_ready``, those asked for and not yet announced, and the killed
        ones still tearing down their address space. Any other live child was lost track of, and lives on."""
        now = time.perf_counter()
        for pid, (pidfd, killed_at) in list(self._dying.items()):
            if select.select([pidfd], [], [], 0)[0]:  # readable: the process has exited
                os.close(pidfd)
                del self._dying[pid]
            elif now - killed_at > _REAP_GRACE_S:
                return f"job process {pid} still alive {now - killed_at:.1f} s after SIGKILL"
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return "the template process is gone"
        known = {child.pid for child in self._ready} | set(self._dying)
        unknown = [int(pid) for pid in children if int(pid) not in known and _running(int(pid))]
        if len(unknown) > self._asked:
            return f"the template holds {len(unknown)} live children the worker does not know of: {unknown}"
        return None

    def forget(self, pid: int) -> None:
        """Drop the exit report of a child whose result already said everything."""
        if self._exits.pop(pid, None) is None:
            self._forgotten.add(pid)

    def _pump(self, deadline: float) -> bool:
        """Read one message from the template; False when none came before the deadline."""
        remaining = deadline - time.perf_counter()
        if remaining <= 0 or not select.select([self.sock], [], [], remaining)[0]:
            return False
        try:
            message, fds, _, _ = socket.recv_fds(self.sock, 4096, 3)
        except OSError as exc:
            raise TemplateLost(f"template socket: {exc}") from exc
        if not message:
            raise TemplateLost("the template exited")
        if message[:1] == b"C" and len(fds) == 3:
            (pid,) = struct.unpack("<i", message[1:5])
            self._ready.append(_Child(pid, fds[0], fds[1], fds[2], message[5:].decode()))
            self._asked -= 1
        elif message[:1] == b"X":
            pid, status = struct.unpack("<ii", message[1:9])
            if pid in self._forgotten:
                self._forgotten.discard(pid)
            else:
                self._exits[pid] = status
        return True

    def alive(self) -> bool:
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def close(self) -> None:
        for child in self._ready:
            child.close()
        self._ready.clear()
        for pidfd, _ in self._dying.values():
            os.close(pidfd)
        self._dying.clear()
        self.sock.close()  # the template sees EOF, kills and reaps every child, and exits
        try:
            pidfd = os.pidfd_open(self.pid)
        except ProcessLookupError:
            pidfd = -1
        try:
            if pidfd < 0 or not select.select([pidfd], [], [], _SHUTDOWN_GRACE_S)[0]:
                os.kill(self.pid, signal.SIGKILL)  # wedged: its children still die of their parent-death signal
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        finally:
            if pidfd >= 0:
                os.close(pidfd)


class SandboxedJobs:
    """Runs chart and SVG jobs in sandboxed children of a clean template; one per worker process.

    Args:
        timeout_s: wall-clock limit of one job (and its CPU limit, rounded up).
        memory_mb: address-space cap of one child.
        scratch_root: directory for the per-job scratch dirs (each gets a private tmpfs where the kernel allows).
        uid: unprivileged uid/gid for the children of a root worker; None keeps the worker's.
        scratch_mb: size of a job's scratch tmpfs: all it can write, in total.
    """

    def __init__(
        self, timeout_s: float, memory_mb: int, scratch_root: str | None, uid: int | None, scratch_mb: int = 64
    ) -> None:
        draw_svg(WARM_SVG, 336)  # lazy imports and caches of cairosvg, cssselect2, tinycss2: warm for every child
        hidden = uid is not None and not all(readable_by_others(p) for p in _interpreter_paths())
        self.scratch_root = scratch_root or tempfile.gettempdir()
        read_paths = tuple(default_read_paths(with_matplotlib=False))
        self.limits = ChildLimits(timeout_s, memory_mb, scratch_mb, uid, read_paths, hidden)
        # SVG's template is forked before matplotlib is imported: a child of the lighter process forks and exits
        # faster, and forking is most of an SVG job's own cost.
        self.svg_zygote = Zygote(self.limits, self.scratch_root)
        import_matplotlib()
        chart_limits = dataclasses.replace(self.limits, read_paths=tuple(default_read_paths()))
        self.chart_zygote = Zygote(chart_limits, self.scratch_root)
        self.svg_zygote.ask()
        self.chart_zygote.ask()
        self.report: dict = {}
        warm = self.render(RenderJob("svg", _WARM_SVG), {"domain": "svg", "source": _WARM_SVG, "svg_size": 8})
        if warm.error_kind not in (None, "blank"):
            raise RuntimeError(f"sandboxed warm-up job failed: {warm.error_kind}: {warm.message}")

    def render(self, job: RenderJob, request: dict) -> RenderResult:
        start = time.perf_counter()
        deadline = start + self.limits.timeout_s
        zygote = self.chart_zygote if request.get("domain") == "chart" else self.svg_zygote
        child = zygote.take(deadline)
        try:
            zygote.ask()  # the next job's child forks and sandboxes itself while this one runs
            body = json.dumps(request).encode()
            sent = _write_all(child.job_w, struct.pack("<I", len(body)) + body, deadline)
            os.close(child.job_w)
            child.job_w = -1
            side = max(request.get("svg_size", 0), 4096)
            frame = _collect(child, deadline, side * side * 4 + _HEADER_MAX + 8)
            timed_out = frame.timed_out or not sent
            if frame.complete or frame.malformed:  # the verdict is in: no need to wait for the child's exit report
                zygote.forget(child.pid)
                status = None
            else:
                status = zygote.exit_status(child.pid, time.perf_counter() + _REAP_GRACE_S)
        finally:
            zygote.release(child)  # killed whatever it wrote, and whatever went wrong here
        return self._verdict(job, frame, status, timed_out, time.perf_counter() - start)

    def render_batch(self, jobs: list[RenderJob], requests: list[dict]) -> list[RenderResult]:
        """SVG jobs of one caller, several to a sandboxed child, for one fork and sandbox per batch instead of per job.

        The trade: jobs of a batch share a process, so each can read the others' sources and pictures and write
        frames into the result pipe in their place (forge their results). Batch only jobs that trust each other
        (seed or reference SVGs of one synthesis run), never rollouts that are scored against each other.

        Each job gets its own ``timeout_s`` from the moment the one before it answered. A job that kills or stalls
        its child is retried as the first job of a fresh child, and that try's verdict is its own, so a job's
        verdict never depends on what ran before it (e.g. on CPU time the others used); the jobs after it go to
        that child too.
        """
        results: list[RenderResult | None] = [None] * len(jobs)
        todo = list(range(len(jobs)))
        while todo:
            batch, todo = todo, []
            deadline = time.perf_counter() + self.limits.timeout_s
            child = self.svg_zygote.take(deadline)
            try:
                self.svg_zygote.ask()
                body = json.dumps({"domain": "svg_batch", "items": [requests[i] for i in batch]}).encode()
                sent = _write_all(child.job_w, struct.pack("<I", len(body)) + body, deadline)
                os.close(child.job_w)
                child.job_w = -1
                buffer = bytearray()
                for position, index in enumerate(batch):
                    start = time.perf_counter()
                    side = max(requests[index].get("svg_size", 0), 4096)
                    last = position == len(batch) - 1
                    frame = _collect(child, start + self.limits.timeout_s, side * side * 4 + _HEADER_MAX + 8,
                                     buffer, last)  # fmt: skip
                    if frame.complete or frame.malformed:
                        timed_out, status = False, None
                    else:
                        timed_out = frame.timed_out or not sent
                        status = self.svg_zygote.exit_status(child.pid, time.perf_counter() + _REAP_GRACE_S)
                    verdict = self._verdict(jobs[index], frame, status, timed_out, time.perf_counter() - start)
                    if frame.complete or position == 0:
                        results[index] = verdict
                    else:
                        todo.append(index)  # first in a fresh child: a verdict of its own
                    if not frame.complete:
                        todo += batch[position + 1 :]
                        break
                if frame.complete or frame.malformed:
                    self.svg_zygote.forget(child.pid)
            finally:
                self.svg_zygote.release(child)
        return [r for r in results if r is not None]

    def healthy(self) -> str | None:
        """None, or why this worker can no longer run sandboxed jobs: a template died, or holds a child the worker
        lost track of (a job process that would live on outside any job's time)."""
        if not (self.chart_zygote.alive() and self.svg_zygote.alive()):
            return "a sandbox template process died"
        return self.chart_zygote.strays() or self.svg_zygote.strays()

    def close(self) -> None:
        self.chart_zygote.close()
        self.svg_zygote.close()

    def _verdict(
        self, job: RenderJob, frame: _Frame, status: int | None, timed_out: bool, seconds: float
    ) -> RenderResult:
        if frame.malformed is not None:
            return RenderResult.failure("forbidden", f"the job wrote a malformed result: {frame.malformed}", seconds)
        if timed_out:
            return RenderResult.failure("timeout", f"wall-clock limit of {self.limits.timeout_s:g} s reached", seconds)
        header = frame.header
        if header is None or not frame.complete:
            return RenderResult.failure(*_death_cause(status, self.limits.timeout_s), seconds=seconds)
        if isinstance(header.get("sandbox"), dict) and not self.report:
            self.report = header["sandbox"]
        if header["status"] != "ok":
            return RenderResult.failure(header["kind"], header["message"][:2000], seconds)
        try:
            png = image_ops.finalize_rgba(frame.pixels, header["width"], header["height"], job.max_side)
        except image_ops.BlankImage as exc:
            return RenderResult.failure("blank", str(exc), seconds)
        trace = header.get("trace") if isinstance(header.get("trace"), dict) else None
        return RenderResult(ok=True, png=png, message=str(header.get("note", ""))[:2000], seconds=seconds, trace=trace)


def _interpreter_paths() -> list[str]:
    """Files every child must read after it drops to an unprivileged uid (found without importing them)."""
    import importlib.util

    packages = [importlib.util.find_spec(name) for name in ("matplotlib", "numpy", "cairosvg")]
    return [os.path.dirname(os.__file__)] + [
        os.path.dirname(spec.origin) for spec in packages if spec is not None and spec.origin
    ]


def _write_all(fd: int, data: bytes, deadline: float) -> bool:
    """Write without blocking past the deadline; False if the child stopped reading (dead or stuck)."""
    os.set_blocking(fd, False)
    view = memoryview(data)
    while view:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return False
        if not select.select([], [fd], [], remaining)[1]:
            continue
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue
        except BrokenPipeError:
            return True  # the child is gone; its exit status tells why
    return True


@dataclass
class _Frame:
    """What a child sent: ``complete`` once the whole framed result is in; ``malformed`` says why a frame can never
    be one ``_send`` wrote (the job wrote into the result pipe itself)."""

    header: dict | None = None
    pixels: bytes = b""
    complete: bool = False
    timed_out: bool = False
    malformed: str | None = None


class _MalformedFrame(ValueError):
    pass


def _collect(
    child: _Child, deadline: float, max_bytes: int, buffer: bytearray | None = None, last: bool = True
) -> _Frame:
    """Read one result frame of the child; never raises for anything the child wrote.

    Complete: the whole framed result arrived, so the worker moves on without waiting for the child to tear down
    its address space (several ms for a matplotlib process, more under load); the caller kills it in case it
    lingers. Malformed: stop reading at once. Otherwise read until EOF and wait for the child's exit until the
    deadline. ``buffer`` carries bytes read past this frame to the next call (a batch's frames come back to back);
    with ``last``, bytes past the frame make it malformed.
    """
    buffer = bytearray() if buffer is None else buffer
    frame = _Frame()
    expected: int | None = None
    while True:
        try:
            if expected is None and (head := _read_header(buffer, max_bytes)) is not None:
                frame.header, expected = head
            if expected is not None and last and len(buffer) > expected:
                raise _MalformedFrame(f"{len(buffer) - expected} bytes after the frame")
        except _MalformedFrame as exc:
            frame.malformed = str(exc)
            return frame
        if expected is not None and len(buffer) >= expected:
            frame.complete = True
            frame.pixels = bytes(buffer[expected - _pixel_bytes(frame.header) : expected])
            del buffer[:expected]
            return frame
        if len(buffer) > max_bytes:  # unreachable for a well-formed frame (its length is checked against this)
            frame.malformed = f"more than {max_bytes} bytes"
            return frame
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            frame.timed_out = True
            break
        if not select.select([child.result_r], [], [], remaining)[0]:
            continue
        chunk = os.read(child.result_r, 1 << 20)
        if not chunk:
            break
        buffer += chunk
    if not frame.timed_out:
        remaining = max(deadline - time.perf_counter(), 0.05)
        frame.timed_out = not select.select([child.pidfd], [], [], remaining)[0]
    if frame.timed_out:
        _kill(child)  # now, so that its exit report (which the caller waits for) comes at once
    return frame


def _kill(child: _Child) -> None:
    with contextlib.suppress(ProcessLookupError, OSError):  # it exited and was reaped; or its pidfd is closed
        signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)


def _running(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie waiting to be reaped has)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rindex(b")") + 2 : stat.rindex(b")") + 3] not in (b"Z", b"X")


def _pixel_bytes(header: dict | None) -> int:
    return header["width"] * header["height"] * 4 if header is not None and header["status"] == "ok" else 0


def _read_header(data: bytes | bytearray, max_bytes: int) -> tuple[dict, int] | None:
    """(header, length of the whole frame) once the header is in; None while it is not; ``_MalformedFrame`` when the
    bytes cannot be the start of a frame ``_send`` wrote."""
    if data[:4] != _MAGIC[: len(data[:4])]:
        raise _MalformedFrame("no frame marker")
    if len(data) < 8:
        return None
    (length,) = struct.unpack("<I", data[4:8])
    if length > _HEADER_MAX:
        raise _MalformedFrame(f"a header of {length} bytes")
    if len(data) < 8 + length:
        return None
    header = _checked_header(bytes(data[8 : 8 + length]))
    total = 8 + length + _pixel_bytes(header)
    if total > max_bytes:
        raise _MalformedFrame(f"a {header['width']}x{header['height']} picture")
    return header, total


def _no_constant(name: str) -> None:
    raise _MalformedFrame(f"{name} in the header")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _MalformedFrame(f"{text} in the header")
    return value


def _checked_header(raw: bytes) -> dict:
    """The header as ``_send`` writes it, or ``_MalformedFrame``: JSON without NaN/Infinity or numbers that overflow,
    no nesting deeper than the decoder's recursion limit, a known status, and for ``ok`` integer sides in range."""
    try:
        header = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # _MalformedFrame is a ValueError too
        raise _MalformedFrame(str(exc)[:200]) from None
    if not isinstance(header, dict):
        raise _MalformedFrame("a header that is not an object")
    if header.get("status") == "ok":
        for side in ("width", "height"):
            value = header.get(side)
            if type(value) is not int or not 1 <= value <= _MAX_SIDE:
                raise _MalformedFrame(f"{side} {str(value)[:40]}")
        if not isinstance(header.get("note", ""), str):
            raise _MalformedFrame("a note that is not text")
    elif header.get("status") == "error":
        if header.get("kind") not in ERROR_KINDS or not isinstance(header.get("message", ""), str):
            raise _MalformedFrame("an error of unknown kind")
        header.setdefault("message", "")
    else:
        raise _MalformedFrame("no status")
    return header


def _death_cause(status: int | None, timeout_s: float) -> tuple[str, str]:
    if status is None:
        return "crashed", "the job process vanished"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            # SIGKILL we did not send comes from RLIMIT_CPU's hard limit (or the OOM killer).
            return "timeout", f"CPU limit of {math.ceil(timeout_s)} s reached ({signal.Signals(sig).name})"
        if sig == signal.SIGSYS:
            return "forbidden", "a system call refused by the sandbox killed the process"
        return "crashed", f"the job process died of {signal.Signals(sig).name}"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return "crashed", f"the job process exited with code {code} without producing an image"


# --- the template process -------------------------------------------------------------------------------------


def _template_main(sock: socket.socket, limits: ChildLimits, scratch_root: str, worker_pid: int) -> None:
    """Fork a child per request, pass its pipes to the worker, report its exit. Touches no job data.

    On the way out (the worker closed the socket, or anything failed here) every child is killed and reaped."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != worker_pid:
        return
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # whatever is orphaned below us is ours to kill and reap
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    close_inherited_descriptors(keep={sock.fileno()})  # the pool's pipes; the warm font files stay
    warm_sandbox()
    network_private = enter_network_namespace()  # once, for every child (see ``sandbox``)
    live: dict[int, int] = {}  # pidfd -> pid
    try:
        while True:
            ready = select.select([sock.fileno(), *live], [], [])[0]
            for fd in ready:
                if fd in live:
                    pid = live.pop(fd)
                    _, status = os.waitpid(pid, 0)
                    os.close(fd)
                    sock.send(b"X" + struct.pack("<ii", pid, status))
            if sock.fileno() in ready:
                if not sock.recv(16):
                    return  # the worker closed the socket: shut down
                pid, pidfd, job_w, result_r, scratch = _spawn(limits, scratch_root, network_private)
                live[pidfd] = pid
                socket.send_fds(sock, [b"C" + struct.pack("<i", pid) + scratch.encode()], [pidfd, job_w, result_r])
                os.close(job_w)
                os.close(result_r)
    finally:
        _kill_children()


def _kill_children() -> None:
    """SIGKILL and reap every child of this process, adopted orphans included, until none is left."""
    me = os.getpid()
    while True:
        try:
            children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
        except OSError:
            children = []
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _spawn(limits: ChildLimits, scratch_root: str, network_private: bool) -> tuple[int, int, int, int, str]:
    scratch = tempfile.mkdtemp(prefix="verm-job-", dir=scratch_root)
    if limits.uid is not None:
        os.chown(scratch, limits.uid, limits.uid)  # where no tmpfs can be mounted over it, the child writes here
    job_r, job_w = os.pipe()
    result_r, result_w = os.pipe()
    with contextlib.suppress(OSError):  # a whole SVG's pixels in one write: fewer wake-ups of a busy worker
        fcntl.fcntl(result_w, fcntl.F_SETPIPE_SZ, 1 << 20)
    template_pid = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            _child_main(job_r, result_w, scratch, limits, template_pid, network_private)
        finally:
            os._exit(70)
    os.close(job_r)
    os.close(result_w)
    return pid, os.pidfd_open(pid), job_w, result_r, scratch


def _child_main(
    job_r: int, result_w: int, scratch: str, limits: ChildLimits, template_pid: int, network_private: bool
) -> None:
    """Confine this process, then wait for the one job it will ever see, run it and send back the pixels."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != template_pid:
        return
    close_inherited_descriptors(keep={job_r, result_w})  # the template's socket and other children's pidfds
    os.environ.clear()  # unsetenv: the C environment too (``/proc/self/environ`` is the worker's allow-listed one)
    os.environ.update({**_CHILD_ENV, "HOME": scratch, "TMPDIR": scratch, "MPLCONFIGDIR": scratch})
    tempfile.tempdir = scratch
    try:
        report = apply_sandbox(scratch, memory_mb=limits.memory_mb, cpu_s=max(1, math.ceil(limits.timeout_s)),
                               read_paths=list(limits.read_paths), uid=limits.uid, scratch_mb=limits.scratch_mb,
                               keep_read_search=limits.keep_read_search, network_private=network_private)  # fmt: skip
    except BaseException as exc:  # noqa: BLE001 - the worker must hear why instead of seeing a silent exit
        _send(result_w, {"status": "error", "kind": "crashed", "message": f"sandbox set-up failed: {exc}"})
        return
    request = _read_request(job_r)
    if request is None:
        return  # the worker is shutting down
    items = request.get("items") if request.get("domain") == "svg_batch" else [request]
    for index, item in enumerate(items if isinstance(items, list) else []):
        header, pixels = _run(item if isinstance(item, dict) else {})
        if index == 0:
            header["sandbox"] = report.as_dict()
        _send(result_w, header, pixels)
        del header, pixels  # the next item's memory, not this one's, counts against RLIMIT_AS


def _read_request(fd: int) -> dict | None:
    data = b""
    need = 4
    while len(data) < need:
        chunk = os.read(fd, need - len(data))
        if not chunk:
            return None
        data += chunk
        if need == 4 and len(data) == 4:
            need += struct.unpack("<I", data)[0]
    request = json.loads(data[4:])
    return request if isinstance(request, dict) else None


def _run(request: dict) -> tuple[dict, bytes | memoryview]:
    """Dispatch to the domain's drawing function; every outcome becomes a header (and pixels)."""
    domain = request.get("domain")
    pixels: bytes | memoryview
    try:
        trace = None
        if domain == "chart" and request.get("trace"):
            width, height, pixels, trace = draw_traced_chart(request["source"], request["dpi"], request["max_side"])
            note = ""
        elif domain == "chart":
            width, height, pixels = draw_chart(request["source"], request["dpi"], request["max_side"])
            note = ""
        else:
            width, height, pixels, note = draw_svg(request["source"], request["svg_size"])
    except JobFailure as failure:
        return {"status": "error", "kind": failure.kind, "message": failure.message[:2000]}, b""
    except BaseException as exc:  # noqa: BLE001 - every failure of untrusted input becomes a verdict
        classify = classify_chart_exception if domain == "chart" else classify_svg_exception
        kind, message = classify(exc)
        return {"status": "error", "kind": kind, "message": message}, b""
    header = {"status": "ok", "width": width, "height": height, "note": note}
    if trace is not None:
        header["trace"] = trace
    return header, pixels


def _send(write_fd: int, header: dict, pixels: bytes | memoryview = b"") -> None:
    """Frame the result the way ``_checked_header`` accepts it: strict JSON, under ``_HEADER_MAX``."""
    head = _header_bytes(header)
    if head is None and "trace" in header:  # the picture still counts without its trace
        header = {k: v for k, v in header.items() if k != "trace"}
        header["note"] = (header.get("note") or "") + " (trace dropped: too large)"
        head = _header_bytes(header)
    if head is None:
        head = _header_bytes({"status": "error", "kind": "runtime", "message": "the result header is too large"})
        pixels = b""
    assert head is not None
    data = memoryview(_MAGIC + struct.pack("<I", len(head)) + head)
    for part in (data, memoryview(pixels).cast("B")):
        while len(part):
            written = os.write(write_fd, part)
            part = part[written:]


def _header_bytes(header: dict) -> bytes | None:
    try:
        head = json.dumps(header, allow_nan=False).encode()
    except ValueError:
        return None
    return head if len(head) <= _HEADER_MAX - 1024 else None
