"""Judge-benchmark scoring, pinned to the public evaluator's aggregation with hand-computed cases.

The matches are fixed by hand here (``FixedMatcher``) so these cases test the aggregation alone; the matchers have
their own tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.eval.judge_bench import (
    BenchError,
    BenchPair,
    Prediction,
    load_bench,
    load_predictions,
    ordering_accuracy,
    pair_from_row,
    pearson,
    read_prediction,
    score_critiques,
    score_pair,
    score_scalar,
)
from src.eval.matching import ErrorMatch, MatchTask, PairMatching


def chart_err(kind: str, severity: int, text: str = "") -> dict:
    # VC-RewardBench reference errors carry `type`; the filter keeps only those.
    return {"type": f"{kind}_error", "severity": severity, "description": text}


def pair(key: str, domain: str, ref_errors: Sequence[dict], reference_image: str = "") -> BenchPair:
    row = {"id": key, "category": domain, "gt_img_path": reference_image or f"{key}-gt.png", "pred_img_path": "p.png"}
    return BenchPair(key, domain, Path(row["gt_img_path"]), Path("p.png"), tuple(ref_errors), row)


def pred(*errors: dict) -> Prediction:
    return Prediction(tuple(errors))


class FixedMatcher:
    """Returns the given matches, one list per task, in order (``None`` = the matcher failed on that pair)."""

    def __init__(self, *results: list[ErrorMatch] | None) -> None:
        self.results = list(results)

    def match(self, tasks: Sequence[MatchTask]) -> list[list[ErrorMatch] | None]:
        out, self.results = self.results[: len(tasks)], self.results[len(tasks) :]
        return out


def test_three_chart_pairs_by_hand() -> None:
    """Pair 1: one yes match, one missed (text), one spurious (style). Pair 2: nothing on either side (a perfect pair).
    Pair 3: one partial match.  Sums: TP_hard 1, TP_soft 1.5, FP 1, FN 1 →
    F1h = 2·(1/2)(1/2)/1 = 0.5, F1s = 2·0.6·0.6/1.2 = 0.6 (P = R = 1.5/2.5).
    Severities: predicted [3+2, 0, 1], reference [3+1, 0, 2] → r = 10/√(14·8)."""
    pairs = [
        pair("p1", "chart", [chart_err("data", 3), chart_err("text", 1)]),
        pair("p2", "chart", []),
        pair("p3", "chart", [chart_err("structure", 2)]),
    ]
    preds = {
        "p1": pred(chart_err("data", 3), chart_err("style", 2)),
        "p2": pred(),
        "p3": pred(chart_err("structure", 1)),
    }
    matcher = FixedMatcher([ErrorMatch(0, 0, "yes")], [], [ErrorMatch(0, 0, "partial")])
    summary = score_critiques(pairs, preds, matcher).summary
    chart = summary["chart"]
    assert (chart["tp_hard"], chart["tp_soft"], chart["fp"], chart["fn"], chart["pairs"]) == (1, 1.5, 1, 1, 3)
    assert chart["f1_hard"] == pytest.approx(0.5)
    assert chart["f1_soft"] == pytest.approx(0.6)
    assert chart["severity_pearson"] == pytest.approx(10 / math.sqrt(112))
    by_type = chart["by_type"]
    assert by_type["data_error"]["f1_hard"] == 1.0
    assert by_type["text_error"]["f1_hard"] == 0.0 and by_type["text_error"]["fn"] == 1
    assert by_type["style_error"]["f1_soft"] == 0.0 and by_type["style_error"]["fp"] == 1
    # A partial match is neither a hard TP nor an FP/FN, so the public hard F1 of this type is that of empty sums: 1.
    assert by_type["structure_error"]["f1_hard"] == 1.0
    assert by_type["structure_error"]["f1_soft"] == 1.0
    assert by_type["data_error"]["severity_pearson"] == pytest.approx(1.0)
    assert by_type["style_error"]["severity_pearson"] is None  # reference style severity is constant (0)
    # Other domains had no pairs: no numbers rather than the script's misleading 1.0 / 0.0.
    assert summary["table"]["pairs"] == 0 and summary["table"]["f1_hard"] is None
    assert summary["overall"]["f1_hard"] == pytest.approx(0.5)


def test_all_pairs_empty_hard_f1_is_one_soft_f1_is_zero() -> None:
    """The public evaluator's two conventions for all-zero sums, kept so our numbers equal its numbers."""
    summary = score_critiques([pair("a", "svg", []), pair("b", "svg", [])], {"a": pred(), "b": pred()}).summary
    assert summary["svg"]["f1_hard"] == 1.0
    assert summary["svg"]["f1_soft"] == 0.0


