"""Embedding cosine over tiny random DINOv2 / CLIP / SigLIP checkpoints saved and loaded through from_pretrained."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import (
    BitImageProcessorPil,
    CLIPConfig,
    CLIPImageProcessorPil,
    CLIPModel,
    Dinov2Config,
    Dinov2Model,
    SiglipImageProcessorPil,
    SiglipVisionConfig,
    SiglipVisionModel,
)

from src.render.job import RenderResult
from src.reward.baselines import EmbeddingCosineReward
from src.reward.pair import RewardPair
from tests.reward.conftest import bars_image, rendered

ENCODER = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)


def save_tiny_encoder(kind: str, out: Path) -> Path:
    """A random encoder + image processor written with save_pretrained, as a real checkpoint directory is laid out."""
    if kind == "dinov2":
        model = Dinov2Model(Dinov2Config(**ENCODER, image_size=56, patch_size=14))
        processor = BitImageProcessorPil(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56})
    elif kind == "clip":
        text = dict(ENCODER, vocab_size=64, bos_token_id=0, eos_token_id=1, pad_token_id=1)
        model = CLIPModel(CLIPConfig(vision_config=dict(ENCODER, image_size=32, patch_size=8), text_config=text))
        processor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    else:
        model = SiglipVisionModel(SiglipVisionConfig(**ENCODER, image_size=32, patch_size=8))
        processor = SiglipImageProcessorPil(size={"height": 32, "width": 32})
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


@pytest.mark.parametrize("kind", ["dinov2", "clip", "siglip"])
def test_cosine_is_one_for_a_copy_lower_for_another_picture_zero_for_a_failure(kind: str, tmp_path: Path) -> None:
    reward = EmbeddingCosineReward(save_tiny_encoder(kind, tmp_path / kind))
    reference = bars_image([10, 40, 25, 50])
    pairs = [
        RewardPair(reference, rendered(reference), "chart"),
        RewardPair(reference, rendered(bars_image([60, 5, 60, 5], color="#d62728")), "chart"),
        RewardPair(reference, RenderResult.failure("timeout", "15 s"), "chart"),
    ]
    same, other, failed = reward(pairs)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert 0.0 <= other < same - 1e-4
    assert failed == 0.0


def test_each_reference_is_embedded_once_per_call(tmp_path: Path) -> None:
    reward = EmbeddingCosineReward(save_tiny_encoder("dinov2", tmp_path / "dino"), batch_size=64)
    seen: list[int] = []
    embed = reward.embed
    reward.embed = lambda images: (seen.append(len(images)), embed(images))[1]  # type: ignore[method-assign]
    reference = bars_image([10, 40, 25, 50])
    group = [RewardPair(reference, rendered(bars_image([10, 40, 25, h])), "chart") for h in (50, 45, 40, 35)]
    rewards = reward(group)
    assert seen == [1, 4]  # one reference, then the four candidates
    assert rewards[0] == pytest.approx(1.0, abs=1e-5)
