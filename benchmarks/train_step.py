"""Training-step speed of VLMSFT against a plain transformers + peft loop on the same batch, in one run.

    python benchmarks/train_step.py                      # Qwen3-VL-8B shape, needs a CUDA GPU (bf16, LoRA r=64)
    python benchmarks/train_step.py --lengths ragged --compile --qlora   # + packing on uneven samples, compile, NF4
    python benchmarks/train_step.py --preset small       # CPU proxy (real vocabulary, narrow layers)
    python benchmarks/train_step.py --preset tiny        # CPU smoke run of the same code paths (figures not meaningful)

Both sides get the same random-weight model (built from a config: no download), the same LoRA (r=64 on the language
model's attention and MLP projections), and the same batch of realistic two-image critic samples. The plain loop is
what a researcher writes first: a right-padded batch, ``model(**inputs, labels=labels).loss`` (full [B, T, V] logits)
and ``torch.optim.AdamW`` (foreach). Ours: the stage's ``answer_token_loss`` (logits only at answer positions, in
chunks) + fused AdamW; then the same on the padding-free packed batch (``src.data.collate.pack_token_batch``), and
with ``--compile`` both again with the repeated blocks compiled. Every variant is credited the batch's real (unpadded)
tokens, so time spent on padding counts against the padded ones.
MFU counts 4·N·tokens FLOPs per step (forward 2N + activation gradients 2N; the frozen base gets no weight
gradients), against a peak of 989 TFLOP/s dense bf16 (H100/H200 datasheet). Peak memory: the CUDA allocator's peak
on a GPU, the process's peak resident memory (weights included) on the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from src.data.collate import pack_token_batch, pad_token_batch
from src.stages.sft import IGNORE_INDEX, answer_token_loss, compile_repeated_blocks

PEAK_FLOPS = {"cuda": 989e12, "cpu": float("nan")}


@dataclass(frozen=True)
class Preset:
    text: dict
    vision: dict
    image_tokens: int  # merged tokens per image (after 2x2 spatial merge)
    answer_tokens: int
    seq_len: int
    batch: int


PRESETS = {
    # Qwen3-VL-8B-Instruct's published shape.
    "8b": Preset(
        text=dict(
            hidden_size=4096,
            intermediate_size=12288,
            num_hidden_layers=36,
            num_attention_heads=32,
            num_key_value_heads=8,
            head_dim=128,
            vocab_size=151936,
            max_position_embeddings=32768,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 5e6,
                "mrope_section": [24, 20, 20],
                "mrope_interleaved": True,
            },
        ),
        vision=dict(
            depth=27,
            hidden_size=1152,
            intermediate_size=4304,
            num_heads=16,
            out_hidden_size=4096,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            deepstack_visual_indexes=[8, 16, 24],
            num_position_embeddings=2304,
        ),
        image_tokens=784,
        answer_tokens=320,
        seq_len=2048,
        batch=4,
    ),
    # CPU-sized: real 151k vocabulary, a few narrow layers. Its ratios over-weight the LM head (which is most of
    # this model's FLOPs) and are a proxy only; the target is defined on the 8b preset.
    "small": Preset(
        text=dict(
            hidden_size=512,
            intermediate_size=1536,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=4,
            head_dim=64,
            vocab_size=151936,
            max_position_embeddings=8192,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1e6,
                "mrope_section": [16, 8, 8],
                "mrope_interleaved": True,
            },
        ),
        vision=dict(
            depth=2,
            hidden_size=256,
            intermediate_size=512,
            num_heads=4,
            out_hidden_size=512,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            deepstack_visual_indexes=[0, 1],
            num_position_embeddings=256,
        ),
        image_tokens=144,
        answer_tokens=160,
        seq_len=1024,
        batch=4,
    ),
    "tiny": Preset(
        text=dict(
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            vocab_size=151936,
            max_position_embeddings=4096,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 1e4,
                "mrope_section": [4, 2, 2],
                "mrope_interleaved": True,
            },
        ),
        vision=dict(
            depth=1,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            out_hidden_size=64,
            patch_size=16,
            spatial_merge_size=2,
            temporal_patch_size=2,
            deepstack_visual_indexes=[0],
            num_position_embeddings=256,
        ),
        image_tokens=64,
        answer_tokens=96,
        seq_len=512,
        batch=2,
    ),
}


def build_model(preset: Preset, device: str, dtype: torch.dtype, lora_r: int, config=None):
    """``preset``'s shape with random weights and LoRA ``lora_r``; ``config`` (e.g. a ``write_random_checkpoint``
    checkpoint's, whose token ids are the tiny tokenizer's) replaces the one built from the preset."""
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    if config is None:
        config = Qwen3VLConfig(text_config=preset.text, vision_config=preset.vision, tie_word_embeddings=False)
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration(config).to(dtype)
    lora = LoraConfig(
        r=lora_r,
        lora_alpha=2 * lora_r,
        lora_dropout=0.0,
        target_modules=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)",
    )
    return get_peft_model(model, lora), config


def write_random_checkpoint(preset: Preset, model_dir: Path, device: str = "cpu") -> Path:
    """A random-weight checkpoint of ``preset``'s shape (bf16 safetensors) that loads through ``load_vlm``.

    The tokenizer, chat template and processor are the tiny model's (``build_tiny_qwen3_vl``), and the config takes
    its special-token ids, so prompts the processor builds find their image slots in this model too. ``device``:
    where the weights are initialised before saving (an 8B shape initialises in seconds on a GPU, minutes on a CPU).
    """
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration

    from src.models import build_tiny_qwen3_vl

    tiny = build_tiny_qwen3_vl(model_dir.parent / f"{model_dir.name}-tokenizer")
    ids = Qwen3VLConfig.from_pretrained(tiny)
    token_ids = {k: getattr(ids.text_config, k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    config = Qwen3VLConfig(
        text_config={**preset.text, **token_ids},
        vision_config=preset.vision,
        image_token_id=ids.image_token_id,
        video_token_id=ids.video_token_id,
        vision_start_token_id=ids.vision_start_token_id,
        vision_end_token_id=ids.vision_end_token_id,
        tie_word_embeddings=False,
    )
    with torch.device(device):
        model = Qwen3VLForConditionalGeneration._from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(model_dir)
    del model
    for f in tiny.iterdir():
        if f.is_file() and not f.name.startswith(("config", "model")):
            shutil.copy(f, model_dir / f.name)
    return model_dir


def load_qlora_model(model_dir: Path, lora_r: int):
    """A checkpoint (``write_random_checkpoint``) through the real QLoRA path: ``load_vlm`` in NF4, LoRA ``lora_r``."""
    from src.models import LoraSettings, VLMLoader, load_vlm_model

    loader = VLMLoader(
        name_or_path=str(model_dir),
        dtype="bfloat16",
        quantization="nf4",
        lora=LoraSettings(r=lora_r, alpha=2 * lora_r, dropout=0.0),
    )
    model = load_vlm_model(loader)
    return model.train(), model.config  # from_pretrained hands back eval mode


def make_samples(preset: Preset, config, lengths: str) -> list[dict[str, torch.Tensor]]:
    """Critic-shaped samples: text, two images, prompt text, then the answer (the only labelled tokens).

    ``lengths="fixed"``: every sample is ``seq_len`` tokens (the issue's reference batch). ``"ragged"``: lengths
    drawn uniformly from [seq_len/2, seq_len], as a batch of real pairs without length bucketing.
    """
    g = torch.Generator().manual_seed(0)
    side = int(preset.image_tokens**0.5) * 2  # patches per side before the 2x2 merge
    patch_dim = 3 * 2 * 16 * 16
    markers = torch.tensor(
        [config.image_token_id, config.video_token_id, config.vision_start_token_id, config.vision_end_token_id]
    )
    samples = []
    for _ in range(preset.batch):
        t = (
            preset.seq_len
            if lengths == "fixed"
            else int(torch.randint(preset.seq_len // 2, preset.seq_len + 1, (1,), generator=g))
        )
        input_ids = torch.randint(1000, min(100000, config.text_config.vocab_size), (t,), generator=g)
        # A random id equal to a vision marker would be read as an image slot (a checkpoint whose markers are the tiny
        # tokenizer's low ids, from write_random_checkpoint, has them inside this range).
        input_ids[torch.isin(input_ids, markers)] = 999
        mm = torch.zeros(t, dtype=torch.long)
        for k in range(2):
            s = 8 + k * (preset.image_tokens + 4)
            input_ids[s - 1] = config.vision_start_token_id
            input_ids[s : s + preset.image_tokens] = config.image_token_id
            input_ids[s + preset.image_tokens] = config.vision_end_token_id
            mm[s : s + preset.image_tokens] = 1
        labels = torch.full((t,), IGNORE_INDEX)
        labels[t - preset.answer_tokens :] = input_ids[t - preset.answer_tokens :]
        samples.append(
            {
                "input_ids": input_ids,
                "attention_mask": torch.ones(t, dtype=torch.long),
                "mm_token_type_ids": mm,
                "labels": labels,
                "pixel_values": torch.randn(2 * side * side, patch_dim, generator=g),
                "image_grid_thw": torch.tensor([[1, side, side]] * 2),
            }
        )
    return samples


def to_device(tensors: dict[str, torch.Tensor], device: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: v.to(device, dtype if v.is_floating_point() else v.dtype) for k, v in tensors.items()}


def time_steps(step, n_warmup: int, n_steps: int, device: str) -> float:
    for _ in range(n_warmup):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(n_steps):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / n_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="8b")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--lora-r", type=int, default=64)
    parser.add_argument("--lengths", choices=("fixed", "ragged"), default="fixed", help="see make_samples")
    parser.add_argument("--loss-chunk-tokens", type=int, default=2048)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time ours with compile_repeated_blocks")
    parser.add_argument("--qlora", action="store_true", help="also time the step on the NF4 (QLoRA) model via load_vlm")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.preset == "8b" and device != "cuda":
        raise SystemExit("the 8b preset needs a CUDA GPU; use --preset small or tiny on a CPU")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    preset = PRESETS[args.preset]
    model, config = build_model(preset, device, dtype, args.lora_r)
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    samples = make_samples(preset, config, args.lengths)
    padded = to_device(pad_token_batch(samples, pad_id=0, with_labels=True), device, dtype)
    padded_labels = padded.pop("labels")
    packed_tokens, packing = pack_token_batch(samples)
    packed = to_device(packed_tokens, device, dtype)
    packed_labels = packed.pop("labels")
    packing = to_device(packing, device, dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    n_params = sum(p.numel() for p in model.parameters())
    real_tokens = sum(len(x["input_ids"]) for x in samples)  # padding is not work: every variant is credited these

    plain_opt = torch.optim.AdamW(params, lr=1e-5, foreach=True)
    ours_opt = torch.optim.AdamW(params, lr=1e-5, fused=device == "cuda")
    chunk = args.loss_chunk_tokens
    plain_step = optimizer_step(lambda: model(**padded, labels=padded_labels).loss, plain_opt)
    ours_step = optimizer_step(lambda: answer_token_loss(model, padded, padded_labels, chunk_tokens=chunk), ours_opt)
    ours_packed_step = optimizer_step(
        lambda: answer_token_loss(model, packed, packed_labels, packing, chunk_tokens=chunk), ours_opt
    )

    variants = [("plain transformers+peft", plain_step), ("ours", ours_step), ("ours, packed", ours_packed_step)]
    rows = [measure(name, step, args, device, real_tokens, n_params) for name, step in variants]
    if args.compile:
        compile_repeated_blocks(model)  # in place: from here on every step of this model runs compiled blocks
        rows.append(measure("ours, compiled blocks", ours_step, args, device, real_tokens, n_params))
        rows.append(measure("ours, packed + compiled", ours_packed_step, args, device, real_tokens, n_params))
    if args.qlora:
        # free the fp32/bf16 model first (the step closures hold it too), so the peak below is the NF4 model's
        del model, plain_opt, ours_opt, params, plain_step, ours_step, ours_packed_step, variants
        gc.collect()
        workdir = Path(tempfile.mkdtemp(prefix="qlora-bench-"))
        qmodel, qconfig = load_qlora_model(write_random_checkpoint(preset, workdir / "model", device), args.lora_r)
        q_opt = torch.optim.AdamW([p for p in qmodel.parameters() if p.requires_grad], lr=1e-5, fused=device == "cuda")
        # the same samples (seeded), with this checkpoint's vision-marker ids
        q_inputs = pad_token_batch(make_samples(preset, qconfig, args.lengths), pad_id=0, with_labels=True)
        q_labels = q_inputs.pop("labels").to(device)
        q_inputs = to_device(q_inputs, device, torch.bfloat16)
        qlora_step = optimizer_step(lambda: answer_token_loss(qmodel, q_inputs, q_labels, chunk_tokens=chunk), q_opt)
        rows.append(measure("ours, QLoRA (NF4 base)", qlora_step, args, device, real_tokens, n_params))

    lengths = [len(x["input_ids"]) for x in samples]
    print(
        f"device={device} preset={args.preset} params={n_params / 1e9:.2f}B samples={lengths} "
        f"(padded {preset.batch}x{max(lengths)}, {real_tokens} real tokens) answer_tokens/sample={preset.answer_tokens} "
        f"lora_r={args.lora_r} grad_ckpt={args.gradient_checkpointing} loss_chunk={args.loss_chunk_tokens}"
    )
    print(f"{'variant':<28}{'s/step':>10}{'tok/s':>12}{'MFU':>8}{'peak GiB':>10}{'vs plain':>10}")
    for name, seconds, tok_s, mfu, peak in rows:
        print(f"{name:<28}{seconds:>10.3f}{tok_s:>12.0f}{mfu:>8.1%}{peak:>10.1f}{tok_s / rows[0][2]:>9.2f}x")
    best = max(rows[1:], key=lambda r: r[2])
    print(f"best ours / plain: {best[2] / rows[0][2]:.2f}x ({best[0]}; target >= 1.4x on the 8b preset)")


def optimizer_step(loss_fn: Callable[[], torch.Tensor], optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """One training step of every variant: its loss, backward, optimizer step, gradients freed."""

    def step() -> None:
        loss_fn().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def measure(name: str, step, args: argparse.Namespace, device: str, tokens: int, n_params: int) -> tuple:
    """(name, s/step, tok/s, MFU, peak GiB) of ``step``.

    Peak memory is the CUDA allocator's peak on a GPU; on the CPU it is the process's peak resident memory over this
    variant's steps (Linux ``VmHWM``, reset before each variant), weights included.
    """
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    else:
        _reset_peak_rss()
    seconds = time_steps(step, args.warmup, args.steps, device)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else _peak_rss_gib()
    tok_s = tokens / seconds
    return name, seconds, tok_s, 4 * n_params * tok_s / PEAK_FLOPS[device], peak


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # not Linux: the figure stays the process-lifetime peak
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak resident set size (Linux >= 4.0)


def _peak_rss_gib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return float("nan")


if __name__ == "__main__":
    main()