def test_sums_over_pairs_not_mean_of_pair_f1() -> None:
    """Micro average: pair A (1 TP) and pair B (1 FN + 3 FP) give P = 1/4, R = 1/2, F1 = 1/3. The mean of per-pair
    F1s would be (1 + 0) / 2 = 0.5."""
    e = chart_err("data", 2)
    pairs = [pair("a", "chart", [e]), pair("b", "chart", [e])]
    preds = {"a": pred(e), "b": pred(e, e, e)}
    summary = score_critiques(pairs, preds, FixedMatcher([ErrorMatch(0, 0, "yes")], [])).summary
    assert summary["chart"]["f1_hard"] == pytest.approx(1 / 3)


def test_unparsed_prediction_counts_as_no_errors() -> None:
    pairs = [pair("a", "table", [chart_err("layout", 3), chart_err("numeric", 1)])]
    preds = {"a": read_prediction(None, "table")}
    summary = score_critiques(pairs, preds).summary
    table = summary["table"]
    assert (table["tp_hard"], table["fp"], table["fn"], table["f1_hard"]) == (0, 0, 2, 0.0)
    assert table["parse_failures"] == 1 and summary["overall"]["parse_failures"] == 1


def test_type_filters_follow_the_public_keys() -> None:
    """Reference errors are kept by `type` only; predicted ones by `type`, else `category`, with official names."""
    ref = [chart_err("data", 3), {"category": "data_error", "severity": 2}, {"type": "bogus_error", "severity": 1}]
    p = pair("a", "chart", [])
    p = pair_from_row({**p.row, "human_errors": ref}, "a", Path("."))
    assert len(p.reference_errors) == 1 and p.reference_errors_dropped == 2
    prediction = read_prediction(
        {"errors": [{"category": "data_error", "severity": 1}, {"category": "data", "severity": 1}, "junk"]}, "chart"
    )
    assert len(prediction.errors) == 1 and prediction.dropped == 2 and prediction.parsed


def test_raw_answers_are_read_with_the_critique_parser() -> None:
    answer = 'Sure!\n```json\n{"errors": [{"category": "text_error", "severity": "major", "description": "x"}]}\n```'
    prediction = read_prediction(answer, "chart")
    assert prediction.parsed and prediction.severity == 3
    broken = read_prediction("I could not compare the images.", "chart")
    assert not broken.parsed and broken.errors == () and broken.reason


def test_match_credited_to_predicted_type_across_types() -> None:
    """The public matcher may match across types: the TP goes to the predicted error's type, and neither type gets
    an FP or FN for that match."""
    pairs = [pair("a", "chart", [chart_err("data", 2)])]
    summary = score_critiques(pairs, {"a": pred(chart_err("style", 2))}, FixedMatcher([ErrorMatch(0, 0, "yes")]))
    by_type = summary.summary["chart"]["by_type"]
    assert by_type["style_error"]["tp_hard"] == 1
    assert by_type["data_error"]["tp_hard"] == 0 and by_type["data_error"]["fn"] == 0


