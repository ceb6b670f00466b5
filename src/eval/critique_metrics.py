"""Metrics that compare a predicted critique with the true one, as torchmetrics states (DDP-safe sums).

Matching is at the category level: for each category of a pair, min(predicted count, true count) errors are true
positives. This is the cheap, judge-free proxy used during RM SFT validation; the benchmark's F1h/F1s, which match
individual errors by their descriptions, live with the judge benchmark.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric

from src.data.schema import Critique


class CritiqueDetection(Metric):
    """Precision / recall / F1 of detected discrepancies, matched by category.

    An unparseable prediction (``None``) predicts no errors, so it costs recall and never earns precision.
    A pair with no true and no predicted errors contributes nothing; if every pair is like that, F1 is 1.
    """

    full_state_update = False
    higher_is_better = True
    tp: torch.Tensor
    fp: torch.Tensor
    fn: torch.Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_state("tp", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("fp", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("fn", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, preds: Sequence[Critique | None], targets: Sequence[Critique]) -> None:
        if len(preds) != len(targets):
            raise ValueError(f"got {len(preds)} predictions for {len(targets)} targets")
        for pred, target in zip(preds, targets, strict=True):
            true_counts = target.counts()
            pred_counts = pred.counts() if pred is not None else dict.fromkeys(true_counts, 0)
            for category, n_true in true_counts.items():
                n_pred = pred_counts.get(category, 0)
                hit = min(n_pred, n_true)
                self.tp += hit
                self.fp += n_pred - hit
                self.fn += n_true - hit

    def compute(self) -> dict[str, torch.Tensor]:
        tp, fp, fn = self.tp, self.fp, self.fn
        if tp + fp + fn == 0:
            one = torch.tensor(1.0, device=tp.device)
            return {"precision": one, "recall": one, "f1": one}
        precision = tp / (tp + fp) if tp + fp > 0 else torch.zeros_like(tp)
        recall = tp / (tp + fn) if tp + fn > 0 else torch.zeros_like(tp)
        denom = precision + recall
        f1 = 2 * precision * recall / denom if denom > 0 else torch.zeros_like(tp)
        return {"precision": precision, "recall": recall, "f1": f1}
