"""A tiny SVG policy taught two answers, for GRPO tests, the quick demo and ``benchmarks/grpo_step.py``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import cast

import torch
from PIL import Image
from transformers import PreTrainedModel

from src.data.collate import answer_suffix, encode_answer, encode_prompt, pad_id_of, pad_token_batch, training_sample
from src.data.prompts import build_policy_messages
from src.models.loading import VLMLoader, load_vlm
from src.stages.sft import answer_token_loss

# The same drawing, closed or not: after "/>" a tiny policy taught both chooses between "</svg>" (renders) and
# stopping (an unclosed document the renderer rejects), a single decision with reward variance in every GRPO group
# (the GRPO tests and ``benchmarks/grpo_step.py``).
TINY_SVG_ANSWERS = (
    '<svg width="64" height="64"><rect width="40" height="30"/></svg>',
    '<svg width="64" height="64"><rect width="40" height="30"/>',
)


def teach_tiny_svg_policy(
    tiny_dir: str | Path,
    out: str | Path,
    steps: int,
    answers: Sequence[str] = TINY_SVG_ANSWERS,
    image: Image.Image | None = None,
) -> Path:
    """The tiny model after ``steps`` full SFT steps on ``answers`` to the SVG prompt with ``image`` (default: a white
    64 px square), saved to ``out``: every answer about equally likely (50 steps: loss ~0.04 on two answers)."""
    torch.manual_seed(0)
    model, processor = load_vlm(VLMLoader(str(tiny_dir), dtype="float32", attn_implementation="sdpa"))
    model.train()
    image = image if image is not None else Image.new("RGB", (64, 64), "white")
    prompt = encode_prompt(processor, build_policy_messages("svg", image), [image])
    suffix = answer_suffix(processor)
    rows = [training_sample(prompt, encode_answer(processor, a, suffix), 512, "svg") for a in answers]
    batch = pad_token_batch(rows, pad_id_of(processor), side="right", with_labels=True)
    labels = batch.pop("labels")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(steps):
        answer_token_loss(model, batch, labels).backward()
        optimizer.step()
        optimizer.zero_grad()
    out = Path(out)
    cast("PreTrainedModel", model).save_pretrained(out)  # no LoRA: the transformers model itself
    processor.save_pretrained(out)
    return out
