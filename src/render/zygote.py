"""A clean template process that forks one sandboxed child per chart or SVG job, the worker's handle on it
(``Zygote``), and the child's side of a job. How the worker runs jobs through it is ``sandboxed_jobs``; the frame a
child sends back is ``result_frame``.

Why a template: a child forked from the worker itself would inherit the worker's heap, and with it earlier jobs'
data (stack frames and ``/proc/self/mem`` still hold earlier jobs' PNGs and SVG sources; a rollout could copy a
sibling's image, and its reward). The worker therefore forks this template right after warming matplotlib and
cairosvg and before it receives any job; the template never receives one either. On request it forks a child and
passes the child's pipes to the worker over a UNIX socket (``SCM_RIGHTS``); the worker writes the job straight into
the child. So every child starts from the warm state and holds exactly one job: its own.

A root pool's template enters an empty network namespace once, and its children stay in it instead of each making
and tearing down their own (see ``sandbox``).

Two templates per worker, one for SVG forked before matplotlib is imported (a lighter process forks and exits
faster) and one for charts forked after matplotlib is warm.

Why prefork: the child sets up its whole sandbox (namespaces, scratch tmpfs, Landlock, uid, seccomp) before it
reads its job, so the worker asks for the next child as soon as it takes one; fork and sandbox set-up then overlap
with the previous job's PNG encoding instead of adding to each job's latency.

Deaths: the template reaps its children and reports each exit status (the worker needs it: SIGXCPU is a timeout,
SIGSYS a refused syscall); the worker kills a child through a pidfd the template passed along, so a recycled pid
is never signalled (see ``sandboxed_jobs`` for when). The template dies with the worker (``PR_SET_PDEATHSIG``) and
a child with the template; the child cannot clear that signal (seccomp refuses ``PR_SET_PDEATHSIG``), so a job
that tried to outlive its worker dies with it all the same. The template is a subreaper (anything orphaned below
it is its own to reap), and when the worker closes its socket it kills and reaps every child before it exits. The
worker's health check after each job counts the template's live children against the ones it knows of.
"""

from __future__ import annotations

import contextlib
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

from src.render.chart import classify_chart_exception, draw_chart
from src.render.chart_trace import draw_traced_chart
from src.render.job import JobFailure, RenderMode
from src.render.result_frame import _send
from src.render.sandbox import (
    PR_SET_CHILD_SUBREAPER,
    PR_SET_PDEATHSIG,
    _libc,
    apply_sandbox,
    close_inherited_descriptors,
    enter_network_namespace,
)
from src.render.sandbox import warm as warm_sandbox
from src.render.svg import classify_svg_exception, draw_svg

_REAP_GRACE_S = 5.0  # a SIGKILLed child is reaped within ms; this only bounds a wedged template
_SHUTDOWN_GRACE_S = 1.0  # how long a closing worker lets its template kill and reap its children
# The environment a child sees: nothing of the caller's (API tokens, credentials), only what plotting needs.
_CHILD_ENV = {"MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # fmt: skip


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
            released = request.get("mode") == "released"
            mode: RenderMode = "released" if released else "project"
            width, height, pixels = draw_chart(request["source"], request["dpi"], request["max_side"], mode)
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
