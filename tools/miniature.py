"""The paper in miniature on a CPU: a critic that generalizes, and RL with it that makes a policy better.

    python tools/main_job.py                 # this job (what `make demo` runs); rerun to continue where it stopped
    python tools/main_job.py --quick         # the short smoke pipeline of every stage instead

Every model starts from a small random Qwen3-VL (``src.models.tiny.SMALL``; the critic at ``--critic-size``) on
plain-shape SVGs (seed family ``mini``), and every training step goes through the LightningCLI and the stage configs a
GPU run uses:

1. ``data``     — labelled (reference, candidate) pairs of the mini family, the visually obvious perturbation kinds
   by default (colour, shape, position, size, a missing or an extra element; ``--kinds grid_edit``: only candidates
   that stay in the family), split per reference: the critic is scored on references it never saw (the ``bench``
   split); and a second draw of references no SFT step sees, split into the policy's test set and GRPO's prompts
   (``policy_draw/``);
2. ``model``    — the small random Qwen3-VL, its tokenizer trained with the task's code and critiques;
3. ``base``     — image -> code SFT on the train references (``configs/base_sft/mini.yaml``): a base that sees, and
   already the SFT policy, as the paper's critic and policy both start from one instruction-tuned model;
4. ``answers``  — the base's own answers (sampled as GRPO samples rollouts) on a third draw of references, each
   labelled by diffing its shapes with the reference's (``tools/miniature_answers.py``): the mistakes the critic will
   be asked about in RL, held out to score it on (and, with ``--answer-references``, more of them to train it on, as
   the paper's critic learns from annotated outputs of real models);
5. ``critic``   — critic SFT from the base (``configs/reward_sft/mini.yaml``); with ``--critic-size`` other than the
   policy's, from a base of that size trained first as step 3 trains the policy's (step ``critic_base``);
6. ``critic_eval`` — the critic on held-out pairs (F1h, F1s, severity Pearson, parse rate) beside two baselines
   (``empty``: no discrepancies; ``pixel_majority``: the most common training discrepancy whenever any pixel
   differs), on the synthesized pairs and on the base's held-out answers, and its loss with the candidate replaced
   by the reference (proof that it looks);
7. ``grpo``     — GRPO from the base with (a) the critic through ``VisualERMJudge``, (b) a pixel reward
   (render + 1 − MSE) and, with ``--exact-seeds``, (c) the exact critique a perfect critic would write; one run per
   seed, on the second draw's RL references (``configs/grpo/mini.yaml``); every logged rollout labelled exactly and
   each reward's ordering of a group checked against it (``tools/miniature_rollouts.py``);
8. ``policy_eval`` — every policy (SFT, and each GRPO run) on the second draw's test references: render rate and SSIM;
9. ``report``   — ``summary.json`` (the keys below) and ``report/index.html`` with the learning curves.

``summary.json``: ``critic.heldout.{pairs, parse_rate, f1_hard, f1_soft, severity_pearson, false_alarm_rate,
clean_pairs}``, ``critic.baselines.<name>.{f1_hard, f1_soft, severity_pearson, false_alarm_rate}`` (the false-alarm
rate: the share of the ``clean_pairs``, those with no true discrepancy, where one is named),
``critic.grounding.{real, blind, gap}``, ``critic.seed`` (``--critic-seed``),
``critic.policy_answers.{heldout, baselines}`` (the same scores on the base's held-out answers),
``reward_agreement.<run>.{reward, pixel, readings}.{groups, rollouts, pairs, agreement, tied_groups, mixed_groups}``
(how the run's own reward, the pixel reward and, for a transcribing critic, the exact diff of its two readings ordered
its rollouts, against their exact differences),
``policy.<variant>.svg.{render_rate, score, seeds}`` for ``sft``, ``grpo_critic``, ``grpo_baseline`` and (with
``--exact-seeds``) ``grpo_exact``, where
``score`` is SSIM against the reference with an unrendered answer scoring 0.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from main_job import ROOT, StepError, fit, read_jsonl, run, run_tool, with_loggers
from miniature_answers import step_answers
from miniature_rollouts import step_agreement

CONFIGS = ROOT / "configs"
# The visually obvious kinds: each changes a whole shape's pixels, so a model that sees at 32 px a token can tell. Many
# of their candidates could be no reference (an off-grid shift, an odd size, a corner dot); ``--kinds grid_edit`` makes
# only candidates inside the family, which a critic can tell only by comparing (``src.data.perturb.mini_svg``).
MINI_KINDS = ("fill_colour", "shape_kind", "position", "size", "missing_element", "extra_element")
VARIANTS = ("sft", "grpo_critic", "grpo_baseline", "grpo_exact")
POLICY_SIZE = "small"  # src.models.tiny.SMALL: the policy's size, and the critic's unless --critic-size says otherwise
# Prompts a generate call when scoring a policy: every prompt has the same length (one 128 px image), so a larger
# batch pads nothing and pays the per-token overhead of a small model fewer times.
POLICY_EVAL_BATCH = 24
# A critic that writes both images' code first: two plain-shape SVGs (~110 tokens each at most) and the think tags
# before its critique; the sample (two 16-token images, the prompt and that answer) stays under this length.
TRANSCRIPTION_TOKENS = 256
TRANSCRIBING_LENGTH = 1024


@dataclass
class MiniJob:
    """Where every step reads and writes, and the sizes of the run (the defaults fit ~30 minutes on 2 idle cores)."""

    root: Path
    pairs: int = 1600  # 4 candidates a reference: 400 references, 5 % of them (~80 pairs) held out as bench
    base_steps: int = 800
    critic_steps: int = 2200
    grpo_steps: int = 20
    grpo_eval_every: int = 10  # the held-out score of each GRPO run at every this many steps too (0: the end only)
    critic_seeds: tuple[int, ...] = (0, 1, 2)
    baseline_seeds: tuple[int, ...] = (0,)
    exact_seeds: tuple[int, ...] = ()  # GRPO with the exact critique (src.reward.baselines.exact): the upper bound
    eval_references: int = 120
    rl_references: int = 240
    answer_references: int = 0  # the base's answers the critic also learns from (a third draw of references)
    kinds: tuple[str, ...] = MINI_KINDS  # perturbation kinds of the critic's pairs
    max_perturbations: int = 2
    critic_image_side: int = 128  # the critic's images: 128 px is 16 tokens an image, 256 px 64
    critic_transcribes: bool = False  # the critic writes its reading of both images in a <think> block first
    critic_reading: str = "code"  # that reading: both images' code, or their shapes side by side ("shapes")
    answer_bench_references: int = 64  # the base's answers the critic is scored on: the mistakes RL asks it about
    critic_size: str = "small"  # a key of src.models.tiny.MODEL_SIZES; other than the policy's: its own base first
    critic_seed: int = 0  # the critic's sample order and initial state: another seed is another training of it
    compare: Path | None = None  # another run (e.g. runs/long) whose verdicts and curves the report shows beside
    workers: int = 2
    progress: bool = True

    def dir(self, step: str) -> Path:
        return self.root / step

    @property
    def base(self) -> Path:
        return self.dir("base") / "model"

    @property
    def critic_has_own_base(self) -> bool:
        """A critic of another size than the policy's needs a base of that size (step ``critic_base``)."""
        return self.critic_size != POLICY_SIZE

    @property
    def critic_base(self) -> Path:
        """What the critic is fine-tuned from: the policy's base, or its own."""
        return self.dir("critic_base") / "model" if self.critic_has_own_base else self.base

    @property
    def critic(self) -> Path:
        return self.dir("critic") / "model"

    @property
    def profile(self) -> Path:
        return self.dir("critic") / "profile.json"

    @property
    def grpo_config(self) -> Path:
        return CONFIGS / "grpo" / "mini.yaml"

    def grpo_runs(self) -> list[tuple[str, int]]:
        return (
            [("grpo_critic", s) for s in self.critic_seeds]
            + [("grpo_baseline", s) for s in self.baseline_seeds]
            + [("grpo_exact", s) for s in self.exact_seeds]
        )


