"""From a pair of images and a target critique to model inputs, and from samples to padded batches.

Why the prompt is encoded with ``add_generation_prompt=True`` and the answer tokenized on its own (then
concatenated): the model is trained on exactly the token sequence it sees at inference (prompt ids from the
generation prompt, then its own answer), with no dependence on how the chat template renders a finished assistant
turn. The answer ends with the template's end-of-turn marker (``<|im_end|>`` for Qwen), read off the template
itself, so the model learns to stop. Labels are -100 on every prompt token (images included) and on padding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

IGNORE_INDEX = -100
# Processor outputs with one entry per token; everything else (pixel_values, image_grid_thw) is per image.
TOKEN_KEYS: tuple[str, ...] = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")
_ANSWER_PROBE = "\x00ANSWER\x00"


def load_image(path: str | Path, max_side: int) -> Image.Image:
    """RGB image with its longest side capped at ``max_side`` (paper: 1024 charts/SVG, 768 tables)."""
    with Image.open(path) as img:
        img.load()
        rgb = img.convert("RGB")
    if max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        rgb = rgb.resize(
            (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.Resampling.BICUBIC
        )
    return rgb


def answer_suffix(processor: Any) -> str:
    """What the chat template writes right after an assistant answer, up to the end-of-turn token."""
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {"role": "assistant", "content": [{"type": "text", "text": _ANSWER_PROBE}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False)
    if _ANSWER_PROBE not in text:
        raise ValueError("the processor's chat template drops the assistant answer; cannot build training samples")
    return text.split(_ANSWER_PROBE, 1)[1].rstrip()  # the newline after <|im_end|> belongs to the next turn


def encode_prompt(processor: Any, messages: list[dict[str, Any]], images: Sequence[Image.Image]) -> dict[str, Any]:
    """Generation-prompt inputs of one chat: token tensors 1-D, image tensors as the processor returns them."""
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    enc = processor(text=[text], images=list(images) or None, return_tensors="pt")
    out: dict[str, Any] = {}
    for key, value in enc.items():
        if key in TOKEN_KEYS:
            out[key] = value[0]
        elif isinstance(value, torch.Tensor):
            out[key] = value
    return out


def encode_answer(processor: Any, target: str, suffix: str) -> torch.Tensor:
    """Token ids of the assistant answer followed by the end-of-turn ``suffix`` (see ``answer_suffix``)."""
    ids = processor.tokenizer(target + suffix, add_special_tokens=False)["input_ids"]
    return torch.tensor(ids, dtype=torch.long)


class AnswerTooLong(ValueError):
    """Prompt + answer exceed the token budget. Never cut: a cut critique is broken JSON without its end-of-turn
    token, and training on it teaches the model to stop mid-object."""


def training_sample(prompt: dict[str, Any], answer_ids: torch.Tensor, max_length: int, where: str) -> dict[str, Any]:
    """Prompt + answer as one sequence with labels on the answer only; raises ``AnswerTooLong`` past ``max_length``."""
    prompt_len = prompt["input_ids"].shape[0]
    if prompt_len + answer_ids.shape[0] > max_length:
        raise AnswerTooLong(
            f"{where}: prompt {prompt_len} + answer {answer_ids.shape[0]} tokens exceed max_length {max_length}"
        )
    sample = {k: v for k, v in prompt.items() if k not in TOKEN_KEYS}
    sample["input_ids"] = torch.cat([prompt["input_ids"], answer_ids])
    sample["attention_mask"] = torch.ones_like(sample["input_ids"])
    for key in ("mm_token_type_ids", "token_type_ids"):
        if key in prompt:  # answer tokens are text: type 0
            sample[key] = torch.cat([prompt[key], torch.zeros_like(answer_ids)])
    sample["labels"] = torch.cat([torch.full((prompt_len,), IGNORE_INDEX, dtype=torch.long), answer_ids])
    sample["prompt"] = prompt
    return sample


def pad_token_batch(
    rows: Sequence[dict[str, torch.Tensor]], pad_id: int, side: str = "right", with_labels: bool = False
) -> dict[str, torch.Tensor]:
    """Pad the per-token tensors of ``rows`` to one length; images are concatenated in row order."""
    longest = max(r["input_ids"].shape[0] for r in rows)
    fill = {"input_ids": pad_id, "attention_mask": 0, "mm_token_type_ids": 0, "token_type_ids": 0}
    if with_labels:
        fill["labels"] = IGNORE_INDEX
    out: dict[str, torch.Tensor] = {}
    for key, value in fill.items():
        if key not in rows[0]:
            continue
        padded = torch.full((len(rows), longest), value, dtype=rows[0][key].dtype)
        for i, r in enumerate(rows):
            n = r[key].shape[0]
            if side == "right":
                padded[i, :n] = r[key]
            else:
                padded[i, longest - n :] = r[key]
        out[key] = padded
    for key in ("pixel_values", "image_grid_thw"):
        if key in rows[0]:
            out[key] = torch.cat([r[key] for r in rows])
    return out


def pack_token_batch(
    rows: Sequence[dict[str, torch.Tensor]],
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Concatenate ``rows`` into one padding-free row of shape (1, total tokens), plus where each sample lies.

    Returns ``(tokens, packing)``: ``tokens`` has the per-token keys (``labels`` included) without an attention
    mask, and the images concatenated in row order; ``packing`` holds ``seq_lens`` and ``images_per_seq``, from
    which the model side builds per-sample positions (``src.models.packing``), so that no token attends across a
    sample boundary. The first token of every sample is a prompt token (label -100), so no loss term predicts
    one sample from the end of another.
    """
    tokens: dict[str, torch.Tensor] = {}
    for key in ("input_ids", "mm_token_type_ids", "token_type_ids", "labels"):
        if key in rows[0]:
            tokens[key] = torch.cat([r[key] for r in rows])[None]
    for key in ("pixel_values", "image_grid_thw"):
        if key in rows[0]:
            tokens[key] = torch.cat([r[key] for r in rows])
    packing = {
        "seq_lens": torch.tensor([r["input_ids"].shape[0] for r in rows], dtype=torch.long),
        "images_per_seq": torch.tensor(
            [r["image_grid_thw"].shape[0] if "image_grid_thw" in r else 0 for r in rows], dtype=torch.long
        ),
    }
    return tokens, packing


