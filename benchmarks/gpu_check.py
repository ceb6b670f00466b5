"""Every GPU-only claim of the project measured in one command: one JSON and one Markdown table.

    make gpu-check                                       # = python -m benchmarks.gpu_check --out runs/gpu_check
    python -m benchmarks.gpu_check --out runs/gpu_check  # CUDA: the Qwen3-VL-8B shape; no CUDA: the tiny shape
    python -m benchmarks.gpu_check --tiny --out /tmp/gc  # the tiny shape anywhere, in seconds (the test runs this)
    python -m benchmarks.gpu_check --parts sft grpo      # some parts only

Run it from the repository root (``-m`` puts the root on the path, so nothing needs installing). Nothing is
downloaded: every model is built from a config with random weights (``benchmarks/train_step.py``'s presets: the 8B
shape is Qwen3-VL-8B-Instruct's published dimensions) and the tokenizer and processor are the tiny model's, built
locally. Parts, in order (one GPU, about 8 minutes in all; ``--budget-s`` skips what would start later):

- ``environment``: versions, the GPU, whether flash-attn / vLLM / bitsandbytes / jsonargparse import, and what falls
  back (sdpa attention, HF ``generate``, no QLoRA, no CLI).
- ``sft``: the reward-model SFT train step, LoRA r=64, bf16: plain transformers + peft (``model(labels=...)``, full
  logits, foreach AdamW) against the stage's ``answer_token_loss`` (LM head at answer positions only, in one chunk or
  in chunks recomputed in the backward) with fused AdamW, each with and without gradient checkpointing, then the
  stage's loss with ``compile_repeated_blocks``. Same model, same batch, same run; tokens/s counts real tokens.
- ``grpo``: GRPO steps on the same shape with the in-process HF engine (the policy's own module), the render pool and
  the Visual-ERM judge on the policy's weights: seconds per phase and peak memory; then one judge call on rendered
  pairs (a random policy writes no code that renders, so the step itself never reaches the judge).
- ``qlora``: the stage's step on the NF4 base loaded through ``load_vlm`` (needs bitsandbytes).
- ``fsdp``: two optimizer steps of ``configs/reward_sft/qwen3vl_8b_fsdp.yaml`` through the real CLI on one device
  (needs jsonargparse; on a CPU Lightning refuses FSDP, so the single-device strategy stands in and the row says so).

A part that cannot run is a row with status ``skipped`` and the reason; one that fails is ``error`` with the
exception. A step that runs out of GPU memory is retried at half the batch (SFT, QLoRA) or with the decoder layers
that should fit (FSDP), and the row records what ran and what did not (``oom at ...``). The JSON and Markdown are
rewritten after every part, so a run cut short keeps what it measured.

MFU: 4·N FLOPs per token for adapter training (no weight gradients for the frozen base), 6·N for full fine-tuning,
attention not counted, against 989 TFLOP/s dense bf16 (H100/H200 datasheet; ``train_step.PEAK_FLOPS``). Peak memory:
the CUDA allocator's peak; on a CPU the process's peak resident memory.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import importlib
import importlib.util
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from io import BytesIO
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from benchmarks.grpo_step import reference_records, timed_grpo_step
from benchmarks.train_step import (
    PEAK_FLOPS,
    PRESETS,
    Preset,
    build_model,
    load_qlora_model,
    make_samples,
    measure,
    optimizer_step,
    to_device,
    write_random_checkpoint,
)
from src.data.collate import pad_token_batch
from src.models.loading import unwrap_peft
from src.stages.sft import answer_token_loss, compile_repeated_blocks

REPO = Path(__file__).resolve().parents[1]
FSDP_CONFIG = REPO / "configs" / "reward_sft" / "qwen3vl_8b_fsdp.yaml"
# GRPO before QLoRA and FSDP: those two are the likeliest to be skipped (missing packages) or to run long (OOM retry).
PARTS = ("environment", "sft", "grpo", "qlora", "fsdp")
# The tiny shape: train_step's tiny preset, shorter and with a 4k vocabulary (the 151k head was most of its step), so
# every part runs in seconds on a 2-core CPU; still above the tiny tokenizer's ids, which its checkpoint uses.
TINY = replace(
    PRESETS["tiny"],
    text={**PRESETS["tiny"].text, "vocab_size": 4096},
    seq_len=128,
    image_tokens=16,
    answer_tokens=32,
    batch=2,
)
# Optional packages and what the project does without them.
OPTIONAL = {
    "flash_attn": "attention: sdpa (the loader's auto choice)",
    "vllm": "generation: HF generate (HFEngine); VLLMEngine unavailable",
    "bitsandbytes": "qlora part skipped",
    "jsonargparse": "fsdp part skipped (the CLI parses configs with it)",
    "openai": "OpenAIEngine unavailable (in-process engines and the judge do not need it)",
    "apted": "src.reward.baselines unavailable (its TEDS reward needs it)",
    "cairosvg": "SVG renders fail as records (GRPO here renders charts)",
    "playwright": "table renders unavailable",
}
# flash-attn and vLLM are imported in a child process: both touch CUDA at import, and vLLM sets process-wide state.
IMPORT_IN_CHILD = ("flash_attn", "vllm")
COLUMNS = ("part", "variant", "status", "batch", "s_per_step", "tokens_per_s", "mfu", "peak_gib", "vs_plain", "note")


class Skip(Exception):
    """A part that cannot run here; the message is the reason written in the table."""


@dataclass
class Context:
    """What every part shares: the device and shape, settings, and the random checkpoint (written once, on demand)."""

    args: argparse.Namespace
    device: str
    dtype: torch.dtype
    preset: Preset
    shape: str
    workdir: Path
    deadline: float
    _checkpoint: Path | None = field(default=None, repr=False)

    @property
    def cuda(self) -> bool:
        return self.device == "cuda"

    def checkpoint(self) -> Path:
        """The shape as a checkpoint directory that ``load_vlm`` reads (bf16 safetensors, the tiny tokenizer)."""
        if self._checkpoint is None:
            self._checkpoint = write_random_checkpoint(self.preset, self.workdir / "model", self.device)
            free_memory()
        return self._checkpoint

    def time_left(self) -> float:
        return self.deadline - time.monotonic()


# -- the parts --------------------------------------------------------------------------------------------------------
def part_environment(ctx: Context) -> list[dict[str, Any]]:
    from src.models.loading import resolve_attn_implementation

    rows = [row("environment", "python", "ok", note=f"{platform.python_version()} on {platform.machine()}")]
    if ctx.cuda:
        props = torch.cuda.get_device_properties(0)
        note = (
            f"{props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs, "
            f"CUDA {torch.version.cuda}, bf16 {torch.cuda.is_bf16_supported()}"
        )
        rows.append(row("environment", "gpu", "ok", note=note))
    else:
        rows.append(row("environment", "gpu", "missing", note=f"no CUDA: the {ctx.shape} shape on the CPU"))
    for name in ("torch", "transformers", "peft", "lightning"):
        rows.append(row("environment", name, "ok", note=_version(importlib.import_module(name))))
    for name, fallback in OPTIONAL.items():
        ok, detail = _importable(name)
        rows.append(row("environment", name, "ok" if ok else "missing", note=detail if ok else f"{detail}; {fallback}"))
    attn = resolve_attn_implementation("auto")
    rows.append(row("environment", "attention", "ok", note=f"auto -> {attn}"))
    return rows


def part_sft(ctx: Context) -> list[dict[str, Any]]:
    from transformers import Qwen3VLConfig

    preset, device = ctx.preset, ctx.device
    # The checkpoint's config: the tiny shape's 4k vocabulary holds the tiny tokenizer's vision-marker ids, not Qwen's.
    config = Qwen3VLConfig.from_pretrained(ctx.checkpoint())
    model, config = build_model(preset, device, ctx.dtype, ctx.args.lora_r, config)
    base = unwrap_peft(model)
    base.config.text_config.use_cache = False  # training: a KV cache is useless and conflicts with checkpointing
    samples = make_samples(preset, config, "fixed")
    n_params = sum(p.numel() for p in model.parameters())
    params = [p for p in model.parameters() if p.requires_grad]
    plain_opt = torch.optim.AdamW(params, lr=1e-5, foreach=True)
    ours_opt = torch.optim.AdamW(params, lr=1e-5, fused=ctx.cuda)
    answer_tokens = preset.batch * preset.answer_tokens
    chunk = ctx.args.loss_chunk_tokens

    def plain(inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> Callable[[], None]:
        return optimizer_step(lambda: model(**inputs, labels=labels).loss, plain_opt)

    def ours(chunk_tokens: int) -> Callable[[dict[str, torch.Tensor], torch.Tensor], Callable[[], None]]:
        return lambda inputs, labels: optimizer_step(
            lambda: answer_token_loss(model, inputs, labels, chunk_tokens=chunk_tokens), ours_opt
        )

    variants = [
        ("plain transformers+peft", plain),
        ("ours, answer head in 1 chunk", ours(answer_tokens)),
        (f"ours, answer head in chunks of {chunk}", ours(chunk)),
    ]
    rows: list[dict[str, Any]] = []
    for checkpointing in (False, True):
        set_checkpointing(base, checkpointing)
        for name, make_step in variants:
            label = name + (" + grad ckpt" if checkpointing else "")
            rows.append(run_variant(ctx, "sft", label, make_step, samples, n_params, 4))
    if ctx.time_left() < ctx.args.compile_reserve_s:
        rows.append(row("sft", "ours + compiled blocks", "skipped", note="time budget: compiling would not finish"))
    else:
        blocks = compile_repeated_blocks(model, ctx.args.compile_backend)
        for checkpointing in (False, True):
            set_checkpointing(base, checkpointing)
            label = f"ours, chunks of {chunk}, {blocks} compiled blocks" + (" + grad ckpt" if checkpointing else "")
            row_ = run_variant(ctx, "sft", label, ours(chunk), samples, n_params, 4)
            row_["note"] = (row_["note"] + "; " if row_["note"] else "") + f"backend {ctx.args.compile_backend}"
            rows.append(row_)
    plain_rate = rows[0]["tokens_per_s"]
    for r in rows:
        if plain_rate and r["tokens_per_s"]:
            r["vs_plain"] = r["tokens_per_s"] / plain_rate
    attn = getattr(base.config, "_attn_implementation", "?")
    for r in rows:
        r["note"] = f"attn {attn}" + ("; " + r["note"] if r["note"] else "")
    return rows


def part_qlora(ctx: Context) -> list[dict[str, Any]]:
    ok, detail = _importable("bitsandbytes")
    if not ok:
        raise Skip(f"bitsandbytes does not import ({detail})")
    model, config = load_qlora_model(ctx.checkpoint(), ctx.args.lora_r)
    base = unwrap_peft(model)
    base.config.text_config.use_cache = False
    samples = make_samples(ctx.preset, config, "fixed")
    n_params = int(base.num_parameters())  # HF counts 4-bit weights at their unpacked size, as MFU wants
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=ctx.cuda)
    chunk = ctx.args.loss_chunk_tokens

    def make_step(inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> Callable[[], None]:
        return optimizer_step(lambda: answer_token_loss(model, inputs, labels, chunk_tokens=chunk), opt)

    rows = []
    for checkpointing in (False, True):
        set_checkpointing(base, checkpointing)
        label = f"ours, NF4 base, chunks of {chunk}" + (" + grad ckpt" if checkpointing else "")
        rows.append(run_variant(ctx, "qlora", label, make_step, samples, n_params, 4))
    return rows


def part_fsdp(ctx: Context) -> list[dict[str, Any]]:
    ok, detail = _importable("jsonargparse")
    if not ok:
        raise Skip(f"jsonargparse does not import ({detail}); the CLI needs it to read the config")
    checkpoint = ctx.checkpoint()
    shards = write_critic_shards(ctx.workdir / "shards", side=1024 if ctx.cuda else 96)
    strategy = "FSDP (FULL_SHARD) on 1 GPU" if ctx.cuda else "single-device (Lightning runs FSDP on GPUs only)"
    layers = ctx.preset.text["num_hidden_layers"]
    tried: list[str] = []
    while True:
        model_dir = checkpoint if layers == ctx.preset.text["num_hidden_layers"] else with_layers(checkpoint, layers)
        result = run_fsdp_config(ctx, model_dir, shards)
        if result["status"] != "oom" or layers == 1:
            break
        tried.append(f"oom with {layers} decoder layers at {result['reached']} (peak {result['peak_gib']:.1f} GiB)")
        fit = layers_that_fit(ctx.preset, result["capacity_gib"])
        if fit < 1 or ctx.time_left() < 60:
            result["note"] = "; ".join(tried) + ("; no depth fits" if fit < 1 else "; no time left to retry")
            return [row("fsdp", f"{FSDP_CONFIG.name}, 2 steps", "oom", **_pick(result))]
        layers = min(fit, layers - 1)
    note = "; ".join([*tried, f"{strategy}, {layers} decoder layers, {result['note']}"])
    status = result["status"] if not tried or result["status"] != "ok" else "partial"
    return [row("fsdp", f"{FSDP_CONFIG.name}, 2 steps", status, **{**_pick(result), "note": note})]


def part_grpo(ctx: Context) -> list[dict[str, Any]]:
    from src.engines.engine import SamplingSettings
    from src.engines.hf_engine import HFEngine
    from src.models.loading import LoraSettings, VLMLoader, load_vlm_processor
    from src.render.job import RenderResult
    from src.render.pool import RenderPool
    from src.reward.critic_profile import builtin_profile
    from src.reward.pair import RewardPair
    from src.reward.reward import RewardConfig
    from src.stages.grpo import GRPOModule
    from src.stages.grpo_rollout import RolloutCallback

    try:
        from src.reward.judge import VisualERMJudge
    except ImportError as exc:  # the judge module imports the openai client, absent from some GPU images
        judge_missing = f"VisualERMJudge does not import ({_one_line(exc)})"
    else:
        judge_missing = ""

    a = ctx.args
    module = GRPOModule(
        VLMLoader(
            str(ctx.checkpoint()),
            dtype="bfloat16" if ctx.cuda else "float32",
            lora=LoraSettings(r=a.lora_r, alpha=2 * a.lora_r, dropout=0.0),
            gradient_checkpointing=ctx.cuda,  # as the 8B GRPO configs train
            max_pixels=1024 * 1024,
        ),
        lr=1e-5,
        max_completion_tokens=a.policy_tokens,
    )
    module.processor = load_vlm_processor(module.loader)
    module.configure_model()
    module.model = module.vlm.to(ctx.device)
    optimizer = torch.optim.AdamW([p for p in module.vlm.parameters() if p.requires_grad], lr=1e-5, fused=ctx.cuda)
    engine = HFEngine(module.vlm, module.processor, max_batch_size=a.prompts * a.n)
    profile = builtin_profile()
    judge = None
    if not judge_missing:
        judge = VisualERMJudge(
            engine=HFEngine(module.vlm, module.processor, max_batch_size=a.prompts * a.n),  # the policy's weights
            profile=replace(profile, sampling=replace(profile.sampling, max_new_tokens=a.judge_tokens)),
            reward=RewardConfig(normalization="fixed"),
            retries=0,
        )
    side = (768, 512) if ctx.cuda else (96, 80)
    records = reference_records(a.prompts, domain="chart", size=side)
    sampling = SamplingSettings(temperature=1.0, max_new_tokens=a.policy_tokens)
    synchronize = torch.cuda.synchronize if ctx.cuda else (lambda: None)
    rows = []
    shape = f"{a.prompts} prompts x {a.n}, <= {a.policy_tokens} new tokens, {side[0]}x{side[1]} reference"
    with RenderPool(workers=2, timeout_s=10) as pool:
        reward = judge if judge is not None else rendered_reward
        callback = RolloutCallback(reward=reward, render_pool=pool, engine=engine, n=a.n, sampling=sampling)
        for step in range(1, a.grpo_steps + 1):
            reset_peak_memory(ctx)
            phases = timed_grpo_step(callback, module, optimizer, engine, records, step, synchronize)
            note = ", ".join(f"{k} {phases[k]:.2f}s" for k in ("generate", "render", "reward", "wait", "train", "sync"))
            note += f"; {phases['rendered']:.0%} rendered; {shape}" + ("; warm-up" if step == 1 else "")
            note += f"; reward: render-only, {judge_missing}" if judge_missing else ""
            rows.append(
                row("grpo", f"step {step}", "ok", batch=a.prompts * a.n, s_per_step=phases["step"],
                    peak_gib=peak_memory_gib(ctx), note=note)
            )  # fmt: skip
            if ctx.time_left() < 30:
                break
        if judge is None:
            rows.append(row("grpo", "judge call", "skipped", note=judge_missing))
            return rows
        png = BytesIO()
        records[0]["image"].save(png, format="PNG")
        pairs = [
            RewardPair(reference=r["image"], candidate=RenderResult(ok=True, png=png.getvalue()), domain="chart")
            for r in records
        ]
        reset_peak_memory(ctx)
        synchronize()
        start = time.perf_counter()
        judge.judge(pairs)
        synchronize()
        rows.append(
            row("grpo", "judge call", "ok", batch=len(pairs), s_per_step=time.perf_counter() - start,
                peak_gib=peak_memory_gib(ctx), note=f"{len(pairs)} rendered pairs, <= {a.judge_tokens} critique tokens")
        )  # fmt: skip
    return rows


def rendered_reward(pairs: list[Any]) -> list[float]:
    """1 for a candidate that rendered, else 0: the GRPO reward when the judge cannot be imported (the baselines
    package, whose ``RenderSuccessReward`` is the same, imports apted, absent from the same images)."""
    return [1.0 if pair.candidate.ok else 0.0 for pair in pairs]


# -- SFT steps with an out-of-memory fallback -------------------------------------------------------------------------
def run_variant(
    ctx: Context,
    part: str,
    name: str,
    make_step: Callable[[dict[str, torch.Tensor], torch.Tensor], Callable[[], None]],
    samples: list[dict[str, torch.Tensor]],
    n_params: int,
    flops_per_param_token: int,
) -> dict[str, Any]:
    """Time ``make_step(inputs, labels)`` on the batch; on out-of-memory, again on half the rows, down to one.

    The row holds the largest batch that ran and, in its note, the sizes that did not.
    """
    if ctx.time_left() < 0:
        return row(part, name, "skipped", note="time budget spent")
    failed: list[str] = []
    batch = len(samples)
    while batch >= 1:
        try:
            padded = to_device(pad_token_batch(samples[:batch], pad_id=0, with_labels=True), ctx.device, ctx.dtype)
            labels = padded.pop("labels")
            tokens = sum(len(s["input_ids"]) for s in samples[:batch])
            _, seconds, tok_s, _, peak = measure(
                name, make_step(padded, labels), ctx.args, ctx.device, tokens, n_params
            )
            mfu = flops_per_param_token * n_params * tok_s / PEAK_FLOPS[ctx.device]
            note = f"oom at batch {', '.join(failed)}" if failed else ""
            status = "ok" if not failed else "partial"
            return row(part, name, status, batch=f"{batch}x{ctx.preset.seq_len}", s_per_step=seconds,
                       tokens_per_s=tok_s, mfu=mfu, peak_gib=peak, note=note)  # fmt: skip
        except torch.OutOfMemoryError:
            failed.append(str(batch))
            batch //= 2
        except Exception as exc:  # a variant that breaks (a compile error, say) must not hide the others' figures
            traceback.print_exc()
            return row(part, name, "error", note=_one_line(exc))
        finally:
            padded = labels = None  # type: ignore[assignment]
            free_memory()
    return row(part, name, "oom", note=f"oom at batch {', '.join(failed)}")


def set_checkpointing(model: Any, on: bool) -> None:
    """Non-reentrant activation checkpointing on every layer, as ``src.models.loading`` enables it, or none."""
    if on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()
    model.train()


# -- FSDP through the CLI ---------------------------------------------------------------------------------------------
def run_fsdp_config(ctx: Context, model_dir: Path, shards: Path) -> dict[str, Any]:
    """Two optimizer steps of the FSDP config through ``src.cli`` on one device, timed by ``StepClock``."""
    from src.cli import main as cli_main

    clock = make_step_clock(ctx)
    args = [
        "--config", str(FSDP_CONFIG),
        "--trainer.devices", "1",
        "--trainer.num_nodes", "1",
        "--trainer.max_steps", "2",
        "--trainer.limit_val_batches", "0",
        "--trainer.default_root_dir", str(ctx.workdir / "fsdp_run"),
        "--model.init_args.loader.name_or_path", str(model_dir),
        "--data.init_args.data_dir", str(shards),
        "--data.init_args.num_workers", "0",
    ]  # fmt: skip
    if not ctx.cuda:
        args += ["--trainer.accelerator", "cpu", "--trainer.strategy", "auto"]
    reset_peak_memory(ctx)
    cli = trainer = None
    try:
        cli = cli_main(args, run=False)
        trainer = cli.trainer
        # A checkpoint of the whole fp32 model and its optimizer would take minutes to write; the steps are the check.
        trainer.callbacks[:] = [c for c in trainer.callbacks if type(c).__name__ != "ModelCheckpoint"] + [clock]
        trainer.fit(cli.model, datamodule=cli.datamodule)
        status, note = "ok", ""
    except torch.OutOfMemoryError:
        status, note = "oom", ""
    finally:
        capacity = torch.cuda.get_device_properties(0).total_memory / 2**30 if ctx.cuda else math.nan
        peak = peak_memory_gib(ctx)
        cli = trainer = None
        free_memory()
    n_params = clock.n_params
    seconds = clock.seconds[-1] if clock.seconds else None
    tok_s = clock.tokens[-1] / seconds if seconds else None
    mfu = 6 * n_params * tok_s / PEAK_FLOPS[ctx.device] if tok_s else None
    if status == "ok":
        steps = ", ".join(f"{s:.2f}s" for s in clock.seconds)
        note = f"steps {steps} ({clock.tokens[-1]} tokens in the last), {n_params / 1e6:,.0f}M params"
    return {"status": status, "reached": clock.reached, "peak_gib": peak, "capacity_gib": capacity,
            "s_per_step": seconds, "tokens_per_s": tok_s, "mfu": mfu, "batch": 1, "note": note}  # fmt: skip


def make_step_clock(ctx: Context) -> Any:
    """A Lightning callback that times each training batch and remembers how far the run got (for an OOM row)."""
    from lightning.pytorch.callbacks import Callback

    from src.stages.sft import tokens_in_batch

    synchronize = torch.cuda.synchronize if ctx.cuda else (lambda: None)

    class StepClock(Callback):
        def __init__(self) -> None:
            self.reached = "building the trainer"
            self.seconds: list[float] = []
            self.tokens: list[int] = []
            self.n_params = 0
            self._start = 0.0

        def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
            self.reached = "loading and sharding the model"

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            self.n_params = int(unwrap_peft(pl_module.vlm).num_parameters())
            self.reached = "training starts (model in place)"

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            synchronize()
            self._start = time.perf_counter()
            self.reached = f"step {batch_idx + 1} forward/backward"

        def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
            self.reached = f"step {trainer.global_step + 1} optimizer step"

        def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
            synchronize()
            self.seconds.append(time.perf_counter() - self._start)
            self.tokens.append(tokens_in_batch(batch))
            self.reached = f"step {batch_idx + 1} done"

    return StepClock()


def layers_that_fit(preset: Preset, capacity_gib: float) -> int:
    """Decoder layers of ``preset`` whose full fine-tuning should fit: 16 bytes a parameter (fp32 weight, gradient and
    two AdamW moments) within 85% of the device, beside the embeddings, LM head and vision tower."""
    t, v = preset.text, preset.vision
    h, kv = t["hidden_size"], t["num_key_value_heads"] * t["head_dim"]
    q = t["num_attention_heads"] * t["head_dim"]
    per_layer = h * (2 * q + 2 * kv) + 3 * h * t["intermediate_size"]
    vision = v["depth"] * (4 * v["hidden_size"] ** 2 + 2 * v["hidden_size"] * v["intermediate_size"])
    fixed = 2 * t["vocab_size"] * h + vision
    budget = 0.85 * capacity_gib * 2**30 / 16
    return int((budget - fixed) // per_layer) if not math.isnan(budget) else 0


def with_layers(checkpoint: Path, layers: int) -> Path:
    """A view of ``checkpoint`` with fewer decoder layers: its files linked, ``config.json`` rewritten (the weights
    of the layers left out are ignored on load)."""
    out = checkpoint.parent / f"{checkpoint.name}-{layers}-layers"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    for f in checkpoint.iterdir():
        if f.name != "config.json":
            (out / f.name).symlink_to(f.resolve())
    config = json.loads((checkpoint / "config.json").read_text())
    config["text_config"]["num_hidden_layers"] = layers
    config["text_config"].pop("layer_types", None)  # derived from num_hidden_layers when absent
    (out / "config.json").write_text(json.dumps(config, indent=2))
    return out


def write_critic_shards(out_dir: Path, side: int, pairs: int = 6) -> Path:
    """A small shard directory of critic pairs (drawn bar charts, one labelled error each) for the DataModule."""
    from src.data.schema import Critique, Discrepancy
    from src.data.shards import ShardWriter

    writer = ShardWriter(out_dir)
    for i in range(pairs + 2):
        images = []
        for variant in (0, 1):
            image = Image.new("RGB", (side, side * 3 // 4), "white")
            draw = ImageDraw.Draw(image)
            for b in range(5):
                top = side // 8 + ((i + b * 3 + variant * (b == 2)) * side // 11) % (side // 2)
                draw.rectangle([side // 10 + b * side // 6, top, side // 10 + b * side // 6 + side // 8, side * 2 // 3])
            png = BytesIO()
            image.save(png, format="PNG")
            images.append(writer.put_image(png.getvalue()))
        critique = Critique(
            "chart", (Discrepancy("data", 2, "third bar", "The third bar is taller than in the reference."),)
        )
        writer.add_row(
            "val" if i >= pairs else "train",
            {"id": f"chart-{i}", "domain": "chart", "reference_image": images[0], "candidate_image": images[1],
             "critique": critique.to_official(), "kind": "perturbed", "perturbations": ["drawn"], "seed": 0},
        )  # fmt: skip
    return out_dir


# -- memory, rows and reports -----------------------------------------------------------------------------------------
def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def reset_peak_memory(ctx: Context) -> None:
    if ctx.cuda:
        torch.cuda.reset_peak_memory_stats()
    else:
        with contextlib.suppress(OSError):  # not Linux: the figure stays the process-lifetime peak
            Path("/proc/self/clear_refs").write_text("5")


def peak_memory_gib(ctx: Context) -> float:
    if ctx.cuda:
        return torch.cuda.max_memory_allocated() / 2**30
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20
    return math.nan


def row(part: str, variant: str, status: str, **values: Any) -> dict[str, Any]:
    """One table row; columns not given stay empty."""
    r: dict[str, Any] = {"part": part, "variant": variant, "status": status, **dict.fromkeys(COLUMNS[3:])}
    r.update(values)
    r["note"] = r["note"] or ""
    return r


def markdown(report: dict[str, Any]) -> str:
    head = (
        f"GPU check: {report['device']}, {report['shape']} shape, LoRA r={report['settings']['lora_r']}, "
        f"{report['started']}, {report['seconds']:.0f} s\n\n"
    )
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for part in report["parts"].values():
        for r in part["rows"]:
            lines.append("| " + " | ".join(_cell(k, r.get(k)) for k in COLUMNS) + " |")
    return head + "\n".join(lines) + "\n"


def _cell(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if key == "mfu":
        return f"{value:.1%}"
    if key == "vs_plain":
        return f"{value:.2f}x"
    if key == "tokens_per_s":
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.2f}" if key != "s_per_step" else f"{value:.3f}"
    return str(value).replace("|", "/")


def _pick(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in ("batch", "s_per_step", "tokens_per_s", "mfu", "peak_gib", "note")}


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def _version(module: Any) -> str:
    return str(getattr(module, "__version__", "installed"))


def _importable(name: str) -> tuple[bool, str]:
    """(whether ``name`` imports, its version or why not)."""
    if importlib.util.find_spec(name) is None:
        return False, "not installed"
    if name in IMPORT_IN_CHILD:
        code = f"import {name}; print(getattr({name}, '__version__', 'installed'))"
        try:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
        except subprocess.TimeoutExpired:
            return False, "import did not finish in 180 s"
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            return False, f"import failed: {lines[-1] if lines else done.returncode}"[:300]
        return True, done.stdout.strip()
    try:
        return True, _version(importlib.import_module(name))
    except Exception as exc:  # a broken install raises anything (ImportError, OSError for a missing .so, ...)
        return False, f"import failed: {_one_line(exc)}"


# -- main -------------------------------------------------------------------------------------------------------------
PART_FUNCTIONS: dict[str, Callable[[Context], list[dict[str, Any]]]] = {
    "environment": part_environment,
    "sft": part_sft,
    "grpo": part_grpo,
    "qlora": part_qlora,
    "fsdp": part_fsdp,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_check"), help="gpu_check.json and .md go here")
    parser.add_argument("--tiny", action="store_true", help="the tiny shape even on a GPU (automatic without CUDA)")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--budget-s", type=float, default=450, help="no part or variant starts after this many s")
    parser.add_argument("--compile-reserve-s", type=float, default=150, help="time compiled variants need, at least")
    parser.add_argument("--steps", type=int, default=None, help="timed SFT steps per variant (3 GPU, 1 CPU)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed SFT steps first")
    parser.add_argument("--lora-r", type=int, default=64)
    parser.add_argument(
        "--loss-chunk-tokens", type=int, default=None,
        help="the chunked variants' chunk; default a third of the batch's answer tokens, so chunking really happens",
    )  # fmt: skip
    parser.add_argument("--compile-backend", default=None, help="default: inductor on CUDA, eager on the CPU")
    parser.add_argument("--prompts", type=int, default=None, help="GRPO prompts per step (default: 4 GPU, 2 CPU)")
    parser.add_argument("--n", type=int, default=None, help="GRPO rollouts per prompt (default: 8 GPU, 2 CPU)")
    parser.add_argument("--policy-tokens", type=int, default=None, help="GRPO completion budget (256 GPU, 8 CPU)")
    parser.add_argument("--judge-tokens", type=int, default=None, help="judge critique budget (256 GPU, 8 CPU)")
    parser.add_argument("--grpo-steps", type=int, default=2, help="GRPO steps; the first one warms up")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.monotonic()
    cuda = torch.cuda.is_available() and not args.tiny
    preset = PRESETS["8b"] if cuda else TINY
    defaults = {"steps": (3, 1), "prompts": (4, 2), "n": (8, 2), "policy_tokens": (256, 8), "judge_tokens": (256, 8)}
    for name, (gpu_value, cpu_value) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, gpu_value if cuda else cpu_value)
    args.loss_chunk_tokens = args.loss_chunk_tokens or max(1, preset.batch * preset.answer_tokens // 3)
    args.compile_backend = args.compile_backend or ("inductor" if cuda else "eager")
    device = "cuda" if cuda else "cpu"
    report: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores)",
        "shape": "Qwen3-VL-8B" if cuda else "tiny",
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": 0.0,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "parts": {},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        ctx = Context(args, device, torch.bfloat16 if cuda else torch.float32, preset, report["shape"], Path(tmp),
                      started + args.budget_s)  # fmt: skip
        for name in args.parts:
            part_start = time.monotonic()
            print(f"[gpu_check] {name} ...", flush=True)
            if ctx.time_left() < 0:
                rows, status = [row(name, "", "skipped", note="time budget spent")], "skipped"
            else:
                rows, status = run_part(name, ctx)
            report["parts"][name] = {"status": status, "seconds": time.monotonic() - part_start, "rows": rows}
            report["seconds"] = time.monotonic() - started
            write_report(report, args.out)
            free_memory()
    print(markdown(report), flush=True)
    return report


def run_part(name: str, ctx: Context) -> tuple[list[dict[str, Any]], str]:
    """The part's rows and status; a part that cannot run or fails is one row saying why, never an exception."""
    try:
        rows = PART_FUNCTIONS[name](ctx)
    except Skip as reason:
        return [row(name, "", "skipped", note=str(reason))], "skipped"
    except torch.OutOfMemoryError as exc:
        return [row(name, "", "oom", peak_gib=peak_memory_gib(ctx), note=_one_line(exc))], "oom"
    except Exception as exc:
        traceback.print_exc()
        return [row(name, "", "error", note=_one_line(exc))], "error"
    statuses = {r["status"] for r in rows}
    return rows, "ok" if statuses <= {"ok", "missing"} else "partial"


def write_report(report: dict[str, Any], out: Path) -> None:
    (out / "gpu_check.json").write_text(json.dumps(_json_safe(report), indent=2) + "\n")
    (out / "gpu_check.md").write_text(markdown(report))


if __name__ == "__main__":
    main()
