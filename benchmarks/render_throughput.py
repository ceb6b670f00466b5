"""Render throughput: the pool against the single-process limit and against a fresh Python per chart.

    python benchmarks/render_throughput.py            # 200 jobs per domain, workers = cores
    python benchmarks/render_throughput.py --n 50 --domains chart svg

Everything is measured in one run on the same jobs, so the ratios compare like with like on this machine:
- chart: the pool; a bare in-process loop (exec + savefig, no sandbox: the single-process limit); a fresh
  ``python -c`` per chart, ``cores`` at a time (what the paper's reward code does).
- table: the pool; a bare single-page Playwright loop (one browser, one reused page, same template, no crop).
- svg: the pool (a clean child per job, the default); the pool with ``svg_batch=8`` (eight jobs share a child:
  they can read and forge each other's results, for jobs that trust each other); a bare ``cairosvg.svg2png`` loop.
- cache: a hit against the render that filled it (chart jobs).
- sandbox layers (``--layers``): median ms of each step a job's child takes before it runs any code, forked from
  this warm process, so the cost of every protection is visible on its own (issue 12 added the IPC/mount
  namespaces with the scratch tmpfs, the uid drop and the longer seccomp filter; a root pool's network namespace is
  made once per template, its row is a child that makes one and exits); a fork-and-exit is the baseline.
Each row also gives the CPU time it took, per job, over this process and all its descendants (workers, templates,
job children, Chromium, the bare loops' browsers, the per-job interpreters): on a machine other work is loading,
throughput ratios swing with that load, while CPU per job stays close to what the method itself costs.
Start-up is not timed anywhere: the pool is started and warmed first (its start-up is printed), and each bare
loop renders one job before its clock starts. The process-per-job row has no warm-up: start-up is its cost.
Jobs come from the project's seed generators (``src.data.seeds``) when importable, else from a few hand-written
realistic sources varied by the rng.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from src.render import RenderJob, RenderPool

TARGETS = {  # (numerator row, denominator row): minimum ratio, from the issue
    ("chart pool", "chart bare loop"): 1.5,
    ("chart pool", "chart process-per-job"): 5.0,
    ("table pool", "table bare page loop"): 1.5,
    ("svg pool", "svg bare cairosvg loop"): 1.0,
    ("svg pool, 8 share a child", "svg bare cairosvg loop"): 1.0,
    ("cache hit", "cache miss (render)"): 50.0,
}

_CHART_FALLBACK = """import matplotlib.pyplot as plt
import numpy as np
labels = {labels}
a = {a}
b = {b}
x = np.arange(len(labels))
fig, ax = plt.subplots(figsize=({w}, {h}))
ax.bar(x - 0.2, a, 0.4, label="{s1}", color="{c1}")
ax.plot(x, b, marker="o", color="{c2}", label="{s2}")
ax.set_xticks(x)
ax.set_xticklabels(labels, rotation=30)
ax.set_title("{title}")
ax.set_ylabel("Value")
ax.legend()
ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()
"""
_TABLE_FALLBACK = "<table><caption>{title}</caption><tr>{head}</tr>{rows}</table>"
_SVG_FALLBACK = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">
<rect x="5" y="5" width="90" height="90" rx="{r}" fill="{c1}"/>
<circle cx="{cx}" cy="40" r="{cr}" fill="{c2}" stroke="#333" stroke-width="2"/>
<path d="M10 90 L{px} 50 L90 90 Z" fill="{c3}" opacity="0.8"/>
<text x="50" y="95" font-size="8" text-anchor="middle">{title}</text></svg>"""


def _fallback_source(domain: str, rng: random.Random) -> str:
    colors = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]
    words = ["North", "South", "East", "West", "Central", "Coastal", "Metro", "Rural"]
    title = f"{rng.choice(['Sales', 'Traffic', 'Revenue', 'Users'])} by {rng.choice(['region', 'month', 'segment'])}"
    if domain == "chart":
        n = rng.randint(4, 8)
        return _CHART_FALLBACK.format(
            labels=rng.sample(words, n), a=[round(rng.uniform(5, 50), 1) for _ in range(n)],
            b=[round(rng.uniform(5, 50), 1) for _ in range(n)], w=rng.choice([6, 7, 8]), h=rng.choice([4, 4.5, 5]),
            s1="2023", s2="2024", c1=rng.choice(colors), c2=rng.choice(colors), title=title,
        )  # fmt: skip
    if domain == "table":
        cols = rng.randint(3, 6)
        head = "".join(f"<th>{w}</th>" for w in rng.sample(words, cols))
        rows = "".join(
            "<tr>" + "".join(f"<td>{rng.uniform(0, 1000):,.1f}</td>" for _ in range(cols)) + "</tr>"
            for _ in range(rng.randint(4, 12))
        )
        return _TABLE_FALLBACK.format(title=title, head=head, rows=rows)
    return _SVG_FALLBACK.format(
        r=rng.randint(0, 20), c1=rng.choice(colors), c2=rng.choice(colors), c3=rng.choice(colors),
        cx=rng.randint(30, 70), cr=rng.randint(8, 20), px=rng.randint(30, 70), title=title,
    )  # fmt: skip


