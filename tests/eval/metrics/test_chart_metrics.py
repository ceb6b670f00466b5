"""ChartMimic-style low-level F1s: hand-computed cases, then reference and candidate code traced in the sandbox."""

from __future__ import annotations

import pytest

from src.eval.metrics.chart import CHART_METRICS, chart_scores, colour_f1, multiset_f1
from src.render import RenderJob, RenderPool
from src.render.chart_trace import ChartTrace, read_trace

REFERENCE = """
import matplotlib.pyplot as plt
fig, (left, right) = plt.subplots(1, 2, figsize=(6, 3))
left.bar(["Q1", "Q2", "Q3"], [3, 5, 2], color="#4C72B0")
left.set_title("Revenue")
right.plot([1, 2, 3], [2, 1, 3], color="#DD8452")
right.set_title("Cost")
"""


def test_multiset_f1_by_hand() -> None:
    # TP = 1 ("a" once on both sides); P = 1/2, R = 1/3, F1 = 2PR/(P+R) = 0.4
    assert multiset_f1(["a", "a", "b"], ["a", "c"]) == pytest.approx(0.4)
    assert multiset_f1([], []) == 1.0
    assert multiset_f1(["a"], []) == 0.0


def test_colour_f1_pairs_within_a_plot_kind() -> None:
    reference = [("bar", "#ff0000"), ("bar", "#0000ff")]
    # Blue matched exactly (similarity 1): P = 1/1, R = 1/2, F1 = 2/3
    assert colour_f1(reference, [("bar", "#0000ff")]) == pytest.approx(2 / 3)
    assert colour_f1(reference, [("plot", "#0000ff")]) == 0.0  # same colour, other kind of plot
    # one-to-one: two candidate reds cannot both take the reference red
    assert colour_f1(reference, [("bar", "#ff0000"), ("bar", "#ff0000")]) < 1.0
    assert colour_f1(reference, list(reversed(reference))) == 1.0


def test_failed_candidate_scores_zero_and_low_level_is_the_mean() -> None:
    trace = ChartTrace(("a",), ((1, 1, 0, 1, 0, 1),), ("bar",), (("bar", "#ff0000"),))
    assert chart_scores(trace, None) == dict.fromkeys(CHART_METRICS, 0.0)
    other = ChartTrace(("a", "b"), ((1, 1, 0, 1, 0, 1),), ("plot",), ())
    scores = chart_scores(trace, other)
    assert scores["text_f1"] == pytest.approx(2 / 3) and scores["layout_f1"] == 1.0
    assert scores["type_f1"] == 0.0 and scores["colour_f1"] == 0.0
    assert scores["low_level"] == pytest.approx((2 / 3 + 1.0) / 4)


def _traces(pool: RenderPool, *codes: str) -> list[ChartTrace]:
    results = pool.render([RenderJob("chart", code, trace=True) for code in codes])
    assert all(r.ok for r in results), [r.message for r in results]
    return [read_trace(r.trace) for r in results]


def test_traced_programs_score_what_they_drew(metrics_pool: RenderPool) -> None:
    recoloured = REFERENCE.replace("#DD8452", "#2CA02C")
    as_line = REFERENCE.replace('left.bar(["Q1", "Q2", "Q3"]', 'left.plot(["Q1", "Q2", "Q3"]')
    retitled = REFERENCE.replace('"Cost"', '"Costs"')
    stacked = REFERENCE.replace("plt.subplots(1, 2", "plt.subplots(2, 1")
    # The same picture drawn by a loop instead of two calls is the same trace: traces see drawing, not source.
    looped = REFERENCE.replace(
        'left.set_title("Revenue")', 'left.set_title("Revenue")\nfor ax, t in [(right, "Cost")]: ax.set_title(t)'
    ).replace('right.set_title("Cost")\n', "")
    reference, *candidates = _traces(metrics_pool, REFERENCE, REFERENCE, recoloured, as_line, retitled, stacked, looped)
    same, recolour, line, title, stack, loop = (chart_scores(reference, c) for c in candidates)
    assert same == dict.fromkeys(CHART_METRICS, 1.0)
    assert loop == same
    assert recolour["colour_f1"] < 1.0 and recolour["text_f1"] == recolour["type_f1"] == 1.0
    assert line["type_f1"] == pytest.approx(0.5) and line["colour_f1"] < 1.0  # bar→plot: 1 of 2 calls agree
    assert title["text_f1"] < 1.0 and title["colour_f1"] == 1.0
    assert stack["layout_f1"] == 0.0 and stack["type_f1"] == stack["colour_f1"] == 1.0
