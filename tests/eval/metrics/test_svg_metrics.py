"""SVG metrics: identical renders are perfect, different ones are not, failures take the worst value."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from src.eval.metrics.svg import SVGMetrics
from src.render import RenderResult
from src.reward.pair import RewardPair


def _png(colour: str) -> bytes:
    image = Image.new("RGB", (64, 64), "white")
    image.paste(Image.new("RGB", (32, 32), colour), (16, 16))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_svg_metrics_order_candidates_and_punish_failures() -> None:
    reference = Image.open(io.BytesIO(_png("red"))).convert("RGB")
    pairs = [
        RewardPair(reference, RenderResult(ok=True, png=_png("red")), "svg"),
        RewardPair(reference, RenderResult(ok=True, png=_png("blue")), "svg"),
        RewardPair(reference, RenderResult.failure("syntax", "bad"), "svg"),
    ]
    same, other, failed = SVGMetrics(max_side=64)(pairs)
    assert same == {"ssim": pytest.approx(1.0), "mse": pytest.approx(0.0, abs=1e-9)}
    assert other["ssim"] < 1.0 and other["mse"] > 0.0
    assert failed == {"ssim": 0.0, "mse": 1.0}
    assert SVGMetrics()([]) == []


def test_embedding_cosine_is_reported_when_an_encoder_is_on_disk(tmp_path) -> None:
    from src.reward.baselines import EmbeddingCosineReward
    from tests.reward.baselines.test_embedding import save_tiny_encoder

    encoder = EmbeddingCosineReward(save_tiny_encoder("dinov2", tmp_path / "dino"))
    reference = Image.open(io.BytesIO(_png("red"))).convert("RGB")
    pairs = [RewardPair(reference, RenderResult(ok=True, png=_png(c)), "svg") for c in ("red", "blue")]
    same, other = SVGMetrics(max_side=64, embedding=encoder)(pairs)
    assert same["embedding_cosine"] == pytest.approx(1.0, abs=1e-5)
    assert other["embedding_cosine"] < same["embedding_cosine"]
