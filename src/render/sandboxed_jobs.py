"""The worker's side of sandboxed rendering: it sends each chart or SVG job to a fresh child of a template
(``zygote``), reads the child's result frame (``result_frame``) and turns what came back, or how the child died,
into a verdict.

The worker kills a child in a ``finally`` after every job, whatever the child wrote: a child that forges its result
frame (a non-finite size, a 30,000-deep header) must not make the worker skip the kill and leave it sleeping with
its memory.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import select
import signal
import struct
import tempfile
import time

from src.render import image as image_ops
from src.render.chart import import_matplotlib
from src.render.job import RenderJob, RenderResult
from src.render.result_frame import _HEADER_MAX, _Frame, _MalformedFrame, _pixel_bytes, _read_header
from src.render.sandbox import default_read_paths, readable_by_others
from src.render.svg import WARM_SVG, draw_svg
from src.render.zygote import _REAP_GRACE_S, ChildLimits, Zygote, _Child, _kill

_WARM_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="4" height="4"/></svg>'


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
            blank: image_ops.BlankRule = "white" if job.mode == "released" else "flat"
            png = image_ops.finalize_rgba(frame.pixels, header["width"], header["height"], job.max_side, blank)
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
