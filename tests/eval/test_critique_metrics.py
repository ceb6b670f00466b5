"""Category-level detection metric, pinned to hand-computed counts."""

from __future__ import annotations

import pytest
import torch

from src.data.schema import Critique, Discrepancy
from src.eval.critique_metrics import CritiqueDetection


def chart(*categories: str) -> Critique:
    return Critique("chart", tuple(Discrepancy(c, 2, "somewhere", "something") for c in categories))


def test_counts_matches_per_category() -> None:
    metric = CritiqueDetection()
    # pair 1: true {data, data, text}; predicted {data, style} -> tp 1 (data), fp 1 (style), fn 2 (data, text)
    # pair 2: true {structure}; unparseable prediction -> fn 1
    # pair 3: true {}; predicted {text} -> fp 1
    metric.update(
        [chart("data", "style"), None, chart("text")], [chart("data", "data", "text"), chart("structure"), chart()]
    )
    out = metric.compute()
    precision, recall = 1 / 3, 1 / 4
    torch.testing.assert_close(out["precision"], torch.tensor(precision))
    torch.testing.assert_close(out["recall"], torch.tensor(recall))
    torch.testing.assert_close(out["f1"], torch.tensor(2 * precision * recall / (precision + recall)))


def test_all_equivalent_pairs_predicted_equivalent_is_perfect() -> None:
    metric = CritiqueDetection()
    metric.update([chart(), chart()], [chart(), chart()])
    assert float(metric.compute()["f1"]) == 1.0


def test_no_hit_gives_zero_f1() -> None:
    metric = CritiqueDetection()
    metric.update([chart("style")], [chart("data")])
    assert float(metric.compute()["f1"]) == 0.0


def test_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="2 predictions for 1 targets"):
        CritiqueDetection().update([chart(), chart()], [chart()])
