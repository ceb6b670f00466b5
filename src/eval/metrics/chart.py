"""ChartMimic-style low-level chart metrics: F1 of drawn text, layout cells, plot types and colours.

Both programs run in the render pool with ``RenderJob(trace=True)`` (``src.render.chart_trace`` records what
matplotlib drew inside the sandboxed child), and the two traces are compared here:
- text, layout, type: multiset F1. True positives are the items both drew (``min`` of the two counts per item),
  precision = TP / |candidate|, recall = TP / |reference|.
- colour: each candidate colour is paired one-to-one with a reference colour drawn by the same kind of plot call
  (scipy's assignment solver maximizes the summed similarity); a pair scores ``max(0, 1 − ΔE00/100)``, other
  calls' colours 0. Precision = Σ similarity / |candidate|, recall = Σ similarity / |reference| (ChartMimic's
  soft F1).
Conventions: two empty sides agree (F1 = 1: neither chart has a legend, say); one empty side scores 0; a candidate
that did not run scores 0 on all four (ChartMimic counts failed executions in the average). ``low_level`` is the
mean of the four, ChartMimic's low-level score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from src.eval.metrics.colour import colour_similarity
from src.render.chart_trace import ChartTrace

CHART_METRICS: tuple[str, ...] = ("text_f1", "layout_f1", "type_f1", "colour_f1", "low_level")


def f1_from(tp: float, n_candidate: int, n_reference: int) -> float:
    """F1 of ``tp`` (possibly fractional) matches; both sides empty is a perfect match."""
    if n_candidate == 0 and n_reference == 0:
        return 1.0
    if n_candidate == 0 or n_reference == 0 or tp <= 0:
        return 0.0
    precision, recall = tp / n_candidate, tp / n_reference
    return 2 * precision * recall / (precision + recall)


def multiset_f1(reference: Sequence[Hashable], candidate: Sequence[Hashable]) -> float:
    """F1 where an item counts as often as both sides drew it."""
    tp = sum((Counter(reference) & Counter(candidate)).values())
    return f1_from(tp, len(candidate), len(reference))


def colour_f1(reference: Sequence[tuple[str, str]], candidate: Sequence[tuple[str, str]]) -> float:
    """Soft F1 of (plot call, ``#rrggbb``) colours: one-to-one pairing within the same call kind by CIEDE2000."""
    if not reference or not candidate:
        return f1_from(0, len(candidate), len(reference))
    similarity = np.zeros((len(reference), len(candidate)))
    cache: dict[tuple[str, str], float] = {}
    for i, (ref_call, ref_colour) in enumerate(reference):
        for j, (cand_call, cand_colour) in enumerate(candidate):
            if ref_call == cand_call:
                key = (ref_colour, cand_colour)
                if key not in cache:
                    cache[key] = colour_similarity(ref_colour, cand_colour)
                similarity[i, j] = cache[key]
    rows, cols = linear_sum_assignment(similarity, maximize=True)
    return f1_from(float(similarity[rows, cols].sum()), len(candidate), len(reference))


def chart_scores(reference: ChartTrace, candidate: ChartTrace | None) -> dict[str, float]:
    """The four F1s and their mean; ``candidate`` None means the candidate did not run (all 0)."""
    if candidate is None:
        return dict.fromkeys(CHART_METRICS, 0.0)
    scores = {
        "text_f1": multiset_f1(reference.texts, candidate.texts),
        "layout_f1": multiset_f1(reference.layout, candidate.layout),
        "type_f1": multiset_f1(reference.plot_calls, candidate.plot_calls),
        "colour_f1": colour_f1(reference.colours, candidate.colours),
    }
    scores["low_level"] = sum(scores.values()) / 4
    return scores
