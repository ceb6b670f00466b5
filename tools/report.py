"""Write the static HTML report of an evaluation and/or a training run (see ``src/eval/report.py``).

    python tools/report.py --eval runs/eval/tiny --run runs/grpo/tiny --probes runs/probes/probes.json \\
        --out runs/report/index.html

Any one of ``--eval`` (a ``tools/eval_policy.py`` output folder), ``--run`` (a training run folder with
Lightning's ``metrics.csv`` and rollout sample dumps) and ``--probes`` (``tools/probe_rewards.py``'s
``probes.json``) is enough. Prints the report's path; exit status 2 with a one-line reason on bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))

from src.eval.report import ReportError, write_report  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval", type=Path, dest="evaluation", help="tools/eval_policy.py output folder")
    parser.add_argument("--run", type=Path, help="training run folder (metrics.csv, rollout_samples/)")
    parser.add_argument("--probes", type=Path, help="probes.json from tools/probe_rewards.py")
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--max-samples", type=int, default=60, help="samples shown (the rest are counted)")
    parser.add_argument("--title", default="Visual-ERM report")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.max_samples < 0:
        print("report: --max-samples must be >= 0", file=sys.stderr)
        return 2
    try:
        path = write_report(args.out, args.evaluation, args.run, args.probes, args.max_samples, args.title)
    except (ReportError, OSError) as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 2
    print(path.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
