"""Synthesis throughput: labelled pairs per minute across domains, and the fraction of generated pairs dropped.

    python benchmarks/synthesis_throughput.py [--n 100] [--workers N] [--per-domain]

Target (issue 3): >= 300 labelled pairs/min across domains on this 2-core machine with ``workers = cores``.
Pool start-up (worker imports, Chromium launch) is timed apart: a real run pays it once for 100K pairs. Each run
writes to a fresh temporary shard directory, so nothing is resumed or cached.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from src.data.synthesis import SynthesisConfig, synthesize
from src.render import RenderPool
from src.render.job import DOMAINS


def run(domains: tuple[str, ...], n: int, workers: int, pool: RenderPool) -> dict:
    with tempfile.TemporaryDirectory(prefix="synth-bench-") as out:
        config = SynthesisConfig(domains=domains, n_per_domain=n, seed=0, workers=workers)
        summary = synthesize(out, config, progress=False, pool=pool)
    this = summary["this_run"]
    generated = this["kept"] + this["dropped"]
    return {
        "domains": "+".join(domains),
        "kept": this["kept"],
        "generated": generated,
        "seconds": this["seconds"],
        "kept_per_min": 60 * this["kept"] / this["seconds"],
        "renders_per_min": 60 * this["renders"] / this["seconds"],
        "drop_fraction": this["dropped"] / generated if generated else 0.0,
        "drop_reasons": this["drop_reasons"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="kept pairs per domain")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--per-domain", action="store_true", help="also time each domain on its own")
    args = parser.parse_args()

    started = time.perf_counter()
    with RenderPool(workers=args.workers, timeout_s=15) as pool:
        pool_start = time.perf_counter() - started
        rows = [run(DOMAINS, args.n, args.workers, pool)]
        if args.per_domain:
            rows += [run((d,), args.n, args.workers, pool) for d in DOMAINS]

    print(f"cores {os.cpu_count()}, workers {args.workers}, pool start-up {pool_start:.1f} s (excluded below)")
    print(f"{'domains':<16}{'kept':>6}{'generated':>11}{'seconds':>9}{'kept/min':>10}{'renders/min':>13}{'dropped':>9}")
    for r in rows:
        print(
            f"{r['domains']:<16}{r['kept']:>6}{r['generated']:>11}{r['seconds']:>9.1f}{r['kept_per_min']:>10.0f}"
            f"{r['renders_per_min']:>13.0f}{r['drop_fraction']:>9.1%}"
        )
    for r in rows:
        if r["drop_reasons"]:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(r["drop_reasons"].items(), key=lambda kv: -kv[1]))
            print(f"  drops {r['domains']}: {reasons}")
    target = 300
    verdict = "meets" if rows[0]["kept_per_min"] >= target else "MISSES"
    print(f"across domains: {rows[0]['kept_per_min']:.0f} labelled pairs/min — {verdict} the {target}/min target")


if __name__ == "__main__":
    main()
