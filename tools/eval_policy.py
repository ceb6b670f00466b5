"""Evaluate a vision-to-code policy: generate code for reference images, render it, score it per domain.

With a local checkpoint (``HFEngine``) on our synthesized validation split::

    python tools/eval_policy.py --model runs/grpo/tiny/policy --data-dir data/synth --split val --out runs/eval/tiny

With any engine (e.g. ``vllm serve`` through ``OpenAIEngine``), JSONL prompts (``image``/``gt_img_path``,
``domain``/``category``, ``code``), the Visual-ERM judge and a DINOv2 encoder from disk::

    python tools/eval_policy.py --policy policy_engine.yaml --prompts chartmimic.jsonl --judge judge.yaml \\
        --embedding-model /models/dinov2-base --out runs/eval/qwen3vl-8b

Answers the policy already wrote (``answers.jsonl`` rows with ``id`` and ``answer``) are scored without generating
with ``--answers FILE``. Writes ``answers.jsonl``, ``samples.jsonl`` (per sample), ``summary.json`` and
``summary.md`` (per domain: execution rate; charts: ChartMimic low-level F1s; tables: TEDS, TEDS-S, edit
distance; SVG: SSIM, MSE, embedding cosine; the judge's mean reward), ``images/`` and, with ``--report``,
``report.html``. Exit status 2 with a one-line reason on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))

from tqdm import tqdm  # noqa: E402

from src.data.collate import load_image  # noqa: E402
from src.data.prompts import build_policy_messages  # noqa: E402
from src.data.shards import CorruptRowError  # noqa: E402
from src.data.vision_to_code_datamodule import PolicyPrompt, VisionToCodeDataModule  # noqa: E402
from src.engines.engine import ChatRequest, EngineError, GenerationEngine, SamplingSettings  # noqa: E402
from src.eval.metrics.policy import PolicyAnswer, ResultWriter, score_answers, summary_markdown  # noqa: E402
from src.eval.metrics.svg import SVGMetrics  # noqa: E402
from src.render import RenderPool  # noqa: E402
from src.reward.pair import PairError, RewardFunction, load_reference  # noqa: E402
from src.yaml_objects import ConfigError, instantiate  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    policy = parser.add_mutually_exclusive_group(required=True)
    policy.add_argument("--model", type=Path, help="local checkpoint directory, served with HFEngine")
    policy.add_argument("--policy", type=Path, help="engine YAML (class_path/init_args) of the policy")
    policy.add_argument("--answers", type=Path, help="score these answers (JSONL: id, answer) instead of generating")
    parser.add_argument("--data-dir", type=Path, help="shard directory from tools/synthesize.py")
    parser.add_argument("--split", default="val", help="manifest of --data-dir to evaluate on")
    parser.add_argument("--prompts", type=Path, nargs="+", default=[], help="JSONL prompt files (image, domain, code)")
    parser.add_argument("--domains", nargs="+", choices=("chart", "table", "svg"), help="only these domains")
    parser.add_argument("--limit", type=int, help="evaluate only the first N prompts")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per engine call")
    parser.add_argument("--max-new-tokens", type=int, default=2048)
    parser.add_argument("--temperature", type=float, default=0.0, help="0: greedy (the usual for benchmarks)")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-image-side", type=int, default=1024, help="longest side the policy sees")
    parser.add_argument("--judge", type=Path, help="YAML of a critique judge or scalar reward: adds its score")
    parser.add_argument("--embedding-model", type=Path, help="image encoder on disk for SVG embedding cosine")
    parser.add_argument("--workers", type=int, default=2, help="render pool workers")
    parser.add_argument("--render-timeout-s", type=float, default=15.0, help="per render (paper: 15 s)")
    parser.add_argument("--score-chunk", type=int, default=64, help="samples rendered and scored per pool call")
    parser.add_argument("--report", action="store_true", help="also write report.html")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def load_prompts(args: argparse.Namespace) -> list[PolicyPrompt]:
    """The evaluation set through ``VisionToCodeDataModule`` (one prompt per distinct reference image)."""
    if args.data_dir is None and not args.prompts:
        raise ConfigError("give --data-dir (with --split) or --prompts FILE.jsonl: there is nothing to evaluate")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit: must be >= 1, got {args.limit}")
    prompt_files = [str(p) for p in args.prompts]
    datamodule = VisionToCodeDataModule(
        data_dir=str(args.data_dir) if args.data_dir else None,
        val_split=args.split if args.data_dir else None,
        # The DataModule always reads a training source; evaluation from JSONL alone names the same files there.
        train_jsonl=prompt_files if args.data_dir is None else None,
        val_jsonl=prompt_files,
        domains=args.domains,
        max_image_side=args.max_image_side,
        max_val_prompts=args.limit,
        num_workers=0,
    )
    datamodule.setup("validate")
    for row in datamodule.corrupt_rows:
        print(f"skipped: {row}", file=sys.stderr)
    if not datamodule.val_prompts:
        raise ConfigError("no usable prompts in the evaluation set (check --split, --prompts and --domains)")
    return datamodule.val_prompts


def generate_answers(
    engine: GenerationEngine, prompts: Sequence[PolicyPrompt], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """One greedy (or sampled) answer per prompt, in prompt order; an engine error becomes an empty answer."""
    sampling = SamplingSettings(
        temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens, seed=args.seed
    )
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(prompts), desc="generate", unit="prompt", disable=args.no_progress)
    for start in range(0, len(prompts), args.batch_size):
        chunk = prompts[start : start + args.batch_size]
        requests = [
            ChatRequest(build_policy_messages(p.domain, load_image(p.image_path, args.max_image_side)), tag=p.id)
            for p in chunk
        ]
        for prompt, (completion, *_) in zip(chunk, engine.generate(requests, n=1, sampling=sampling), strict=True):
            rows.append(
                {
                    "id": prompt.id,
                    "domain": prompt.domain,
                    "answer": completion.text if completion.error is None else "",
                    "finish_reason": completion.finish_reason,
                    "engine_error": completion.error,
                }
            )
        bar.update(len(chunk))
    bar.close()
    return rows


def read_answers(path: Path, prompts: Sequence[PolicyPrompt]) -> list[dict[str, Any]]:
    """Answers by prompt id from a JSONL file; a prompt without an answer is an error that names it."""
    if not path.is_file():
        raise ConfigError(f"--answers {path} does not exist")
    by_id: dict[str, str] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            by_id[str(row["id"])] = str(row["answer"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path}:{line_no}: expected a JSON object with id and answer ({exc})") from None
    missing = [p.id for p in prompts if p.id not in by_id]
    if missing:
        raise ConfigError(f"{path}: no answer for {len(missing)} prompt(s), e.g. {missing[0]!r}")
    return [{"id": p.id, "domain": p.domain, "answer": by_id[p.id]} for p in prompts]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Everything ``main`` does, raising typed errors; returns the summary it wrote."""
    for name in ("batch_size", "workers", "score_chunk"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: must be >= 1")
    prompts = load_prompts(args)
    judge = instantiate(args.judge, RewardFunction, "judge") if args.judge else None
    embedding = None
    if args.embedding_model is not None:
        from src.reward.baselines import EmbeddingCosineReward

        if not args.embedding_model.exists():
            raise ConfigError(f"--embedding-model {args.embedding_model} does not exist")
        embedding = EmbeddingCosineReward(args.embedding_model)
    svg_metrics = SVGMetrics(embedding=embedding)

    start = time.perf_counter()
    if args.answers is not None:
        answer_rows, policy_name = read_answers(args.answers, prompts), f"answers: {args.answers}"
    else:
        if args.model is not None:
            from src.engines.hf_engine import HFEngine

            engine: GenerationEngine = HFEngine.from_pretrained(args.model, max_batch_size=args.batch_size)
            policy_name = f"HFEngine: {args.model}"
        else:
            engine = instantiate(args.policy, GenerationEngine, "engine")
            policy_name = f"engine: {args.policy}"
        try:
            answer_rows = generate_answers(engine, prompts, args)
        finally:
            engine.close()
    generate_s = time.perf_counter() - start
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "answers.jsonl").open("w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in answer_rows)

    start = time.perf_counter()
    writer = ResultWriter(args.out)
    bar = tqdm(total=len(prompts), desc="render+score", unit="sample", disable=args.no_progress)
    with RenderPool(workers=args.workers, timeout_s=args.render_timeout_s) as pool:
        for first in range(0, len(prompts), args.score_chunk):  # one chunk of reference images in memory at a time
            chunk = list(zip(prompts, answer_rows, strict=True))[first : first + args.score_chunk]
            answers = [
                PolicyAnswer(p.id, p.domain, load_reference(p.image_path), row["answer"], p.reference_code)
                for p, row in chunk
            ]
            writer.add(answers, score_answers(answers, pool, svg_metrics, judge))
            bar.update(len(chunk))
    bar.close()
    score_s = time.perf_counter() - start
    config = {
        "policy": policy_name,
        "prompts": len(prompts),
        "data_dir": str(args.data_dir) if args.data_dir else None,
        "split": args.split if args.data_dir else None,
        "prompt_files": [str(p) for p in args.prompts],
        "sampling": {"temperature": args.temperature, "top_p": args.top_p, "max_new_tokens": args.max_new_tokens},
        "judge": str(args.judge) if args.judge else None,
        "embedding_model": str(args.embedding_model) if args.embedding_model else None,
        "seconds": {"generate": round(generate_s, 3), "render_and_score": round(score_s, 3)},
    }
    summary = writer.finish(config)
    if args.report:
        from src.eval.report import write_evaluation_report

        write_evaluation_report(args.out)
    print(summary_markdown(summary))
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except (ConfigError, CorruptRowError, PairError, EngineError, FileNotFoundError, ValueError) as exc:
        print(f"eval_policy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