def pad_id_of(processor: Any) -> int:
    tok = processor.tokenizer
    if tok.pad_token_id is not None:
        return int(tok.pad_token_id)
    if tok.eos_token_id is not None:
        return int(tok.eos_token_id)
    raise ValueError("the tokenizer has neither a pad nor an eos token to pad with")


def image_token_estimate(processor: Any, width: int, height: int, max_side: int) -> int:
    """Tokens one image costs after our downscale and the processor's own resize (Qwen2/3-VL rule).

    Mirrors the processor's resize (sides rounded to ``patch * merge``, area kept within its pixel bounds); it is
    only an estimate for bucketing, so processors without these attributes get a flat 256.
    """
    ip = getattr(processor, "image_processor", None)
    patch, merge = getattr(ip, "patch_size", None), getattr(ip, "merge_size", None)
    if not patch or not merge:
        return 256
    size = getattr(ip, "size", None)
    min_pixels = getattr(ip, "min_pixels", None) or _size_field(size, "shortest_edge") or 56 * 56
    max_pixels = getattr(ip, "max_pixels", None) or _size_field(size, "longest_edge") or 28 * 28 * 1280
    scale = min(1.0, max_side / max(width, height, 1))
    w, h = width * scale, height * scale
    factor = patch * merge
    hb, wb = max(factor, round(h / factor) * factor), max(factor, round(w / factor) * factor)
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb, wb = (
            max(factor, math.floor(h / beta / factor) * factor),
            max(factor, math.floor(w / beta / factor) * factor),
        )
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return int(hb * wb // (factor * factor))


def _size_field(size: Any, name: str) -> int | None:
    if size is None:
        return None
    value = size.get(name) if isinstance(size, dict) else getattr(size, name, None)
    return int(value) if value else None
