"""Metrics that compare a predicted critique with the true one, as torchmetrics states (DDP-safe sums).

Matching is at the category level: for each category of a pair, min(predicted count, true count) errors are true
positives. This is the cheap, judge-free proxy used during RM SFT validation; the benchmark's F1h/F1s, which match
individual errors by their descriptions, live with the judge benchmark.

DDP/FSDP: ``Metric.compute()`` all-gathers its states, so it is a collective: every rank must call it, whatever it
saw. Every state here is a sum (torchmetrics' own Pearson keeps per-rank means merged by a custom rule), and
``CritiqueScores.compute`` calls every ``compute()`` unconditionally and decides what to report from the synced
values only, so all ranks take the same branch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import MeanMetric, Metric, SumMetric

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


class SeverityPearson(Metric):
    """Pearson correlation of predicted and true per-pair severity sums (the paper's Sc), from summed moments.

    Sums of n, x, y, x², y², xy (float64) reduce by addition across ranks, so the synced value equals the one a
    single process would compute. Undefined (fewer than two pairs, or a constant side) gives NaN, like the official
    evaluator.
    """

    full_state_update = False
    higher_is_better = True
    moments: torch.Tensor

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        # n, Σx, Σy, Σx², Σy², Σxy
        self.add_state("moments", default=torch.zeros(6, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, targets: torch.Tensor) -> None:
        x = preds.detach().to(torch.float64).flatten()
        y = targets.detach().to(torch.float64).flatten()
        if x.shape != y.shape:
            raise ValueError(f"got {x.numel()} predicted sums for {y.numel()} true sums")
        self.moments += torch.stack(
            [x.new_tensor(float(x.numel())), x.sum(), y.sum(), (x * x).sum(), (y * y).sum(), (x * y).sum()]
        )

    def compute(self) -> torch.Tensor:
        n, sx, sy, sxx, syy, sxy = self.moments
        cov = sxy - sx * sy / n.clamp(min=1)
        var_x = sxx - sx * sx / n.clamp(min=1)
        var_y = syy - sy * sy / n.clamp(min=1)
        # Relative tolerance: a constant side leaves rounding noise, not a variance.
        tiny = 1e-12 * (sxx + syy + 1.0)
        if n < 2 or var_x <= tiny or var_y <= tiny:
            return torch.tensor(float("nan"), dtype=torch.float32, device=self.moments.device)
        return (cov / torch.sqrt(var_x * var_y)).to(torch.float32)


class CritiqueScores(torch.nn.Module):
    """Every generation metric of validation: parse rate, category-level precision/recall/F1, severity Pearson.

    An unparseable critique counts as one that names no error (severity 0), as the official evaluator scores a
    prediction without errors; it also lowers the parse rate.
    """

    def __init__(self) -> None:
        super().__init__()
        self.generated = SumMetric()
        self.parse_rate = MeanMetric()
        self.detection = CritiqueDetection()
        self.severity_pearson = SeverityPearson()

    def update(self, preds: Sequence[Critique | None], targets: Sequence[Critique]) -> None:
        if len(preds) != len(targets):
            raise ValueError(f"got {len(preds)} predictions for {len(targets)} targets")
        device = self.generated.device
        self.generated.update(torch.tensor(float(len(preds)), device=device))
        self.parse_rate.update(torch.tensor([p is not None for p in preds], dtype=torch.float, device=device))
        self.detection.update(preds, targets)
        self.severity_pearson.update(
            torch.tensor([p.severity_sum if p is not None else 0 for p in preds], dtype=torch.float, device=device),
            torch.tensor([t.severity_sum for t in targets], dtype=torch.float, device=device),
        )

    def compute(self) -> dict[str, torch.Tensor]:
        """Collective under DDP/FSDP: call it on every rank. Empty when no rank generated anything."""
        import warnings

        with warnings.catch_warnings():  # a rank that generated nothing warns that compute precedes update
            warnings.filterwarnings("ignore", message=".*compute.*before.*update.*")
            generated = self.generated.compute()
            parse_rate = self.parse_rate.compute()
            detection = self.detection.compute()
            pearson = self.severity_pearson.compute()
        if generated.item() == 0:  # synced: the same on every rank
            return {}
        scores = {"parse_rate": parse_rate, "generated": generated, **detection}
        if torch.isfinite(pearson):
            scores["severity_pearson"] = pearson
        return scores

    def reset(self) -> None:
        for metric in (self.generated, self.parse_rate, self.detection, self.severity_pearson):
            metric.reset()
