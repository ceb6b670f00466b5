"""What each miniature GRPO run's reward told RL: its rollouts (every group, logged by the rollout callback) labelled
exactly against their references (``src.data.shape_diff``), and the reward's within-group ordering checked against
those labels (``src.eval.reward_agreement``). The pixel reward the job trains its baseline with is scored on the same
rollouts from their renders, so the critic and the baseline are compared on one set of answers.

A critic can describe synthesized pairs well and still give GRPO nothing: here that shows as groups whose rollouts
all got one reward, or an agreement near 0.5.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from main_job import read_jsonl

UNRENDERED = -1e6  # a reading-based score for a rollout that did not render: below any diff of two readings
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_SVG_BLOCK = re.compile(r"```svg\n(.*?)```", re.DOTALL)


def true_error(reference_source: str, row: dict[str, Any]) -> float | str:
    """The severity sum of the rollout's exact critique (``inf`` if it did not render), or why it has none."""
    from src.data.shape_diff import UnlabelableAnswer, label_shape_answer

    if not row["rendered"]:
        return math.inf
    try:
        return float(label_shape_answer(reference_source, row["completion"]).severity_sum)
    except UnlabelableAnswer as error:
        return error.reason


def reading_score(critique: str | None, reference_source: str) -> float | None:
    """Minus the severity sum of the exact diff between the two images as a transcribing critic read them in its
    ``<think>`` block — two code blocks, or its shapes side by side (``src.data.shape_reading``) — or ``None``
    without a readable reading: what its reward would be if its critique followed its own readings, which tells a
    critic that misreads from one that reads well and compares badly."""
    from src.data.shape_diff import UnlabelableAnswer, diff_shape_sets, diff_shapes, parse_shapes
    from src.data.shape_reading import read_pairs

    think = _THINK.search(critique or "")
    if think is None:
        return None
    blocks = _SVG_BLOCK.findall(think.group(1))
    try:
        if len(blocks) == 2:
            return -float(diff_shapes(blocks[0], blocks[1]).severity_sum)
        if blocks:
            return None
        reference, answer = read_pairs(think.group(1))
        return -float(diff_shape_sets(parse_shapes(reference_source)[0], reference, answer).severity_sum)
    except UnlabelableAnswer:
        return None


def pixel_rewards(pixel_reward: Any, step_dir: Path, group: int, rows: list[dict[str, Any]]) -> list[float]:
    """``pixel_reward`` on one logged group, from its saved renders."""
    from src.render.job import RenderResult
    from src.reward.pair import RewardPair, load_reference

    reference = load_reference(step_dir / f"g{group}-reference.png")
    pairs = []
    for row in rows:
        png = step_dir / f"g{group}-{row['rollout']}.png"
        rendered = row["rendered"] and png.exists()
        candidate = RenderResult(ok=True, png=png.read_bytes()) if rendered else RenderResult.failure("runtime", "")
        pairs.append(RewardPair(reference=reference, candidate=candidate, domain=row["domain"]))
    return list(pixel_reward(pairs))


def logged_groups(run_dir: Path) -> Iterator[tuple[Path, int, list[dict[str, Any]]]]:
    """Every group a GRPO run logged: the folder holding its renders (``g<group>-<rollout>.png``), its index in that
    step, and its rollouts."""
    for samples in sorted(run_dir.rglob("rollout_samples/*/samples.jsonl")):
        groups: dict[int, list[dict[str, Any]]] = {}
        for row in read_jsonl(samples):
            groups.setdefault(row["group"], []).append(row)
        for g, rows in groups.items():
            yield samples.parent, g, rows


def run_agreement(run_dir: Path, references: Path, pixel_reward: Any) -> dict[str, Any]:
    """Agreement of the run's own reward and of the pixel reward with the truth, over its logged groups."""
    from src.eval.reward_agreement import Rollout, group_agreement

    sources = {row["id"]: row["reference_source"] for row in read_jsonl(references)}
    own: list[list[Rollout]] = []
    pixel: list[list[Rollout]] = []
    readings: list[list[Rollout]] = []
    unlabelable: Counter[str] = Counter()
    for step_dir, g, rows in logged_groups(run_dir):
        errors = [true_error(sources[row["prompt_id"]], row) for row in rows]
        kept = [(row, e) for row, e in zip(rows, errors, strict=True) if isinstance(e, float)]
        unlabelable.update(e for e in errors if isinstance(e, str))
        if len(kept) < 2:
            continue
        own.append([Rollout(e, float(row["reward"])) for row, e in kept])
        rewards = pixel_rewards(pixel_reward, step_dir, g, [row for row, _ in kept])
        pixel.append([Rollout(e, r) for (_, e), r in zip(kept, rewards, strict=True)])
        source = sources[rows[0]["prompt_id"]]  # one prompt a group
        read = [(e, UNRENDERED if not row["rendered"] else reading_score(row.get("critique"), source))
                for row, e in kept]  # fmt: skip
        readings.append([Rollout(e, r) for e, r in read if r is not None])
    out = {
        "reward": group_agreement(own).to_dict(),
        "pixel": group_agreement(pixel).to_dict(),
        "unlabelable": dict(unlabelable),
    }
    if any(r.reward != UNRENDERED for group in readings for r in group):  # a critic that writes its readings
        out["readings"] = group_agreement(readings).to_dict()
    return out


def step_agreement(
    job: Any, runs: list[tuple[str, int]], references: Path, pixel_reward: dict[str, Any]
) -> dict[str, Any]:
    """``reward_agreement.<run>`` for summary.json: one entry per GRPO run that logged its groups; ``pixel_reward``
    is the baseline's reward block (``class_path``/``init_args``), kept beside the result as ``pixel_reward.yaml``."""
    from src.reward.pair import RewardFunction
    from src.yaml_objects import instantiate

    config = job.dir("grpo") / "pixel_reward.yaml"
    config.write_text(yaml.safe_dump(pixel_reward, sort_keys=False))
    reward = instantiate(config, RewardFunction, "reward")
    out: dict[str, Any] = {}
    for variant, seed in runs:
        run_dir = job.dir("grpo") / f"{variant}_s{seed}"
        if next(logged_groups(run_dir), None) is not None:
            out[f"{variant}_s{seed}"] = run_agreement(run_dir, references, reward)
    (job.dir("grpo") / "reward_agreement.json").write_text(json.dumps(out, indent=2) + "\n")
    return out