def test_pooled_overall_sums_domains_and_types() -> None:
    """text_error exists in chart and table: the pooled per-type row sums both. Pooled Sc uses every pair."""
    pairs = [
        pair("c", "chart", [chart_err("text", 1)]),
        pair("t", "table", [chart_err("text", 3), chart_err("layout", 2)]),
        pair("s", "svg", []),
    ]
    preds = {"c": pred(chart_err("text", 1)), "t": pred(chart_err("text", 2)), "s": pred(chart_err("shape", 1))}
    matcher = FixedMatcher([ErrorMatch(0, 0, "yes")], [ErrorMatch(0, 0, "yes")], [])
    overall = score_critiques(pairs, preds, matcher).summary["overall"]
    assert (overall["tp_hard"], overall["fp"], overall["fn"], overall["pairs"]) == (2, 1, 1, 3)
    assert overall["by_type"]["text_error"]["tp_hard"] == 2
    assert overall["by_type"]["layout_error"]["fn"] == 1
    assert overall["severity_pearson"] == pytest.approx(pearson([1, 2, 1], [1, 5, 0]))


def test_pairs_the_matcher_could_not_decide_are_left_out() -> None:
    e = chart_err("data", 2)
    pairs = [pair("a", "chart", [e]), pair("b", "chart", [e])]
    result = score_critiques(pairs, {"a": pred(e), "b": pred()}, FixedMatcher([ErrorMatch(0, 0, "yes")], None))
    assert result.summary["chart"]["pairs"] == 1 and result.summary["chart"]["match_failures"] == 1
    assert result.summary["chart"]["f1_hard"] == 1.0


def test_pearson_and_ordering_by_hand() -> None:
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None and pearson([1], [1]) is None
    # group g: severities 0 < 2 < 5, scores 0.9, 0.5, 0.5 → (0,2) right, (0,5) right, (2,5) tie = 0.5 → 2.5 / 3
    items = [("g", 0.9, 0.0), ("g", 0.5, 2.0), ("g", 0.5, 5.0), ("h", 0.1, 1.0)]
    assert ordering_accuracy(items) == pytest.approx(2.5 / 3)
    assert ordering_accuracy([("g", 1.0, 1.0), ("g", 0.0, 1.0)]) is None  # equal severity: nothing to order


def test_false_alarms_are_counted_on_pairs_without_a_true_discrepancy() -> None:
    """Two right candidates (one flagged, one not) and one wrong candidate the judge missed: one false alarm in two
    clean pairs; the missed error is a false negative, not a false alarm."""
    pairs = [pair("a", "svg", []), pair("b", "svg", []), pair("c", "svg", [chart_err("shape", 3)])]
    preds = {"a": pred(chart_err("shape", 3)), "b": pred(), "c": pred()}
    svg = score_critiques(pairs, preds, FixedMatcher([], [], [])).summary["svg"]
    assert (svg["clean_pairs"], svg["false_alarm_rate"]) == (2, 0.5)
    wrong_only = score_critiques(pairs[2:], {"c": pred()}, FixedMatcher([])).summary["svg"]
    assert (wrong_only["clean_pairs"], wrong_only["false_alarm_rate"]) == (0, None)


def test_scalar_reward_gets_sc_and_ordering_on_the_same_pairs() -> None:
    ref_img = "shared.png"
    pairs = [
        pair("a", "svg", [], ref_img),
        pair("b", "svg", [chart_err("shape", 2)], ref_img),
        pair("c", "svg", [chart_err("shape", 3), chart_err("style", 3)], ref_img),
    ]
    good = score_scalar(pairs, {"a": 0.95, "b": 0.7, "c": 0.2})
    assert good["svg"]["severity_pearson"] > 0.9  # negated reward tracks severity
    assert good["svg"]["ordering_same_reference"] == 1.0
    assert good["overall"]["f1_hard"] is None
    backwards = score_scalar(pairs, {"a": 0.1, "b": 0.5, "c": 0.9})
    assert backwards["svg"]["ordering_same_reference"] == 0.0
    with pytest.raises(BenchError, match="no reward"):
        score_scalar(pairs, {"a": 1.0})
    with pytest.raises(BenchError, match="finite"):
        score_scalar(pairs, {"a": 1.0, "b": float("nan"), "c": 0.0})


