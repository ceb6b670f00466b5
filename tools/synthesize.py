"""Synthesize labelled (reference, candidate) pairs into shards; rerun the same command to resume after a kill.

    python tools/synthesize.py --domains chart table svg --n 300 --out data/synth --seed 0 [--workers N]

``--n`` is the number of kept pairs per domain. Writes ``train/val/bench.jsonl``, ``drops.jsonl``, content-addressed
``images/`` and ``summary.json`` under ``--out`` (see ``src/data/synthesis.py``).
"""

from __future__ import annotations

import argparse
import json
import os

from src.data.synthesis import SynthesisConfig, synthesize
from src.render.job import DOMAINS


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", choices=DOMAINS, default=list(DOMAINS))
    parser.add_argument("--n", type=int, default=300, help="kept pairs per domain")
    parser.add_argument("--out", required=True, help="shard directory (created; resumed if it holds rows)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="render workers (default: cores)")
    parser.add_argument("--candidates-per-reference", type=int, default=SynthesisConfig.candidates_per_reference)
    parser.add_argument("--equivalent-share", type=float, default=SynthesisConfig.equivalent_share)
    parser.add_argument("--identical-share", type=float, default=SynthesisConfig.identical_share)
    parser.add_argument("--timeout-s", type=float, default=SynthesisConfig.timeout_s)
    parser.add_argument(
        "--render-attempts",
        type=int,
        default=SynthesisConfig.render_attempts,
        help="tries per render before a timeout/crash stops the run (never a drop: those depend on machine load)",
    )
    parser.add_argument(
        "--seed-family", choices=("full", "mini"), default="full", help="mini: plain shapes for a CPU-sized model (svg)"
    )
    parser.add_argument("--kinds", nargs="+", default=[], help="only these perturbation kinds (default: all)")
    parser.add_argument("--max-perturbations", type=int, default=SynthesisConfig.max_perturbations)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    args = parser.parse_args(argv)
    config = SynthesisConfig(
        domains=tuple(args.domains),
        n_per_domain=args.n,
        seed=args.seed,
        workers=args.workers,
        candidates_per_reference=args.candidates_per_reference,
        equivalent_share=args.equivalent_share,
        identical_share=args.identical_share,
        timeout_s=args.timeout_s,
        render_attempts=args.render_attempts,
        seed_family=args.seed_family,
        perturbation_kinds=tuple(args.kinds),
        max_perturbations=args.max_perturbations,
    )
    summary = synthesize(args.out, config, progress=not args.no_progress)
    brief = {k: summary[k] for k in ("pairs", "kept", "dropped", "drop_fraction", "drop_reasons", "this_run")}
    print(json.dumps(brief, indent=2, sort_keys=True))
    print(f"full summary: {os.path.join(args.out, 'summary.json')}")
    return summary


if __name__ == "__main__":
    main()
