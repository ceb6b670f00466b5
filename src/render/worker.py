"""The warm worker process: one per pool slot, started by ``RenderPool``, serving jobs until told to stop.

Started as a fresh interpreter (not forked from the caller, which may hold CUDA, threads or a Lightning trainer),
with BLAS/OpenMP threads pinned to 1 so ``workers`` processes do not oversubscribe the cores. It imports and warms
matplotlib and cairosvg once; Chromium is launched on the first table job. Untrusted chart code never runs here,
only in the children ``ChartSandbox`` forks, so the worker stays pristine for the next job.

Protocol: pickled ``RenderJob`` in, pickled ``RenderResult`` out, over two pipes whose descriptors the pool
passes on the command line (stdout stays free for stray library prints). ``None`` asks the worker to exit.
"""

from __future__ import annotations

import json
import sys
from multiprocessing.connection import Connection

from src.render.job import RenderJob, RenderResult


class Renderer:
    """Routes a job to its backend after extraction; never raises for a bad job."""

    def __init__(self, timeout_s: float, memory_mb: int, chromium_path: str | None, table_javascript: bool,
                 scratch_dir: str | None) -> None:  # fmt: skip
        import cairosvg  # noqa: F401 - warm import, ~0.2 s once instead of in the first SVG job

        from src.render.chart import ChartSandbox
        from src.render.table import TableBrowser

        self.timeout_s = timeout_s
        self.charts = ChartSandbox(timeout_s=timeout_s, memory_mb=memory_mb, scratch_root=scratch_dir)
        self.tables = TableBrowser(timeout_s=timeout_s, chromium_path=chromium_path, javascript=table_javascript)

    def render(self, job: RenderJob) -> RenderResult:
        from src.render import extract
        from src.render.svg import render_svg

        if not isinstance(job, RenderJob):
            return RenderResult.failure("invalid_input", f"expected a RenderJob, got {type(job).__name__}")
        problem = job.problem()
        if problem is not None:
            return RenderResult.failure("invalid_input", problem)
        if job.domain == "chart":
            code = extract.extract_chart_code(job.source)
            if code is None:
                return RenderResult.failure("no_code", "no Python code found in the text")
            return self.charts.render(job, code)
        if job.domain == "table":
            markup = extract.extract_table_markup(job.source)
            if markup is None:
                return RenderResult.failure("no_code", "no HTML <table> or Markdown pipe table found in the text")
            return self.tables.render(job, markup)
        markup = extract.extract_svg_markup(job.source)
        if markup is None:
            return RenderResult.failure("no_code", "no <svg> element found in the text")
        return render_svg(job, markup, self.timeout_s)

    def close(self) -> None:
        self.tables.close()


def main() -> None:
    read_fd, write_fd, config = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    jobs = Connection(read_fd, writable=False)
    results = Connection(write_fd, readable=False)
    renderer = Renderer(**config)
    results.send("ready")
    try:
        while True:
            try:
                job = jobs.recv()
            except EOFError:
                break
            if job is None:
                break
            try:
                result = renderer.render(job)
            except Exception as exc:  # noqa: BLE001 - a bug in a backend must not take the worker down
                result = RenderResult.failure("crashed", f"renderer error: {type(exc).__name__}: {exc}")
            results.send(result)
    finally:
        renderer.close()


if __name__ == "__main__":
    main()
