"""The warm worker process: one per pool slot, started by ``RenderPool``, serving jobs until told to stop.

Started as a fresh interpreter (not forked from the caller, which may hold CUDA, threads or a Lightning trainer),
with BLAS/OpenMP threads pinned to 1 so ``workers`` processes do not oversubscribe the cores, and with an
allow-listed environment (no API tokens). It imports and warms matplotlib and cairosvg once, then forks its clean
template (``zygote.py``); Chromium is launched on the first table job. Untrusted chart code and SVG never run
here, only in the template's sandboxed children, so the worker stays pristine for the next job.

Protocol: pickled ``RenderJob`` in, pickled ``(RenderResult, damage)`` out, over two pipes whose descriptors the
pool passes on the command line (stdout stays free for stray library prints); a list of jobs whose caller lets
them share a child (``RenderPool.render(..., svg_batch=N)``) gets a list of results. ``None`` asks the worker to
exit.
At start the worker sends ``("ready", gaps)``: the protections its sandbox could not get on this machine.
``damage`` is None, or why the worker must be replaced: after every job it checks that its own resource limits,
priority and CPU affinity are as they started and that its template lives, because a job that reached them (the
sandbox is meant to make that impossible) would otherwise make every later job on this worker fail.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from multiprocessing.connection import Connection

from src.render.job import RELEASED_SVG_SIZE, RenderJob, RenderResult


class Renderer:
    """Routes a job to its backend after extraction; never raises for a bad job."""

    def __init__(self, timeout_s: float, memory_mb: int, chromium_path: str | None, table_javascript: bool,
                 scratch_dir: str | None, sandbox_uid: int | None = None, scratch_mb: int = 64) -> None:  # fmt: skip
        from src.render.sandboxed_jobs import SandboxedJobs
        from src.render.table import BROWSER_UID_OFFSET, TableBrowser

        self.timeout_s = timeout_s
        # First, before Chromium or any job: the template forked here holds no job data and no browser.
        self.sandboxed = SandboxedJobs(timeout_s, memory_mb, scratch_dir, sandbox_uid, scratch_mb)
        browser_uid = None if sandbox_uid is None else sandbox_uid + BROWSER_UID_OFFSET
        self.tables = TableBrowser(timeout_s, chromium_path, table_javascript, memory_mb, uid=browser_uid)

    def render(self, job: RenderJob) -> RenderResult:
        from src.render import extract

        if not isinstance(job, RenderJob):
            return RenderResult.failure("invalid_input", f"expected a RenderJob, got {type(job).__name__}")
        problem = job.problem()
        if problem is not None:
            return RenderResult.failure("invalid_input", problem)
        if job.mode == "released":
            return self._render_released(job)
        if job.domain == "chart":
            code = extract.extract_chart_code(job.source)
            if code is None:
                return RenderResult.failure("no_code", "no Python code found in the text")
            request = {"domain": "chart", "source": code, "dpi": job.dpi, "max_side": job.max_side,
                       "trace": job.trace}  # fmt: skip
            return self.sandboxed.render(job, request)
        if job.domain == "table":
            markup = extract.extract_table_markup(job.source)
            if markup is None:
                return RenderResult.failure("no_code", "no HTML <table> or Markdown pipe table found in the text")
            return self.tables.render(job, markup)
        markup = extract.extract_svg_markup(job.source)
        if markup is None:
            return RenderResult.failure("no_code", "no <svg> element found in the text")
        return self._render_svg(job, markup, job.svg_size)

    def _render_released(self, job: RenderJob) -> RenderResult:
        """The public reward's reading: a table answer is the page body as it is; otherwise the last tagged fence
        (or ``<svg`` markup) decides code and renderer, whatever the job's domain (see ``RenderJob.mode``)."""
        from src.render import extract

        if job.domain == "table":
            return self.tables.render(job, job.source)
        found = extract.extract_released(job.source)
        if found is None:
            return RenderResult.failure("no_code", "no ```python or ```svg block and no <svg> element in the text")
        domain, code = found
        if domain == "chart":
            request = {"domain": "chart", "source": code, "dpi": job.dpi, "max_side": job.max_side, "mode": "released"}
            return self.sandboxed.render(job, request)
        return self._render_svg(job, code, RELEASED_SVG_SIZE)

    def _render_svg(self, job: RenderJob, markup: str, size: int) -> RenderResult:
        """Markup our pre-checks refuse is ``invalid_input``; the rest renders in a sandboxed child at ``size``."""
        from src.render.svg import svg_problem

        refusal = svg_problem(markup)
        if refusal is not None:
            return RenderResult.failure("invalid_input", refusal)
        return self.sandboxed.render(job, {"domain": "svg", "source": markup, "svg_size": size})

    def render_shared(self, jobs: list[RenderJob]) -> list[RenderResult]:
        """SVG jobs whose caller accepts that they share one sandboxed child (``SandboxedJobs.render_batch``); jobs
        of other domains, and ones refused before rendering, are rendered as ``render`` does."""
        from src.render import extract
        from src.render.svg import svg_problem

        results: list[RenderResult | None] = [None] * len(jobs)
        shared: list[int] = []
        requests: list[dict] = []
        for i, job in enumerate(jobs):
            markup = extract.extract_svg_markup(job.source) if isinstance(job, RenderJob) else None
            if (
                job.domain != "svg"
                or job.mode != "project"
                or job.problem() is not None
                or markup is None
                or svg_problem(markup) is not None
            ):
                results[i] = self.render(job)
            else:
                shared.append(i)
                requests.append({"domain": "svg", "source": markup, "svg_size": job.svg_size})
        if shared:
            for i, result in zip(shared, self.sandboxed.render_batch([jobs[i] for i in shared], requests), strict=True):
                results[i] = result
        return [r for r in results if r is not None]

    def damage(self, baseline: tuple) -> str | None:
        """None while this process is as it started; else what changed (see the module docstring)."""
        now = process_state()
        if now != baseline:
            changed = [name for name, a, b in zip(_STATE_NAMES, baseline, now, strict=True) if a != b]
            return f"worker state changed: {', '.join(changed)}"
        return self.sandboxed.healthy()

    def close(self) -> None:
        self.tables.close()
        self.sandboxed.close()