def stage_config(job: MiniJob, step_dir: Path, config: Path, steps: int) -> dict[str, Any]:
    """A stage YAML with this job's loggers, length and data (validated four times when there is a val split)."""
    out = with_loggers(yaml.safe_load(config.read_text()), step_dir, job.progress)
    out["trainer"]["max_steps"] = steps
    out["data"]["init_args"]["data_dir"] = str(job.dir("data"))
    if "val_check_interval" in out["trainer"]:
        if read_jsonl(job.dir("data") / "val.jsonl"):
            out["trainer"]["val_check_interval"] = max(1, steps // 4)
        else:  # a small run may draw no val reference
            out["trainer"].update(val_check_interval=None, limit_val_batches=0)
            out["data"]["init_args"]["val_split"] = None
    return out


# -- steps --------------------------------------------------------------------------------------------------------
def step_data(job: MiniJob) -> Path:
    """Plain-shape SVG pairs (train / val / bench, split per reference)."""
    out = job.dir("data")
    run_tool(
        job, "data", "synthesize.py", "--domains", "svg", "--seed-family", "mini", "--kinds", *job.kinds,
        "--max-perturbations", str(job.max_perturbations), "--n", str(job.pairs), "--out", out, "--workers", str(job.workers),
        *(() if job.progress else ("--no-progress",)),
    )  # fmt: skip
    if not read_jsonl(out / "bench.jsonl"):
        raise StepError("data", f"no held-out (bench) pairs in {out}: raise --pairs")
    write_policy_references(job)
    return out


def write_policy_references(job: MiniJob) -> Path:
    """References of a second draw whose code no SFT reference has: the policy's RL prompts and its test set.

    The bench split holds ~5 % of the references, too few to tell two policies apart; and GRPO on the references the
    base was fitted to has nothing left to fix (its rollouts are right, every reward the same). A second draw with
    another seed is free: its unseen references are split into ``eval_references`` for the test and the rest for RL.
    """
    draw = job.dir("data") / "policy_draw"
    run_tool(
        job, "data", "synthesize.py", "--domains", "svg", "--seed-family", "mini", "--seed", "1",
        "--candidates-per-reference", "1", "--n", str(2 * (job.eval_references + job.rl_references)), "--out", draw,
        "--workers", str(job.workers), "--no-progress",
    )  # fmt: skip
    seen = {row["reference_source"] for row in read_jsonl(job.dir("data") / "train.jsonl")}
    unseen: dict[str, dict[str, Any]] = {}
    for split in ("train", "val"):  # bench rows carry no source code (the benchmark's layout)
        for row in read_jsonl(draw / f"{split}.jsonl"):
            if row["reference_source"] not in seen:
                unseen.setdefault(row["reference_source"], row)
    rows = list(unseen.values())
    if len(rows) < job.eval_references + job.rl_references // 2:
        raise StepError("data", f"only {len(rows)} unseen references in {draw}: lower --eval-references")
    for name, part in (("eval", rows[: job.eval_references]), ("rl", rows[job.eval_references :][: job.rl_references])):
        (draw / f"policy_{name}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in part))
    return draw


def random_model(job: MiniJob, out: Path, size: str) -> Path:
    """A random Qwen3-VL of ``size`` whose tokenizer is fitted to the task's text (the same for every size)."""
    from src.data.prompts import POLICY_INSTRUCTIONS, critic_instruction, fenced_answer
    from src.models.tiny import MODEL_SIZES, build_tiny_qwen3_vl

    rows = read_jsonl(job.dir("data") / "train.jsonl")
    corpus = [POLICY_INSTRUCTIONS["svg"], critic_instruction("svg", "short")] * 20
    for row in rows:
        corpus += [fenced_answer("svg", row["reference_source"]), json.dumps(row["critique"], indent=2)]
    return build_tiny_qwen3_vl(out, size=MODEL_SIZES[size], extra_corpus=corpus)


def step_model(job: MiniJob) -> Path:
    """The small random Qwen3-VL both models start from, its tokenizer fitted to the task's text."""
    return random_model(job, job.dir("model") / "small-qwen3-vl", POLICY_SIZE)


def train_base(job: MiniJob, step: str, start: Path, out: Path) -> Path:
    """Image -> code SFT of ``start`` on the train references, written to ``out``."""
    config = stage_config(job, job.dir(step), CONFIGS / "base_sft" / "mini.yaml", job.base_steps)
    config["model"]["init_args"]["loader"]["name_or_path"] = str(start)
    config["model"]["init_args"]["model_dir"] = str(out)
    fit(job, step, config)  # type: ignore[arg-type]
    if not (out / "config.json").exists():
        raise StepError(step, f"training wrote no model at {out}")
    return out


def step_base(job: MiniJob) -> Path:
    """Image -> code SFT of the small model on the train references: the visually grounded base (and SFT policy)."""
    return train_base(job, "base", job.dir("model") / "small-qwen3-vl", job.base)


def step_critic_base(job: MiniJob) -> Path:
    """A critic larger than the policy: a random model of its size, grounded by the same image -> code SFT."""
    start = random_model(job, job.dir("critic_base") / f"{job.critic_size}-qwen3-vl", job.critic_size)
    return train_base(job, "critic_base", start, job.critic_base)


def step_critic(job: MiniJob) -> Path:
    """Critic SFT from the base; the profile the judge asks it with (short instruction, greedy)."""
    from src.engines.engine import SamplingSettings
    from src.reward.critic_profile import builtin_profile, save_profile

    out = job.dir("critic")
    config = stage_config(job, out, CONFIGS / "reward_sft" / "mini.yaml", job.critic_steps)
    answers = job.dir("answers") / "train.jsonl"
    if answers.exists():
        config["data"]["init_args"]["train_jsonl"] = [str(answers)]
    config["data"]["init_args"].update(max_image_side=job.critic_image_side, seed=job.critic_seed)
    config["seed_everything"] = job.critic_seed
    if job.critic_transcribes:  # the readings are in every answer: no separate transcription samples
        config["data"]["init_args"].update(
            transcribe_first=True, reading=job.critic_reading, transcribe_share=0.0, max_length=TRANSCRIBING_LENGTH
        )
        config["model"]["init_args"]["max_new_tokens"] += TRANSCRIPTION_TOKENS
    init = config["model"]["init_args"]
    init["loader"].update(name_or_path=str(job.critic_base), max_pixels=job.critic_image_side**2)
    init["model_dir"] = str(job.critic)
    fit(job, "critic", config)  # type: ignore[arg-type]
    profile = builtin_profile(max_image_side=job.critic_image_side, instruction="short")
    greedy = SamplingSettings(temperature=0.0, max_new_tokens=int(init.get("max_new_tokens", 160)))
    save_profile(replace(profile, sampling=greedy), job.profile)
    return job.critic


def judge_config(job: MiniJob) -> dict[str, Any]:
    return {
        "class_path": "src.reward.judge.VisualERMJudge",
        "init_args": {
            "engine": {"class_path": "src.engines.hf_engine.hf_engine", "init_args": {"name_or_path": str(job.critic)}},
            "profile": str(job.profile),
            "retries": 0,
        },
    }


def step_critic_eval(job: MiniJob) -> Path:
    """The critic on pairs of held-out references, two baselines on the same pairs, and whether it looks."""
    out = job.dir("critic_eval")
    judge = out / "judge.yaml"
    judge.write_text(yaml.safe_dump(judge_config(job), sort_keys=False))
    train = read_jsonl(job.dir("data") / "train.jsonl") + read_jsonl(job.dir("answers") / "train.jsonl")
    for bench, image_root, folder in heldout_benches(job):
        score_bench(job, bench, image_root, judge, folder)
        for name, rows in baseline_predictions(train, bench, image_root).items():
            path = folder / f"{name}_predictions.json"
            path.write_text(json.dumps(rows))
            score_bench(job, bench, image_root, path, folder / name, predictions=True)
    (out / "grounding.json").write_text(json.dumps(grounding(job), indent=2) + "\n")
    return out


def heldout_benches(job: MiniJob) -> list[tuple[Path, Path, Path]]:
    """(bench, image root, output folder): the synthesized pairs of unseen references, and the base's labelled
    answers on references no step trained on when the answers step made them (``critic_eval/answers/``)."""
    out = job.dir("critic_eval")
    benches = [(job.dir("data") / "bench.jsonl", job.dir("data"), out)]
    answers = job.dir("answers") / "bench.jsonl"
    if answers.exists():
        benches.append((answers, job.dir("answers"), out / "answers"))
    return benches


def score_bench(
    job: MiniJob, bench: Path, image_root: Path, judge: Path, folder: Path, predictions: bool = False
) -> None:
    """tools/bench_judge.py on one bench: the critic through ``judge`` or fixed ``predictions``."""
    source = ("--predictions", judge) if predictions else ("--judge", judge, "--batch-size", "8")
    target = folder if predictions else folder / "critic"
    run_tool(
        job, "critic_eval", "bench_judge.py", "--bench", bench, "--image-root", image_root, *source, "--out", target,
        *(() if job.progress else ("--no-progress",)),
    )  # fmt: skip


def baseline_predictions(train: list[dict[str, Any]], bench: Path, image_root: Path) -> dict[str, list[dict[str, Any]]]:
    """Bench rows with the critiques of two critics that never look closely.

    ``empty`` names no discrepancy. ``pixel_majority`` names, whenever any pixel differs, the most common training
    discrepancy (category, severity, location and description together), the best constant answer a critic that only
    sees *whether* the images differ can give.
    """
    from src.data.synthesis import SynthesisConfig, changed_pixels

    counts = Counter(json.dumps(e, sort_keys=True) for row in train for e in row["critique"].get("errors", []))
    majority = json.loads(counts.most_common(1)[0][0])
    empty_critique = {k: 0 for k in ("structure_error_count", "shape_error_count", "style_error_count")}
    empty_critique |= {"text_symbol_error_count": 0, "errors": []}
    rows_empty, rows_majority = [], []
    for row in read_jsonl(bench):
        reference, candidate = ((image_root / row[k]).read_bytes() for k in ("gt_img_path", "pred_img_path"))
        differs = changed_pixels(reference, candidate, SynthesisConfig.pixel_tolerance) > 0
        one = dict(empty_critique, errors=[majority] if differs else [])
        if differs:
            one[majority["category"].removesuffix("_error") + "_error_count"] = 1
        rows_empty.append({**row, "pred_json": empty_critique})
        rows_majority.append({**row, "pred_json": one})
    return {"empty": rows_empty, "pixel_majority": rows_majority}


def grounding(job: MiniJob) -> dict[str, float | None]:
    """Loss per critique token on the held-out pairs with the real candidate and with the reference twice."""
    from src.data.shards import load_pairs
    from src.eval.critic_grounding import grounding_loss
    from src.models.loading import VLMLoader, load_vlm

    data = yaml.safe_load((job.dir("critic") / "job_config.yaml").read_text())["data"]["init_args"]
    transcribes = bool(data.get("transcribe_first", False))
    # a critic that transcribes first is scored on its whole answer, which needs both sources: the val pairs (held
    # out by reference like the bench, whose rows carry no code)
    manifest = job.dir("data") / ("val.jsonl" if transcribes else "bench.jsonl")
    if not read_jsonl(manifest):  # a small run may draw no val reference
        return {"pairs": 0, "real": None, "blind": None, "gap": None}
    pairs, _ = load_pairs(manifest)
    model, processor = load_vlm(VLMLoader(str(job.critic), dtype="float32", attn_implementation="sdpa"))
    result = grounding_loss(
        model, processor, pairs, instruction=data.get("instruction", "full"), max_image_side=job.critic_image_side,
        max_length=TRANSCRIBING_LENGTH if transcribes else 512, errors_first=bool(data.get("errors_first", False)),
        transcribe_first=transcribes, reading=data.get("reading", "code"),
    )  # fmt: skip
    return {"pairs": result.pairs, "real": result.real, "blind": result.blind, "gap": result.gap}


def step_grpo(job: MiniJob) -> Path:
    """GRPO from the base: with the critic's reward and with a pixel reward, one run per seed."""
    from src.models.loading import merge_adapter

    for variant, seed in job.grpo_runs():
        out = job.dir("grpo") / f"{variant}_s{seed}"
        merged = out / "merged"
        if (merged / "config.json").exists():
            print(f"[grpo] {merged} exists: skipped", flush=True)
            continue
        out.mkdir(parents=True, exist_ok=True)
        config = stage_config(job, out, job.grpo_config, job.grpo_steps)
        config["seed_everything"] = seed
        init = config["model"]["init_args"]
        init["loader"]["name_or_path"] = str(job.base)
        init["adapter_dir"] = str(out / "adapter")
        config["data"]["init_args"].update(seed=seed, data_dir=None, train_jsonl=[str(policy_references(job, "rl"))])
        rollout = config["trainer"]["callbacks"][0]["init_args"]
        rollout["reward"] = reward_config(job, variant)
        if 0 < job.grpo_eval_every < job.grpo_steps:
            config["trainer"]["callbacks"].append(
                {
                    "class_path": "src.stages.adapter_snapshots.AdapterSnapshots",
                    "init_args": {"every_n_steps": job.grpo_eval_every, "dirpath": str(out / "snapshots")},
                }
            )
        fit(job, "grpo", config)  # type: ignore[arg-type]
        if not (out / "adapter" / "adapter_config.json").exists():
            raise StepError("grpo", f"training wrote no adapter at {out / 'adapter'}")
        merge_adapter(str(job.base), out / "adapter", merged, dtype="float32")
    step_agreement(job, job.grpo_runs(), policy_references(job, "rl"), pixel_reward_config())
    return job.dir("grpo")


def reward_config(job: MiniJob, variant: str) -> dict[str, Any]:
    """The reward a GRPO variant trains with: the critic, the pixel baseline, or the exact critique (upper bound)."""
    if variant == "grpo_critic":
        return judge_config(job)
    if variant == "grpo_exact":
        return {"class_path": "src.reward.baselines.exact.ExactShapeCritiqueReward"}
    return pixel_reward_config()


def pixel_reward_config() -> dict[str, Any]:
    """The baseline reward: r_render + (1 − pixel MSE), the same 0..2 range as the critic's reward."""
    return {
        "class_path": "src.reward.baselines.weighted.WeightedReward",
        "init_args": {
            "rewards": [
                {"class_path": "src.reward.baselines.pixel.RenderSuccessReward"},
                {"class_path": "src.reward.baselines.pixel.PixelMSEReward", "init_args": {"max_side": 128}},
            ],
            "weights": [1.0, 1.0],
        },
    }


def policies(job: MiniJob) -> dict[str, Path]:
    out = {"sft_s0": job.base}
    for variant, seed in job.grpo_runs():
        out[f"{variant}_s{seed}"] = job.dir("grpo") / f"{variant}_s{seed}" / "merged"
    return out


def policy_references(job: MiniJob, name: str) -> Path:
    """``policy_eval.jsonl`` (the test set) or ``policy_rl.jsonl`` (GRPO's prompts), drawn on first use."""
    path = job.dir("data") / "policy_draw" / f"policy_{name}.jsonl"
    if not path.exists():
        write_policy_references(job)
    return path


def step_policy_eval(job: MiniJob) -> Path:
    """Every policy, greedy, on the held-out references: render rate and SSIM (tools/eval_policy.py); and each GRPO
    run as it was at its snapshot steps, for the held-out score against steps."""
    from src.models.loading import merge_adapter

    out = job.dir("policy_eval")
    for name, model in policies(job).items():
        eval_policy(job, model, out / name)
    for variant, seed in job.grpo_runs():
        for step, adapter in snapshots(job, variant, seed).items():
            target = out / f"{variant}_s{seed}" / f"step_{step}"
            if (target / "summary.json").exists():
                continue
            merged = target.parent / f"step_{step}_merged"  # a full model: deleted once scored, or on failure
            try:
                merge_adapter(str(job.base), adapter, merged, dtype="float32")
                eval_policy(job, merged, target)
            finally:
                shutil.rmtree(merged, ignore_errors=True)
    return out


def eval_policy(job: MiniJob, model: Path, target: Path) -> None:
    if (target / "summary.json").exists():
        return
    run_tool(
        job, "policy_eval", "eval_policy.py", "--model", model, "--prompts", policy_references(job, "eval"),
        "--domains", "svg", "--max-new-tokens", "128", "--batch-size", str(POLICY_EVAL_BATCH),
        "--max-image-side", "128", "--workers", str(job.workers), "--out", target,
        *(() if job.progress else ("--no-progress",)),
    )  # fmt: skip


def snapshots(job: MiniJob, variant: str, seed: int) -> dict[int, Path]:
    """A GRPO run's adapters part-way (``AdapterSnapshots``), by step; the run's end is its merged model."""
    folder = job.dir("grpo") / f"{variant}_s{seed}" / "snapshots"
    found = {int(p.name.removeprefix("step_")): p for p in folder.glob("step_*") if p.name[5:].isdigit()}
    return {step: found[step] for step in sorted(found) if step < job.grpo_steps}


def step_report(job: MiniJob) -> Path:
    """summary.json at the job's root and the HTML report with the learning curves."""
    summary = build_summary(job)
    (job.root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    from miniature_report import write_report

    drawn = curves(job) | score_curves(summary)
    if job.compare is None:
        return write_report(job.root, summary, drawn)
    compared = compared_run(job.compare)
    if compared is not None:
        drawn |= compared[1]
    return write_report(job.root, summary, drawn, (job.compare, compared[0] if compared else None))


# -- summary --------------------------------------------------------------------------------------------------------
def _bench_overall(folder: Path) -> dict[str, Any]:
    path = folder / "summary.json"
    if not path.exists():
        raise StepError("report", f"{path} is missing: rerun with --force critic_eval")
    return json.loads(path.read_text()).get("overall", {})


def parse_rate(folder: Path) -> float | None:
    """Share of held-out critiques the judge could read (its predictions file marks the unreadable ones)."""
    path = folder / "predictions.json"
    if not path.exists():
        return None
    rows = json.loads(path.read_text())
    readable = [r for r in rows if isinstance(r.get("pred_json"), dict)]
    return len(readable) / len(rows) if rows else None


BASELINE_SCORES = ("f1_hard", "f1_soft", "severity_pearson", "false_alarm_rate")


def critic_scores(folder: Path) -> dict[str, Any]:
    """The critic's and the baselines' scores on one bench (``critic_eval/`` or ``critic_eval/answers/``)."""
    critic = _bench_overall(folder / "critic")
    return {
        "heldout": {
            "pairs": critic.get("pairs"),
            "parse_rate": parse_rate(folder / "critic"),
            **{k: critic.get(k) for k in (*BASELINE_SCORES, "clean_pairs")},
        },
        "baselines": {
            name: {k: overall.get(k) for k in BASELINE_SCORES}
            for name, overall in ((n, _bench_overall(folder / n)) for n in ("empty", "pixel_majority"))
        },
    }


def build_summary(job: MiniJob) -> dict[str, Any]:
    out = job.dir("critic_eval")
    critic = critic_scores(out)
    critic["grounding"] = json.loads((out / "grounding.json").read_text())
    critic["seed"] = job.critic_seed
    if (out / "answers" / "critic").exists():  # the base's own labelled answers on references nothing trained on
        critic["policy_answers"] = critic_scores(out / "answers")
    agreement = job.dir("grpo") / "reward_agreement.json"
    summary: dict[str, Any] = {
        "critic": critic,
        "policy": {},
        "reward_agreement": json.loads(agreement.read_text()) if agreement.exists() else {},
        "primary_metric": {"svg": "SSIM with the reference (unrendered answers score 0)"},
        "model_sizes": {"policy": POLICY_SIZE, "critic": job.critic_size},  # keys of src.models.tiny.MODEL_SIZES
    }
    per_variant: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
    for name in policies(job):
        per_variant[name.rsplit("_s", 1)[0]].append(policy_score(job.dir("policy_eval") / name))
    for variant, runs in per_variant.items():
        if not runs:
            continue
        scores = [s for _, s in runs]
        summary["policy"][variant] = {
            "svg": {
                "render_rate": statistics.fmean(r for r, _ in runs),
                "score": statistics.fmean(scores),
                "score_std": statistics.stdev(scores) if len(scores) > 1 else 0.0,
                "seeds": scores,
            }
        }
    for variant, entry in summary["policy"].items():
        if variant != "sft":
            entry["svg"]["curve"] = score_curve(job, variant, summary["policy"]["sft"]["svg"]["score"])
    return summary


def policy_score(folder: Path) -> tuple[float, float]:
    """(render rate, score) of one policy's held-out evaluation; the score is render rate × SSIM of the rendered."""
    svg = json.loads((folder / "summary.json").read_text())["summary"].get("svg", {})
    rate = float(svg.get("execution_rate") or 0.0)
    ssim = svg.get("ssim")
    return rate, rate * float(ssim) if ssim is not None else 0.0


def score_curve(job: MiniJob, variant: str, sft_score: float) -> list[dict[str, Any]]:
    """A GRPO variant's held-out score against its steps: SFT at step 0, each snapshot step, the run's end; the mean
    over the seeds that have the step, and their values."""
    runs = [(variant, seed) for v, seed in job.grpo_runs() if v == variant]
    steps = sorted({step for run in runs for step in snapshots(job, *run)})
    curve: list[dict[str, Any]] = [{"step": 0, "score": sft_score, "seeds": [sft_score]}]
    for step in [*steps, job.grpo_steps]:
        folders = [
            job.dir("policy_eval") / f"{v}_s{seed}" / ("" if step == job.grpo_steps else f"step_{step}")
            for v, seed in runs
        ]
        seeds = [policy_score(f)[1] for f in folders if (f / "summary.json").exists()]
        if seeds:
            curve.append({"step": step, "score": statistics.fmean(seeds), "seeds": seeds})
    return curve


def read_metrics(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def series(rows: list[dict[str, str]], key: str) -> list[tuple[float, float]]:
    """(step, value) of one metric in a CSV log, skipping the rows that did not log it."""
    points = []
    for row in rows:
        value = row.get(key)
        if value not in (None, "") and row.get("step") not in (None, ""):
            v = float(value)  # type: ignore[arg-type]
            if math.isfinite(v):
                points.append((float(row["step"]), v))
    return points


def curves(job: MiniJob) -> dict[str, list[tuple[float, float]]]:
    """Learning curves from the stages' CSV logs: (step, value) per series."""
    out: dict[str, list[tuple[float, float]]] = {}
    base = read_metrics(job.dir("base") / "csv" / "metrics.csv")
    out["base train/loss"] = series(base, "train/loss")
    out["base val/loss"] = series(base, "val/loss")
    if job.critic_has_own_base:
        critic_base = read_metrics(job.dir("critic_base") / "csv" / "metrics.csv")
        out["base (critic's) train/loss"] = series(critic_base, "train/loss")
        out["base (critic's) val/loss"] = series(critic_base, "val/loss")
    critic = read_metrics(job.dir("critic") / "csv" / "metrics.csv")
    for key in ("train/loss", "val/loss", "val/f1", "val/parse_rate", "val/severity_pearson"):
        out[f"critic {key}"] = series(critic, key)
    for variant, seed in job.grpo_runs():
        rows = read_metrics(job.dir("grpo") / f"{variant}_s{seed}" / "csv" / "metrics.csv")
        for key in ("rollout/reward_mean", "rollout/render_ok"):
            out[f"{variant}_s{seed} {key}"] = series(rows, key)
    return out


def score_curves(summary: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """The held-out score against GRPO steps, one series per variant (its seeds' mean), from ``summary.json``."""
    return {
        f"held-out score {variant}": [(float(p["step"]), float(p["score"])) for p in entry["svg"]["curve"]]
        for variant, entry in summary["policy"].items()
        if entry["svg"].get("curve")
    }


def compared_run(root: Path) -> tuple[dict[str, Any], dict[str, list[tuple[float, float]]]] | None:
    """Another finished miniature run (``--compare``): its summary, and its critic's held-out F1 and its policies'
    held-out score against steps, named ``<folder>: ...`` so the report draws them beside this run's. ``None`` while
    it has no summary."""
    path = root / "summary.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    if not isinstance(summary, dict) or not {"critic", "policy"} <= summary.keys():
        raise StepError("report", f"{path} is not a miniature run's summary (no 'critic' and 'policy' keys)")
    critic = read_metrics(root / "critic" / "csv" / "metrics.csv")
    found = {f"{root.name}: critic {key}": series(critic, key) for key in ("val/f1", "val/parse_rate")}
    found |= {f"{root.name}: {name}": points for name, points in score_curves(summary).items()}
    return summary, found


def main_miniature(job: MiniJob, force: str | None, until: str | None) -> int:
    steps = {
        "data": step_data,
        "model": step_model,
        "base": step_base,
        "answers": step_answers,
        **({"critic_base": step_critic_base} if job.critic_has_own_base else {}),
        "critic": step_critic,
        "critic_eval": step_critic_eval,
        "grpo": step_grpo,
        "policy_eval": step_policy_eval,
        "report": step_report,
    }
    try:
        report = run(job, force=force, until=until, steps=steps)  # type: ignore[arg-type]
    except StepError as error:
        print(error, file=sys.stderr)
        return 1
    if until in (None, "report"):
        print_result(job, report)
    return 0


def print_result(job: MiniJob, report: Path) -> None:
    summary = json.loads((job.root / "summary.json").read_text())
    held = summary["critic"]["heldout"]
    print(f"critic on held-out references: {json.dumps(held)}")
    for name, values in summary["critic"]["baselines"].items():
        print(f"  baseline {name}: {json.dumps(values)}")
    print(f"  grounding (loss per token, real vs reference twice): {json.dumps(summary['critic']['grounding'])}")
    for variant, entry in summary["policy"].items():
        svg = entry["svg"]
        print(
            f"policy {variant}: render {svg['render_rate']:.2f}, SSIM score {svg['score']:.3f} (seeds {svg['seeds']})"
        )
    print(f"summary: {job.root / 'summary.json'}")
    print(f"report: {report.resolve()}")
