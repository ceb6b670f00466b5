"""Reflection & revision (or best-of-N) over a set of reference images, with any policy and judge from YAML.

    python tools/refine.py --prompts data/synth/val.jsonl --policy policy.yaml --judge judge.yaml --rounds 3 \
        --out runs/refine
    python tools/refine.py --prompts data/synth/val.jsonl --policy policy.yaml --judge ssim.yaml --best-of-n 8 \
        --out runs/bon

``--prompts``: our shard rows, VC-RewardBench rows or ``{image, domain, code}`` rows (one task per distinct reference
image). ``policy.yaml`` instantiates a ``GenerationEngine`` (e.g. ``src.engines.openai_engine.OpenAIEngine`` against
``vllm serve`` of the policy); ``judge.yaml`` a critique judge (``src.reward.judge.VisualERMJudge``) — for best-of-N
any reward (``src.reward.baselines.pixel.SSIMReward`` …). Candidates render in the sandboxed ``RenderPool``.

Writes ``DIR/refine.jsonl`` (per task: every version's round, reward, severity sum, render error and critique, and
the best answer), ``DIR/best/<id>.png`` (the best render; characters other than letters, digits, ``.`` and ``-`` become ``_``), ``DIR/summary.json`` and ``DIR/summary.md`` (mean reward of
each round's version and of the best version so far, per domain). Tasks go in chunks of ``--chunk``; finished tasks
are on disk, so a rerun after a kill continues where it stopped. Exit status 2 with a one-line reason on bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))

from tqdm.auto import tqdm  # noqa: E402

from src.data.shards import CorruptRowError, append_line, iter_jsonl, repair_torn_tail  # noqa: E402
from src.data.vision_to_code_datamodule import load_policy_prompts  # noqa: E402
from src.engines.engine import EngineError, GenerationEngine, SamplingSettings  # noqa: E402
from src.eval.refine import CritiqueJudge, RefineOutcome, RefineTask, ReflectiveRefiner, best_of_n  # noqa: E402
from src.render import RenderPool  # noqa: E402
from src.render.job import DOMAINS  # noqa: E402
from src.reward.pair import PairError, RewardFunction, load_reference  # noqa: E402
from src.yaml_objects import ConfigError, instantiate  # noqa: E402


def load_tasks(path: Path, limit: int | None) -> list[RefineTask]:
    """One task per distinct reference image of a prompts manifest."""
    if not path.is_file():
        raise ConfigError(f"prompts file {path} does not exist")
    prompts, _ = load_policy_prompts(path, on_corrupt="raise")
    tasks: list[RefineTask] = []
    seen: set[Path] = set()
    for prompt in prompts:
        if prompt.image_path in seen:
            continue
        seen.add(prompt.image_path)
        tasks.append(RefineTask(prompt.id, prompt.domain, load_reference(prompt.image_path)))
        if limit is not None and len(tasks) >= limit:
            break
    if not tasks:
        raise ConfigError(f"{path}: no prompts")
    return tasks


def _file_name(task_id: str) -> str:
    return re.sub(r"[^\w.-]", "_", task_id)[:120] or "task"


def outcome_row(outcome: RefineOutcome) -> dict[str, Any]:
    best = outcome.best
    return {
        "id": outcome.task_id,
        "domain": outcome.domain,
        "best_round": best.round,
        "best_reward": best.reward,
        "best_answer": best.answer,
        "versions": [
            {
                "round": v.round,
                "reward": v.reward,
                "severity_sum": v.severity_sum,
                "rendered": v.rendered,
                "render_error": None if v.rendered else v.render.error_kind,
                "critique": v.critique.to_official() if v.critique is not None else None,
                "critique_error": v.feedback_error,
            }
            for v in outcome.versions
        ],
    }


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean reward per round (of that round's version, and of the best version so far), pooled and per domain.

    A task that stopped early (clean critique) keeps its last version for the later rounds, as a user would.
    """

    def scope(members: Sequence[dict[str, Any]]) -> dict[str, Any]:
        if not members:
            return {"tasks": 0}
        rounds = max(len(r["versions"]) for r in members)
        per_round, best_so_far = [], []
        for k in range(rounds):
            current = [r["versions"][min(k, len(r["versions"]) - 1)]["reward"] for r in members]
            best = [max(v["reward"] for v in r["versions"][: k + 1]) for r in members]
            per_round.append(sum(current) / len(current))
            best_so_far.append(sum(best) / len(best))
        improved = sum(r["best_reward"] > r["versions"][0]["reward"] for r in members)
        return {
            "tasks": len(members),
            "reward_by_round": per_round,
            "best_so_far_by_round": best_so_far,
            "best_reward": sum(r["best_reward"] for r in members) / len(members),
            "improved_share": improved / len(members),
        }

    return {"overall": scope(rows), **{d: scope([r for r in rows if r["domain"] == d]) for d in DOMAINS}}


