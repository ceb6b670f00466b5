"""Benchmark a judge VC-RewardBench style: F1h, F1s, Sc (and ordering accuracy) per domain, per error type, pooled.

Score a file of predictions (the public evaluator's input: a JSON list of bench rows, each with ``pred_json``)::

    python tools/bench_judge.py --bench VC-RewardBench.jsonl --predictions PRED.json --out runs/bench/erm

Run a judge first (its answers go to ``DIR/predictions.json``, resumable: rerun the same command after a kill)::

    python tools/bench_judge.py --bench data/tiny/bench.jsonl --judge judge.yaml --out runs/bench/tiny

where ``judge.yaml`` instantiates a critique judge or a scalar reward through jsonargparse, e.g.::

    class_path: src.reward.judge.VisualERMJudge
    init_args:
      engine: {class_path: src.engines.openai_engine.OpenAIEngine, init_args: {base_url: http://127.0.0.1:8000/v1}}
      profile: {...}            # optional: prompt, image encoding and sampling of the critic

    class_path: src.reward.baselines.pixel.SSIMReward   # scalar rewards get Sc and ordering accuracy
    init_args: {max_side: 256}

A file of scalar rewards (rows with ``id`` or the two image paths, and ``reward``) is scored with ``--rewards``.
Several finished runs go into one table with ``--compare DIR1 DIR2 ... --out DIR``.

Matching is deterministic by default; ``--matcher llm --matcher-engine engine.yaml`` uses an LLM matcher through any
engine (e.g. an ``OpenAIEngine`` YAML), with our prompt, or with ``--matcher-profile bench_profile.json`` (built by
``tools/build_prompt_profile.py --bench-out``) exactly the public evaluator's prompt, budget and reply reading. Writes ``summary.json`` (keys ``overall``, ``chart``,
``table``, ``svg`` with ``f1_hard``, ``f1_soft``, ``severity_pearson``, ``pairs`` and more), ``summary.md``,
``summary.csv`` and ``per_pair.jsonl``. Exit status 2 with a one-line reason on bad input.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))


from src.data.shards import CorruptRowError  # noqa: E402
from src.engines.engine import EngineError, GenerationEngine  # noqa: E402
from src.eval.bench_report import summary_markdown, write_comparison, write_summary  # noqa: E402
from src.eval.judge_bench import (  # noqa: E402
    BenchError,
    load_bench,
    load_predictions,
    predictions_for,
    read_json,
    rows_by_pair,
    score_critiques,
    score_scalar,
)
from src.eval.matching import DeterministicMatcher, ErrorMatcher, LLMMatcher, load_matcher_profile  # noqa: E402
from src.reward.pair import PairError, RewardFunction  # noqa: E402
from src.yaml_objects import ConfigError, instantiate  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, help="VC-RewardBench JSONL (official or our bench split)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--predictions", type=Path, help="JSON list of bench rows with pred_json")
    source.add_argument("--judge", type=Path, help="YAML of a critique judge or a scalar reward to run first")
    source.add_argument("--rewards", type=Path, help="JSON list of rows with reward (a scalar judge's output)")
    source.add_argument("--compare", type=Path, nargs="+", help="finished output folders to put in one table")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--image-root", type=Path, help="folder relative image paths resolve against")
    parser.add_argument("--name", help="the judge's name in tables (default: the output folder's name)")
    parser.add_argument("--matcher", choices=("deterministic", "llm"), default="deterministic")
    parser.add_argument("--matcher-engine", type=Path, help="engine YAML for --matcher llm")
    parser.add_argument(
        "--matcher-profile", type=Path, help="--matcher llm: the public evaluator's protocol (a matcher profile JSON)"
    )
    parser.add_argument("--yes-threshold", type=float, default=0.6, help="deterministic matcher: full match from")
    parser.add_argument("--partial-threshold", type=float, default=0.3, help="deterministic matcher: partial from")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per judge call")
    parser.add_argument("--limit", type=int, help="score only the first N pairs (smoke runs)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _matcher(args: argparse.Namespace) -> tuple[ErrorMatcher, str]:
    if args.matcher == "llm":
        if args.matcher_engine is None:
            raise ConfigError("--matcher llm needs --matcher-engine ENGINE.yaml")
        engine = instantiate(args.matcher_engine, GenerationEngine, "engine")
        if args.matcher_profile is None:
            return LLMMatcher(engine), f"llm ({args.matcher_engine})"
        try:
            profile = load_matcher_profile(args.matcher_profile)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return LLMMatcher(engine, profile=profile), f"llm ({args.matcher_engine}, profile {profile.name})"
    if args.matcher_profile is not None:
        raise ConfigError("--matcher-profile needs --matcher llm")
    matcher = DeterministicMatcher(args.yes_threshold, args.partial_threshold)
    return matcher, f"deterministic (yes >= {args.yes_threshold}, partial >= {args.partial_threshold})"


def _read_rows(path: Path) -> list[Any]:
    if not path.is_file():
        raise BenchError(f"{path} does not exist")
    return read_json(path)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything ``main`` does, raising typed errors; returns the summary it wrote."""
    name = args.name or args.out.resolve().name
    if args.compare:
        summaries = {}
        for folder in args.compare:
            path = folder / "summary.json"
            if not path.is_file():
                raise BenchError(f"{folder} has no summary.json (not a finished bench run)")
            summary = read_json(path, dict)
            summaries[summary.get("run", {}).get("name") or folder.name] = summary
        paths = write_comparison(args.out, summaries)
        print(paths["md"].read_text(encoding="utf-8"))
        return {"compared": list(summaries)}

    if args.bench is None and args.predictions is None:
        raise BenchError("give --bench (and a judge, predictions or rewards), or --predictions with bench rows")
    if args.batch_size < 1:
        raise BenchError(f"--batch-size must be >= 1, got {args.batch_size}")
    pairs = load_bench(args.bench or args.predictions, image_root=args.image_root)
    if args.limit is not None:
        pairs = pairs[: max(args.limit, 0)]
        if not pairs:
            raise BenchError("--limit leaves no pairs")
    progress = not args.no_progress
    run_info: dict[str, Any] = {"name": name, "bench": str(args.bench or args.predictions)}

    rewards: dict[str, float] | None = None
    predictions = None
    if args.judge is not None:
        # Imported here: the judge path pulls in the model stack (torch, transformers), which scoring a file never needs.
        from src.eval.bench_run import CritiqueJudge, run_critique_judge, run_scalar_reward

        judge = instantiate(args.judge, CritiqueJudge | RewardFunction, "judge")
        fingerprint = hashlib.sha256(args.judge.read_bytes()).hexdigest()
        if isinstance(judge, CritiqueJudge):
            rows, stats = run_critique_judge(pairs, judge, args.out, args.batch_size, fingerprint, progress)
            predictions = predictions_for(pairs, rows)
            run_info["kind"] = "critique"
        else:
            rows, stats = run_scalar_reward(pairs, judge, args.out, args.batch_size, fingerprint, progress)
            rewards = {str(r["id"]): r["reward"] for r in rows}
            run_info["kind"] = "scalar"
        run_info.update(judge=str(args.judge), timing=stats.to_json())
    elif args.rewards is not None:
        found = rows_by_pair(pairs, _read_rows(args.rewards), what="reward")
        rewards = {key: row.get("reward") for key, row in found.items()}
        run_info.update(kind="scalar", rewards=str(args.rewards))
    elif args.predictions is not None:
        predictions = load_predictions(args.predictions, pairs)
        run_info.update(kind="critique", predictions=str(args.predictions))
    else:
        raise BenchError("nothing to score: give --predictions, --judge or --rewards")

    per_pair: list[dict[str, Any]] = []
    if rewards is not None:
        summary = score_scalar(pairs, rewards)
    else:
        assert predictions is not None
        matcher, run_info["matcher"] = _matcher(args)
        result = score_critiques(pairs, predictions, matcher)
        summary, per_pair = result.summary, [s.to_json() for s in result.pair_scores]
        if isinstance(matcher, LLMMatcher) and matcher.failures:
            run_info["match_failure_reasons"] = matcher.failures[:20]
    summary["run"] = run_info
    paths = write_summary(args.out, summary, per_pair, title=f"Judge benchmark: {name}")
    print(summary_markdown(summary, title=f"Judge benchmark: {name}"))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (BenchError, ConfigError, CorruptRowError, PairError, EngineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