_LIMITS = sorted((name, getattr(resource, name)) for name in dir(resource) if name.startswith("RLIMIT_"))
_STATE_NAMES = [name for name, _ in _LIMITS] + ["priority", "cpu_affinity"]


def process_state() -> tuple:
    """Everything about this process another process could change with prlimit, setpriority or sched_setaffinity."""
    limits = [resource.getrlimit(number) for _, number in _LIMITS]
    return (*limits, os.getpriority(os.PRIO_PROCESS, 0), frozenset(os.sched_getaffinity(0)))


def main() -> None:
    read_fd, write_fd, config = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    jobs = Connection(read_fd, writable=False)
    results = Connection(write_fd, readable=False)
    renderer = Renderer(**config)
    baseline = process_state()
    gaps = missing_protections(renderer.sandboxed.report) + renderer.tables.protection_gaps()
    results.send(("ready", gaps))
    try:
        while True:
            try:
                job = jobs.recv()
            except EOFError:
                break
            if job is None:
                break
            try:
                result = renderer.render_shared(job) if isinstance(job, list) else renderer.render(job)
            except Exception as exc:  # noqa: BLE001 - a bug in a backend must not take the worker down
                failure = RenderResult.failure("crashed", f"renderer error: {type(exc).__name__}: {exc}")
                result = [failure] * len(job) if isinstance(job, list) else failure
            damage = renderer.damage(baseline)
            results.send((result, damage))
            if damage is not None:
                break  # the pool replaces this worker
    finally:
        renderer.close()


def missing_protections(report: dict) -> list[str]:
    """The sandbox report a child sent, as lines naming what this machine could not give."""
    from src.render.sandbox import SandboxReport

    fields = {k: v for k, v in report.items() if k in SandboxReport.__dataclass_fields__}
    return SandboxReport(**fields).missing() if fields else ["the sandbox sent no report"]


if __name__ == "__main__":
    main()