def summary_markdown(summary: dict[str, Any], title: str) -> str:
    lines = [
        f"# {title}",
        "",
        "| scope | tasks | reward by round | best so far by round | improved |",
        "|---|---|---|---|---|",
    ]
    for name, entry in summary.items():
        if not entry.get("tasks"):
            continue
        fmt = " → ".join(f"{x:.3f}" for x in entry["reward_by_round"])
        best = " → ".join(f"{x:.3f}" for x in entry["best_so_far_by_round"])
        lines.append(f"| {name} | {entry['tasks']} | {fmt} | {best} | {100 * entry['improved_share']:.0f}% |")
    return "\n".join(lines) + "\n"


def _claim(run_file: Path, args: argparse.Namespace, mode: str) -> None:
    """Tie the folder's finished tasks to one setting (policy, judge, mode, rounds): resuming with another is refused
    rather than mixing two experiments in one table."""
    setting = {
        "mode": mode,
        "rounds": args.rounds,
        "best_of_n": args.best_of_n,
        "policy": args.policy.read_text(encoding="utf-8"),
        "judge": args.judge.read_text(encoding="utf-8"),
    }
    if run_file.exists():
        try:
            previous = json.loads(run_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            previous = None
        if previous != setting:
            raise ConfigError(
                f"{run_file.parent} holds results of another setting (see {run_file.name}); use a new --out folder"
            )
        return
    run_file.write_text(json.dumps(setting, indent=1), encoding="utf-8")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=Path, required=True, help="manifest of reference images")
    parser.add_argument("--policy", type=Path, required=True, help="YAML of the policy's GenerationEngine")
    parser.add_argument("--judge", type=Path, required=True, help="YAML of the judge (any reward for --best-of-n)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3, help="revisions after the first draft (paper: 3)")
    parser.add_argument("--best-of-n", type=int, help="sample N answers per task and keep the best instead")
    parser.add_argument("--max-new-tokens", type=int, default=2048)
    parser.add_argument("--temperature", type=float, help="default: 0 for refinement, 0.7 for best-of-N")
    parser.add_argument("--chunk", type=int, default=16, help="tasks per round trip")
    parser.add_argument("--limit", type=int, help="first N tasks only")
    parser.add_argument("--workers", type=int, default=2, help="render workers")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.rounds < 0 or args.chunk < 1 or (args.best_of_n is not None and args.best_of_n < 1):
        raise ConfigError("--rounds must be >= 0, --chunk and --best-of-n >= 1")
    tasks = load_tasks(args.prompts, args.limit)
    policy = instantiate(args.policy, GenerationEngine, "policy")
    mode = "best_of_n" if args.best_of_n else "refine"
    judge = instantiate(args.judge, RewardFunction if mode == "best_of_n" else CritiqueJudge, "judge")
    temperature = args.temperature if args.temperature is not None else (0.7 if mode == "best_of_n" else 0.0)
    sampling = SamplingSettings(
        temperature=temperature, top_p=0.8 if temperature else 1.0, max_new_tokens=args.max_new_tokens
    )

    out: Path = args.out
    (out / "best").mkdir(parents=True, exist_ok=True)
    results = out / "refine.jsonl"
    _claim(out / "refine.run.json", args, mode)
    repair_torn_tail(results)
    done = {str(row.get("id")): row for _, row in iter_jsonl(results, on_corrupt="skip")}
    pending = [t for t in tasks if t.id not in done]
    with RenderPool(workers=args.workers) as pool:
        refiner = ReflectiveRefiner(policy, judge, pool.render, args.rounds, sampling) if mode == "refine" else None
        with tqdm(total=len(tasks), initial=len(tasks) - len(pending), desc=mode, disable=args.no_progress) as bar:
            for start in range(0, len(pending), args.chunk):
                chunk = pending[start : start + args.chunk]
                if mode == "best_of_n":
                    outcomes = best_of_n(chunk, policy, judge, pool.render, n=args.best_of_n, sampling=sampling)
                else:
                    assert refiner is not None
                    outcomes = refiner.run(chunk)
                for outcome in outcomes:
                    best = outcome.best
                    if best.rendered and best.render.png:
                        (out / "best" / f"{_file_name(outcome.task_id)}.png").write_bytes(best.render.png)
                    row = outcome_row(outcome)
                    append_line(results, row)
                    done[outcome.task_id] = row
                bar.update(len(chunk))
    rows = [done[t.id] for t in tasks]
    summary = summarize(rows)
    summary["run"] = {"mode": mode, "rounds": args.rounds, "best_of_n": args.best_of_n, "prompts": str(args.prompts)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    markdown = summary_markdown({k: v for k, v in summary.items() if k != "run"}, f"{mode}: {args.prompts.name}")
    (out / "summary.md").write_text(markdown, encoding="utf-8")
    print(markdown)
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ConfigError, CorruptRowError, PairError, EngineError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