def write_bench(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_load_bench_reads_official_rows_without_ids_and_skips_unknown_domains(tmp_path: Path) -> None:
    rows = [
        {"gt_img_path": "a.png", "pred_img_path": "b.png", "category": "chart", "human_errors": [chart_err("data", 2)]},
        {"gt_img_path": "c.png", "pred_img_path": "d.png", "category": "video", "human_errors": []},
        {"gt_img_path": "/abs/e.png", "pred_img_path": "f.png", "category": "table", "human_errors": None},
    ]
    with pytest.warns(UserWarning, match="skipped 1 rows"):
        pairs = load_bench(write_bench(tmp_path, rows))
    assert [p.key for p in pairs] == ["line1", "line3"]
    assert pairs[0].reference_image == tmp_path / "a.png"
    assert pairs[1].reference_image == Path("/abs/e.png") and pairs[1].reference_errors == ()


def test_load_bench_rejects_bad_rows_with_their_line(tmp_path: Path) -> None:
    good = {"id": "x", "gt_img_path": "a.png", "pred_img_path": "b.png", "category": "svg", "human_errors": []}
    with pytest.raises(ValueError, match=r"bench.jsonl:2: human_errors"):
        load_bench(write_bench(tmp_path, [good, {**good, "id": "y", "human_errors": "none"}]))
    with pytest.raises(BenchError, match="appears twice"):
        load_bench(write_bench(tmp_path, [good, good]))
    with pytest.raises(BenchError, match="does not exist"):
        load_bench(tmp_path / "missing.jsonl")


def test_predictions_are_found_by_id_or_image_paths_and_missing_ones_refused(tmp_path: Path) -> None:
    rows = [
        {"id": "k1", "gt_img_path": "a.png", "pred_img_path": "b.png", "category": "chart", "human_errors": []},
        {"gt_img_path": "c.png", "pred_img_path": "d.png", "category": "chart", "human_errors": []},
    ]
    pairs = load_bench(write_bench(tmp_path, rows))
    preds_path = tmp_path / "pred.json"
    # The public judge script copies bench rows and adds pred_json; the row without id is found by its paths.
    preds_path.write_text(
        json.dumps(
            [
                {**rows[1], "pred_json": {"errors": [chart_err("data", 1)]}},
                {**rows[0], "pred_json": None, "error_parse_failed_reason": "bad"},
            ]
        )
    )
    preds = load_predictions(preds_path, pairs)
    assert not preds["k1"].parsed and len(preds["line2"].errors) == 1
    preds_path.write_text(json.dumps([{**rows[0], "pred_json": None}]))
    with pytest.raises(BenchError, match="1 of 2 bench pairs have no prediction"):
        load_predictions(preds_path, pairs)
    preds_path.write_text('{"not": "a list"}')
    with pytest.raises(BenchError, match="JSON list"):
        load_predictions(preds_path, pairs)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)
error_items = st.dictionaries(
    st.sampled_from(["type", "category", "severity", "location", "description"]),
    json_values | st.sampled_from(["data_error", "text_error", "layout_error", "shape_error", 10**400, "nan"]),
)
rows = st.fixed_dictionaries(
    {"category": st.sampled_from(["chart", "table", "svg"]), "gt_img_path": st.text(min_size=1, max_size=5)},
    optional={"human_errors": st.lists(error_items | json_values, max_size=4), "id": json_values},
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(rows, min_size=1, max_size=5), pred_jsons=st.lists(json_values | error_items, min_size=5, max_size=5)
)
def test_hostile_rows_and_predictions_end_as_scores_or_typed_errors(rows: list[dict], pred_jsons: list) -> None:
    """Whatever JSON a bench or predictions file holds, scoring returns numbers or raises ValueError with a reason."""
    pairs = []
    for i, row in enumerate(rows):
        try:
            pairs.append(pair_from_row({**row, "pred_img_path": "p.png"}, f"k{i}", Path(".")))
        except ValueError:
            continue
    predictions = {}
    for pair, raw in zip(pairs, pred_jsons, strict=False):
        wrapped = {"errors": [raw]} if isinstance(raw, dict) and "severity" in raw else raw
        predictions[pair.key] = read_prediction(wrapped, pair.domain)
    pairs = [p for p in pairs if p.key in predictions]
    summary = score_critiques(pairs, predictions).summary
    json.dumps(summary, allow_nan=False)  # every number is finite or None
    scalar = {p.key: float(i) for i, p in enumerate(pairs)}
    json.dumps(score_scalar(pairs, scalar), allow_nan=False)