def make_jobs(domain: str, n: int) -> tuple[list[RenderJob], str]:
    """``n`` realistic jobs for ``domain`` and where they came from."""
    try:
        from src.data.seeds import seed_functions

        seeds = seed_functions(domain)
        sources = [seeds.source(seeds.make_seed(random.Random(i))) for i in range(n)]
        origin = f"src.data.seeds.{domain}"
    except Exception as exc:  # noqa: BLE001 - seeds are another module's work; the benchmark must still run
        sources = [_fallback_source(domain, random.Random(i)) for i in range(n)]
        origin = f"built-in fallback ({type(exc).__name__})"
    return [RenderJob(domain=domain, source=s) for s in sources], origin  # type: ignore[arg-type]


def tree_cpu_s() -> float:
    """CPU seconds of this process and its descendants: live ones (user + system, plus what each has reaped of its
    own children) and the children this process has reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = sum(int(x) for x in fields[11:15]) / ticks  # utime stime cutime cstime
    tree, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo += [child for child, parent in parents.items() if parent == pid and child not in tree]
    return sum(times.get(pid, 0.0) for pid in tree)


def timed(fn: Callable[..., int], *args: object) -> tuple[float, int, float]:
    """(seconds, jobs ok, CPU seconds of the process tree)."""
    start, cpu = time.perf_counter(), tree_cpu_s()
    ok = fn(*args)
    return time.perf_counter() - start, ok, tree_cpu_s() - cpu


class _Clock:
    """Times only the part after ``start()``: warm-up (imports, browser launch) is not the steady state."""

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self.t0, self.cpu0 = time.perf_counter(), tree_cpu_s()

    def stop(self, ok: int) -> tuple[float, int, float]:
        return time.perf_counter() - self.t0, ok, tree_cpu_s() - self.cpu0


def bare_chart_loop(jobs: list[RenderJob]) -> tuple[float, int, float]:
    """exec + one PNG per chart, in this process: the code's own ``savefig`` is the one saved (into memory, not
    the working directory), else one is appended, so every chart is drawn once, as in the pool."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from src.render.extract import extract_chart_code

    real_savefig = Figure.savefig
    saved: list[bytes] = []

    def savefig_to_memory(fig: Figure, *args: object, **kwargs: object) -> None:
        buffer = io.BytesIO()
        real_savefig(fig, buffer, format="png")
        saved.append(buffer.getvalue())

    Figure.savefig = savefig_to_memory  # type: ignore[method-assign]
    ok = 0
    clock = _Clock()
    try:
        for index, job in enumerate([jobs[0], *jobs]):
            if index == 1:
                clock.start()
                ok = 0
            saved.clear()
            try:
                exec(compile(extract_chart_code(job.source) or "", "<chart>", "exec"), {"__name__": "__main__"})
                if not saved:
                    plt.savefig(io.BytesIO(), format="png", dpi=job.dpi)
                ok += 1
            except Exception:  # noqa: BLE001, S110 - a failing job still costs its time
                pass
            finally:
                plt.close("all")
                matplotlib.rcdefaults()
    finally:
        Figure.savefig = real_savefig  # type: ignore[method-assign]
    return clock.stop(ok)


