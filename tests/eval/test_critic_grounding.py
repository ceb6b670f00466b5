"""The grounding loss: a critic's loss with the real candidate against the same with the reference twice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from src.data.shards import load_pairs
from src.eval.critic_grounding import grounding_loss


def test_identical_pairs_have_no_gap_and_real_pairs_are_scored_both_ways(handful_pair_shards: Path, tiny_vlm,
                                                                          tiny_processor) -> None:  # fmt: skip
    pairs, _ = load_pairs(handful_pair_shards / "train.jsonl")
    pairs = pairs[:3]
    result = grounding_loss(tiny_vlm, tiny_processor, pairs, max_image_side=256, max_length=2048, batch_size=2)
    assert result.pairs == 3 and result.real > 0 and result.blind > 0
    assert result.real != pytest.approx(result.blind, abs=1e-6)  # the candidates differ from their references
    same = [replace(p, candidate_image=p.reference_image, candidate_size=p.reference_size) for p in pairs]
    identical = grounding_loss(tiny_vlm, tiny_processor, same, max_image_side=256, max_length=2048, batch_size=2)
    assert identical.gap == pytest.approx(0.0, abs=1e-5)
    assert identical.real == pytest.approx(result.blind, rel=1e-5)  # "blind" is exactly the reference-twice loss
    with pytest.raises(ValueError, match="at least one pair"):
        grounding_loss(tiny_vlm, tiny_processor, [])
