"""The miniature's critic pairs from the policy's own answers: the base samples code for references of a third draw
(at GRPO's rollout temperature), each rendered answer is labelled by diffing its shapes with the reference's
(``src.data.shape_diff``). A held-out part scores the critic beside its bench (does it see what GRPO will ask it
about?); with ``--answer-references`` the rest joins its training data.

The synthesized pairs alone teach a critic the perturbations' differences, and GRPO then asks it about others: the
policy puts shapes in the wrong cell, recolours and resizes several at once, leaves one out. The paper's critic
learns from annotated outputs of real models; here the annotation is exact and free.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from main_job import StepError, read_jsonl, run_tool

ANSWER_KIND = "policy_answer"


def reference_key(path: str) -> str:
    """Synthesis names an image by its content's hash: one key per distinct reference picture across draws."""
    return Path(path).name


def seen_references(data: Path) -> set[str]:
    """Reference pictures the other steps use: the critic's train/val/bench and the policy's test and RL prompts."""
    seen = {reference_key(r["reference_image"]) for s in ("train", "val") for r in read_jsonl(data / f"{s}.jsonl")}
    seen |= {reference_key(r["gt_img_path"]) for r in read_jsonl(data / "bench.jsonl")}
    for name in ("eval", "rl"):
        seen |= {reference_key(r["reference_image"]) for r in read_jsonl(data / "policy_draw" / f"policy_{name}.jsonl")}
    return seen


def draw_prompts(job: Any, out: Path) -> Path:
    """References of a third draw that no other step uses (``answer_bench_references`` held out, then
    ``answer_references`` for training), as eval_policy prompts."""
    draw = out / "draw"
    total = job.answer_references + job.answer_bench_references
    run_tool(
        job, "answers", "synthesize.py", "--domains", "svg", "--seed-family", "mini", "--seed", "2",
        "--candidates-per-reference", "1", "--n", str(2 * total), "--out", draw,
        "--workers", str(job.workers), "--no-progress",
    )  # fmt: skip
    seen = seen_references(job.dir("data"))
    fresh: dict[str, dict[str, Any]] = {}
    for split in ("train", "val"):  # bench rows carry no source code
        for row in read_jsonl(draw / f"{split}.jsonl"):
            key = reference_key(row["reference_image"])
            if key not in seen:
                fresh.setdefault(key, {**row, "reference_image": str(Path(draw.name) / row["reference_image"])})
    rows = list(fresh.values())[:total]
    if len(rows) < total // 2:
        raise StepError("answers", f"only {len(rows)} unused references in {draw}: lower --answer-references")
    prompts = out / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return prompts


def rollout_temperature(grpo_config: Path) -> float:
    """The temperature GRPO samples rollouts at, so the critic learns the answers it will be asked about."""
    callback = yaml.safe_load(grpo_config.read_text())["trainer"]["callbacks"][0]["init_args"]
    return float(callback["sampling"]["temperature"])


def labelled_rows(prompts: Path, samples: Path) -> tuple[list[dict[str, Any]], Counter[str]]:
    """One pair per rendered, labelable answer (our manifest layout, both sources kept); the rest counted by reason."""
    from src.data.shape_diff import UnlabelableAnswer, label_shape_answer
    from src.render.extract import extract_svg_markup

    references = {row["id"]: row for row in read_jsonl(prompts)}
    rows: list[dict[str, Any]] = []
    left_out: Counter[str] = Counter()
    for sample in read_jsonl(samples):
        if not sample["executed"]:
            left_out["not rendered"] += 1
            continue
        reference = references[sample["id"]]
        try:
            critique = label_shape_answer(reference["reference_source"], sample["answer"])
        except UnlabelableAnswer as error:
            left_out[error.reason] += 1
            continue
        rows.append({
            "id": f"{sample['id']}-answer",
            "reference_id": reference["reference_id"],
            "domain": "svg",
            # relative to the answers folder, where train.jsonl and bench.jsonl lie: the run folder can move
            "reference_image": str(Path(samples.parent.name) / sample["reference_image"]),
            "candidate_image": str(Path(samples.parent.name) / sample["candidate_image"]),
            "reference_source": reference["reference_source"],
            "candidate_source": extract_svg_markup(sample["answer"]),
            "critique": critique.to_official(),
            "kind": ANSWER_KIND,
        })  # fmt: skip
    return rows, left_out


def bench_row(row: dict[str, Any]) -> dict[str, Any]:
    """A held-out pair in the benchmark's layout (what tools/bench_judge.py scores)."""
    from src.data.schema import Critique
    from src.data.shards import official_human_errors

    critique = Critique.from_official(row["critique"], "svg")
    return {
        "id": row["id"], "reference_id": row["reference_id"], "gt_img_path": row["reference_image"],
        "pred_img_path": row["candidate_image"], "category": "svg", "human_errors": official_human_errors(critique),
    }  # fmt: skip


def step_answers(job: Any) -> Path:
    """The base policy's answers on unused references, labelled by diffing shapes: the mistakes RL asks the critic about."""
    out = job.dir("answers")
    for stale in ("train.jsonl", "bench.jsonl"):
        (out / stale).unlink(missing_ok=True)
    if job.answer_references + job.answer_bench_references == 0:
        return out
    prompts = draw_prompts(job, out)
    samples = out / "samples"
    run_tool(
        job, "answers", "eval_policy.py", "--model", job.base, "--prompts", prompts, "--domains", "svg",
        "--temperature", str(rollout_temperature(job.grpo_config)), "--seed", "0", "--max-new-tokens", "128",
        "--max-image-side", "128", "--workers", str(job.workers), "--out", samples,
        *(() if job.progress else ("--no-progress",)),
    )  # fmt: skip
    rows, left_out = labelled_rows(prompts, samples / "samples.jsonl")
    held = {p["reference_id"] for p in read_jsonl(prompts)[: job.answer_bench_references]}
    train = [r for r in rows if r["reference_id"] not in held]
    bench = [bench_row(r) for r in rows if r["reference_id"] in held]
    for name, part in (("train", train), ("bench", bench)):
        if part:  # a base that writes no labelable SVG (a toy run) leaves the file out: nothing to learn or score
            (out / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part))
    errors = Counter(len(r["critique"]["errors"]) for r in rows)
    stats = {"train": len(train), "bench": len(bench), "left_out": dict(left_out), "errors_per_answer": dict(errors)}
    (out / "summary.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(f"[answers] {json.dumps(stats)}", flush=True)
    return out