def process_per_chart(jobs: list[RenderJob], parallel: int, timeout_s: float) -> int:
    """The paper's reward code: a fresh interpreter per chart with ``savefig`` appended."""
    from src.render.extract import extract_chart_code

    scratch = tempfile.mkdtemp(prefix="verm-bench-")
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

    def one(index: int) -> int:
        code = (
            extract_chart_code(jobs[index].source) or ""
        ) + f"\nimport matplotlib.pyplot as plt\nplt.savefig('{index}.png')\n"
        try:
            proc = subprocess.run(
                [sys.executable, "-c", code], cwd=scratch, env=env, capture_output=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            return 0
        return int(proc.returncode == 0)

    try:
        with ThreadPoolExecutor(parallel) as executor:
            return sum(executor.map(one, range(len(jobs))))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def bare_table_loop(jobs: list[RenderJob]) -> tuple[float, int, float]:
    from playwright.sync_api import sync_playwright

    from src.render.extract import extract_table_markup
    from src.render.table import CHROMIUM_ARGS, to_page

    ok = 0
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_context(java_script_enabled=False, viewport={"width": 1024, "height": 64}).new_page()
        page.set_content(to_page(extract_table_markup(jobs[0].source) or ""))
        page.screenshot(full_page=True)
        clock = _Clock()
        for job in jobs:
            page.set_content(to_page(extract_table_markup(job.source) or job.source))
            ok += bool(page.screenshot(full_page=True))
        result = clock.stop(ok)
        browser.close()
    return result


def bare_svg_loop(jobs: list[RenderJob]) -> tuple[float, int, float]:
    import cairosvg

    from src.render.extract import extract_svg_markup

    ok = 0
    clock = _Clock()
    for index, job in enumerate([jobs[0], *jobs]):
        if index == 1:
            clock.start()
            ok = 0
        try:
            markup = extract_svg_markup(job.source) or job.source
            cairosvg.svg2png(bytestring=markup.encode(), output_width=job.svg_size, output_height=job.svg_size,
                             background_color="white")  # fmt: skip
            ok += 1
        except Exception:  # noqa: BLE001, S110 - a failing job still costs its time
            pass
    return clock.stop(ok)


def _sandbox_steps_ms(scratch: str, read_paths: list[str]) -> dict[str, float]:
    """Apply the sandbox's layers one by one in this (forked) process, timing each."""
    import ctypes

    from src.render import sandbox

    libc = ctypes.CDLL(None, use_errno=True)
    marks = [("start", time.perf_counter())]
    libc.unshare(sandbox.CLONE_NEWIPC | sandbox.CLONE_NEWNS)
    libc.mount(b"none", b"/", None, sandbox.MS_REC | sandbox.MS_PRIVATE, None)
    libc.mount(b"tmpfs", scratch.encode(), b"tmpfs", 0, b"size=64m")
    marks.append(("ipc + mount namespaces, scratch tmpfs (new)", time.perf_counter()))
    libc.prctl(sandbox.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    sandbox._landlock(read_paths, [scratch], sandbox.landlock_abi())
    marks.append(("landlock", time.perf_counter()))
    sandbox._set_limits(2048, 15, 64, sandbox._open_file_limit(), sandbox.MAX_TASKS)
    marks.append(("rlimits", time.perf_counter()))
    if os.geteuid() == 0:
        sandbox._drop_identity(61999, keep_read_search=True)
        sandbox._drop_capabilities(1 << sandbox.CAP_DAC_READ_SEARCH)
    marks.append(("uid drop (new)", time.perf_counter()))
    sandbox._seccomp()
    marks.append(("seccomp filter", time.perf_counter()))
    return {name: 1000 * (t - marks[i][1]) for i, (name, t) in enumerate(marks[1:])}


def sandbox_layer_costs(repeats: int) -> dict[str, float]:
    """Median milliseconds per sandbox step in a forked child (see the module docstring); keys in step order.

    Uses the sandbox's private step functions on purpose: ``apply_sandbox`` applies them all at once."""
    import json
    import statistics

    from src.render import sandbox
    from src.render.sandbox import default_read_paths, warm

    read_paths = default_read_paths()
    warm()  # as the template does before it forks
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):
        scratch = tempfile.mkdtemp(prefix="verm-bench-")
        report_r, report_w = os.pipe()
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                os.write(report_w, json.dumps(_sandbox_steps_ms(scratch, read_paths)).encode())
            finally:
                os._exit(0)
        os.close(report_w)
        steps = json.loads(os.read(report_r, 4096) or b"{}")
        os.close(report_r)
        os.waitpid(pid, 0)
        steps["whole child, fork to reaped"] = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            sandbox.enter_network_namespace()
            os._exit(0)
        os.waitpid(pid, 0)
        steps["network namespace made, fork to reaped (once per template)"] = 1000 * (time.perf_counter() - start)
        shutil.rmtree(scratch, ignore_errors=True)
        for name, ms in steps.items():
            samples.setdefault(name, []).append(ms)
    baseline = []
    for _ in range(repeats):
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        baseline.append(1000 * (time.perf_counter() - start))
    samples["fork + exit, no sandbox (baseline)"] = baseline
    return {name: statistics.median(values) for name, values in samples.items()}


def pool_run(pool: RenderPool, jobs: list[RenderJob], svg_batch: int = 1) -> int:
    return sum(r.ok for r in pool.render(jobs, svg_batch=svg_batch))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="jobs per domain")
    parser.add_argument("--domains", nargs="+", default=["chart", "table", "svg"], choices=["chart", "table", "svg"])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="pool workers (default: cores)")
    parser.add_argument("--timeout-s", type=float, default=15.0)
    parser.add_argument("--layers", type=int, default=30, help="forks per sandbox-layer timing (0: skip)")
    args = parser.parse_args()

    rows: dict[str, tuple[float, int, float, int]] = {}  # name -> (seconds, ok, CPU seconds, n)
    print(f"cores={os.cpu_count()} workers={args.workers} n={args.n}")
    start = time.perf_counter()
    with RenderPool(workers=args.workers, timeout_s=args.timeout_s) as pool:
        print(f"pool start-up: {time.perf_counter() - start:.2f} s")
        for domain in args.domains:
            jobs, origin = make_jobs(domain, args.n)
            print(f"{domain}: jobs from {origin}")
            pool.render(jobs[: args.workers * 2])  # warm: Chromium launch, first fork, caches (not timed)
            rows[f"{domain} pool"] = (*timed(pool_run, pool, jobs), len(jobs))
            if domain == "chart":
                rows["chart bare loop"] = (*bare_chart_loop(jobs), len(jobs))
                rows["chart process-per-job"] = (
                    *timed(process_per_chart, jobs, args.workers, args.timeout_s), len(jobs))  # fmt: skip
            elif domain == "table":
                rows["table bare page loop"] = (*bare_table_loop(jobs), len(jobs))
            else:
                rows["svg pool, 8 share a child"] = (*timed(pool_run, pool, jobs, 8), len(jobs))
                rows["svg bare cairosvg loop"] = (*bare_svg_loop(jobs), len(jobs))

    cache_domain = "chart" if "chart" in args.domains else args.domains[0]
    jobs, _ = make_jobs(cache_domain, args.n)
    with tempfile.TemporaryDirectory() as cache_dir, RenderPool(workers=args.workers, cache_dir=cache_dir) as pool:
        pool.render(jobs[: args.workers * 2])
        rest = jobs[args.workers * 2 :]
        rows["cache miss (render)"] = (*timed(pool_run, pool, rest), len(rest))
        rows["cache hit"] = (*timed(pool_run, pool, rest), len(rest))

    if args.layers:
        from src.render.chart import import_matplotlib

        import_matplotlib()  # fork from a warm process, as the template does
        print(f"\n{'sandbox step (median of ' + str(args.layers) + ')':<64}{'ms':>8}")
        for name, ms in sandbox_layer_costs(args.layers).items():
            print(f"{name:<64}{ms:>8.2f}")

    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"\n{'method':<26}{'jobs':>6}{'ok':>6}{'jobs/s':>10}{'ms/job':>10}{'CPU ms/job':>12}")
    for name, (seconds, ok, cpu, n) in rows.items():
        print(f"{name:<26}{n:>6}{ok:>6}{n / seconds:>10.1f}{1000 * seconds / n:>10.2f}{1000 * cpu / n:>12.2f}")
    print(f"\n{'ratio':<56}{'throughput':>11}{'target':>8}  verdict{'CPU/job (den/num)':>20}")
    for (num, den), target in TARGETS.items():
        if num in rows and den in rows:
            ratio = (rows[num][3] / rows[num][0]) / (rows[den][3] / rows[den][0])
            verdict = "met" if ratio >= target else "NOT MET"
            # A clock tick is 10 ms: a row that used less CPU than a few ticks has no CPU figure worth a ratio.
            cpu = f"{rows[den][2] / rows[num][2] * rows[num][3] / rows[den][3]:.2f}x" if rows[num][2] > 0.05 else "-"
            print(f"{num + ' / ' + den:<56}{ratio:>10.2f}x{target:>7.1f}x  {verdict:<7}{cpu:>20}")


if __name__ == "__main__":
    main()