def test_unmatched_errors_a_matcher_states_are_counted_as_stated() -> None:
    """The evaluator trusts an LLM's non-empty unmatched lists: FP = their length (here 3, one listed twice as 1 and
    -1, as Python indexes), FN from the complement when the reference side was left unstated."""
    p = pair("a", "chart", [chart_err("data", 2), chart_err("text", 1)])
    prediction = pred(chart_err("data", 2), chart_err("style", 1))
    matching = PairMatching((ErrorMatch(0, 0, "yes"),), unmatched_pred=(0, 1, -1), unmatched_ref=None)
    score = score_pair(p, prediction, matching)
    assert (score.counts.tp_hard, score.counts.fp, score.counts.fn) == (1, 3, 1)
    assert score.by_type["style_error"].fp == 2 and score.by_type["data_error"].fp == 1
    assert score.by_type["text_error"].fn == 1
    with pytest.raises(ValueError, match="out of range"):
        score_pair(p, prediction, PairMatching((), unmatched_pred=(2,)))


def test_a_partial_match_is_half_a_soft_hit_and_no_hard_hit_in_every_count() -> None:
    """Per type as in total: a partial match adds 0.5 to TP_soft and nothing to TP_hard. Here the structure type
    also misses one reference error, so its F1s is 2·(0.5/0.5)(0.5/1.5)/(1 + 1/3) = 0.5, not the 2/3 of a full hit."""
    pairs = [pair("a", "chart", [chart_err("structure", 2), chart_err("structure", 1)])]
    preds = {"a": pred(chart_err("structure", 2))}
    summary = score_critiques(pairs, preds, FixedMatcher([ErrorMatch(0, 0, "partial")])).summary
    for counts in (summary["chart"], summary["chart"]["by_type"]["structure_error"]):
        assert (counts["tp_hard"], counts["tp_soft"], counts["fp"], counts["fn"]) == (0, 0.5, 0, 1)
        assert counts["f1_soft"] == pytest.approx(0.5)
        assert counts["f1_hard"] == 0.0
    assert summary["overall"]["by_type"]["structure_error"]["tp_soft"] == 0.5


def test_severity_correlation_sums_every_error_of_a_pair() -> None:
    """Sc correlates per-pair severity *sums* (paper; public evaluator): pairs with two errors of one type tell the
    sum from the per-pair or per-type maximum. Sums: predicted [3, 4, 2], reference [4, 2, 5]; maxima: [2, 2, 2]
    predicted (Sc undefined) and [2, 1, 3] reference (not proportional to the sums, so a scalar's Sc moves too)."""
    pairs = [
        pair("a", "chart", [chart_err("data", 2), chart_err("data", 2)], "r1.png"),
        pair("b", "chart", [chart_err("data", 1), chart_err("text", 1)], "r2.png"),
        pair("c", "chart", [chart_err("data", 3), chart_err("data", 2)], "r3.png"),
    ]
    preds = {
        "a": pred(chart_err("data", 1), chart_err("data", 2)),
        "b": pred(chart_err("data", 2), chart_err("data", 2)),
        "c": pred(chart_err("data", 2)),
    }
    chart = score_critiques(pairs, preds, FixedMatcher([], [], [])).summary["chart"]
    expected = pearson([3, 4, 2], [4, 2, 5])
    assert expected is not None and expected < -0.9
    assert chart["severity_pearson"] == pytest.approx(expected)
    assert chart["by_type"]["data_error"]["severity_pearson"] == pytest.approx(pearson([3, 4, 2], [4, 1, 5]))
    # A scalar judge is correlated with the same reference sums (its negated reward against them).
    scalar = score_scalar(pairs, {"a": 0.5, "b": 0.8, "c": 0.1})["chart"]
    assert scalar["severity_pearson"] == pytest.approx(pearson([-0.5, -0.8, -0.1], [4, 2, 5]))
