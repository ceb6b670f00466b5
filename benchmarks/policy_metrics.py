"""Policy-metric costs: what tracing a chart adds to its render, and the table edit distance against the textbook.

    python benchmarks/policy_metrics.py            # 60 seed charts, 2 workers
    python benchmarks/policy_metrics.py --n 200 --workers 4

Measured in one run on the same inputs, so the ratios compare like with like on this machine:
- chart: the same seed charts (``src.data.seeds``) through one warm pool, plain and with ``trace=True``
  (interleaved rounds so machine load hits both alike); then the metric itself (two traces → four F1s).
- table: normalized edit distance of seed tables' HTML against a perturbed copy, bit-parallel Levenshtein
  (``src.eval.metrics.table``) against the textbook dynamic programme on the same pairs (the textbook run is capped
  at ``--textbook-pairs`` because it is slow).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from src.data.seeds import seed_functions  # noqa: E402
from src.eval.metrics.chart import chart_scores  # noqa: E402
from src.eval.metrics.table import canonical_table_html, levenshtein  # noqa: E402
from src.render import RenderJob, RenderPool  # noqa: E402
from src.render.chart_trace import read_trace  # noqa: E402


def textbook_levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def sources(domain: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    functions = seed_functions(domain)
    return [functions.source(functions.make_seed(rng)) for _ in range(n)]


def bench_charts(n: int, workers: int, rounds: int) -> None:
    charts = sources("chart", n, 0)
    with RenderPool(workers=workers, timeout_s=30) as pool:
        pool.render([RenderJob("chart", charts[0]), RenderJob("chart", charts[0], trace=True)])  # warm
        plain_s, traced_s = [], []
        traced = []
        for _ in range(rounds):
            start = time.perf_counter()
            pool.render([RenderJob("chart", c) for c in charts])
            plain_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            traced = pool.render([RenderJob("chart", c, trace=True) for c in charts])
            traced_s.append(time.perf_counter() - start)
    ok = [r for r in traced if r.ok]
    plain, with_trace = statistics.median(plain_s), statistics.median(traced_s)
    print(f"chart renders ({n} seed charts, {workers} workers, median of {rounds} rounds)")
    print(f"  plain   {1000 * plain / n:7.1f} ms/chart   {n / plain:6.1f} charts/s")
    print(f"  traced  {1000 * with_trace / n:7.1f} ms/chart   {n / with_trace:6.1f} charts/s")
    print(f"  tracing overhead: {100 * (with_trace / plain - 1):+.1f}%  ({len(ok)}/{n} rendered)")
    traces = [read_trace(r.trace) for r in ok]
    start = time.perf_counter()
    for reference, candidate in zip(traces, traces[1:] + traces[:1], strict=True):
        chart_scores(reference, candidate)
    seconds = time.perf_counter() - start
    print(f"  metric: {1000 * seconds / max(1, len(traces)):.2f} ms per pair of traces (four F1s)")


def bench_tables(n: int, textbook_pairs: int) -> None:
    rng = random.Random(1)
    tables = [canonical_table_html(t) for t in sources("table", n, 1)]
    pairs = []
    for html in tables:
        chars = list(html)
        for _ in range(max(1, len(chars) // 50)):  # ~2% of characters changed
            chars[rng.randrange(len(chars))] = rng.choice("abc123<>/")
        pairs.append((html, "".join(chars)))
    mean_len = statistics.mean(len(a) for a, _ in pairs)
    start = time.perf_counter()
    fast = [levenshtein(a, b) for a, b in pairs]
    fast_s = (time.perf_counter() - start) / len(pairs)
    subset = pairs[:textbook_pairs]
    start = time.perf_counter()
    slow = [textbook_levenshtein(a, b) for a, b in subset]
    slow_s = (time.perf_counter() - start) / len(subset)
    assert fast[: len(slow)] == slow, "bit-parallel and textbook distances disagree"
    print(f"table edit distance ({len(pairs)} seed tables, mean {mean_len:.0f} chars of HTML)")
    print(f"  bit-parallel {1000 * fast_s:8.2f} ms/pair")
    print(f"  textbook     {1000 * slow_s:8.2f} ms/pair  (first {len(subset)} pairs; same distances)")
    print(f"  speed-up: {slow_s / fast_s:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=60, help="seed charts and tables")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--textbook-pairs", type=int, default=10)
    args = parser.parse_args()
    bench_charts(args.n, args.workers, args.rounds)
    bench_tables(args.n, args.textbook_pairs)


if __name__ == "__main__":
    main()
