"""How well a critic that reads first compares, apart from how well it reads: its critique of GRPO's logged
rollouts when its ``<think>`` block holds the *true* reading of both images (teacher-forced), against its own.

    python tools/critic_given_readings.py --run runs/long/grpo/grpo_critic_s0 \\
        --references runs/long/data/policy_draw/policy_rl.jsonl --critic runs/long/critic/model --groups 12

The agreement (``src.eval.reward_agreement``) of minus the critique's severity sum with the rollouts' true errors,
over the first ``--groups`` logged groups: near the run's own, the critic fails at comparing even what it read
right; near 1, at reading. Writes the JSON to ``--out`` (default: stdout).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # running as a script from a checkout, before `pip install -e .`
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from main_job import read_jsonl  # noqa: E402
from miniature_rollouts import logged_groups, true_error  # noqa: E402

UNREADABLE = -1e6  # a critique that does not parse: below any severity sum
CRITIQUE_TOKENS = 512  # the longest critique of a policy answer (eight discrepancies) is ~420 tokens


def critique_score(model: Any, processor: Any, pair: Any, reading: str, instruction: str, max_side: int) -> float:
    """Minus the severity sum of the critique the critic writes after the true reading of ``pair``."""
    from src.data.collate import TOKEN_KEYS, encode_answer, encode_prompt, load_image, training_sample
    from src.data.prompts import build_critic_messages
    from src.data.reward_datamodule import reading_block
    from src.reward.parse import CritiqueParseError, parse_critique

    images = [load_image(pair.reference_image, max_side), load_image(pair.candidate_image, max_side)]
    prompt = encode_prompt(processor, build_critic_messages("svg", *images, instruction), images)
    # the prompt with the reading appended as the start of the answer, as in training (no end-of-turn after it)
    room = model.config.text_config.max_position_embeddings - CRITIQUE_TOKENS
    sample = training_sample(prompt, encode_answer(processor, reading_block(pair, reading), ""), room, pair.id)
    inputs = {k: v[None] if k in TOKEN_KEYS else v for k, v in sample.items() if k not in ("labels", "prompt")}
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=CRITIQUE_TOKENS, do_sample=False)
    ids = inputs["input_ids"]
    text = processor.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    try:
        return -float(parse_critique(text, "svg").severity_sum)
    except CritiqueParseError:
        return UNREADABLE


def given_readings(run: Path, references: Path, critic: Path, groups: int, reading: str, instruction: str,
                   max_side: int) -> dict[str, Any]:  # fmt: skip
    """Agreement of the critique after the true readings, and of the run's own reward, on the same rollouts."""
    from src.data.shape_diff import label_shape_answer
    from src.data.shards import PairRecord
    from src.eval.reward_agreement import Rollout, group_agreement
    from src.models.loading import VLMLoader, load_vlm
    from src.render.extract import extract_svg_markup

    sources = {row["id"]: row["reference_source"] for row in read_jsonl(references)}
    model, processor = load_vlm(VLMLoader(str(critic), dtype="float32", attn_implementation="sdpa"))
    model.eval()
    given: list[list[Rollout]] = []
    own: list[list[Rollout]] = []
    for step_dir, g, rows in logged_groups(run):
        if len(given) == groups:
            break
        a, b = [], []
        for row in rows:
            reference = sources[row["prompt_id"]]
            error = true_error(reference, row)
            if not row["rendered"] or not isinstance(error, float):
                continue
            pair = PairRecord(
                f"{row['prompt_id']}-{row['rollout']}", "svg", step_dir / f"g{g}-reference.png",
                step_dir / f"g{g}-{row['rollout']}.png", label_shape_answer(reference, row["completion"]),
                reference, extract_svg_markup(row["completion"]),
            )  # fmt: skip
            a.append(Rollout(error, critique_score(model, processor, pair, reading, instruction, max_side)))
            b.append(Rollout(error, float(row["reward"])))
        if len(a) > 1:
            given.append(a)
            own.append(b)
    return {"given_true_readings": group_agreement(given).to_dict(), "own": group_agreement(own).to_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a GRPO run folder with logged rollout groups")
    parser.add_argument("--references", type=Path, required=True, help="the run's prompts (policy_rl.jsonl)")
    parser.add_argument("--critic", type=Path, required=True, help="the critic's model folder")
    parser.add_argument("--groups", type=int, default=12, help="logged groups to score")
    parser.add_argument("--reading", choices=("code", "shapes"), default="code", help="what the critic reads as")
    parser.add_argument("--instruction", choices=("full", "short"), default="short")
    parser.add_argument("--max-image-side", type=int, default=128)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    problem = (
        f"--groups must be >= 1, got {args.groups}" if args.groups < 1
        else f"no logged rollout groups under {args.run}" if next(logged_groups(args.run), None) is None
        else f"--references {args.references} is not a file" if not args.references.is_file()
        else f"--critic {args.critic} has no config.json" if not (args.critic / "config.json").is_file()
        else None
    )  # fmt: skip
    if problem:
        print(problem, file=sys.stderr)
        return 2
    result = given_readings(args.run, args.references, args.critic, args.groups, args.reading, args.instruction,
                            args.max_image_side)  # fmt: skip
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
