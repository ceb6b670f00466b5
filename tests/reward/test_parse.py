"""parse_critique on the official formats and on the ways real model output deviates from them."""

from __future__ import annotations

import contextlib
import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from src.data.schema import CATEGORIES, Critique, Discrepancy
from src.render.job import DOMAINS
from src.reward import CritiqueParseError, parse_critique
from src.reward.parse import MAX_ANSWER_CHARS

CHART = {
    "structure_error_count": 0,
    "data_error_count": 1,
    "text_error_count": 1,
    "style_error_count": 0,
    "errors": [
        {"category": "data_error", "severity": 3, "location": "Red line data", "description": "Peak is 40% lower."},
        {"category": "text_error", "severity": 1, "location": "Title", "description": "Typo in 'Revenue'."},
    ],
}
TABLE = {
    "layout_error_count": 1,
    "text_error_count": 0,
    "numeric_error_count": 1,
    "errors": [
        {"type": "layout_error", "description": "Row 2 and 3 swapped", "severity": 2},
        {"type": "numeric_error", "description": "1,204 reads 1,240", "severity": 2},
    ],
}
SVG = {
    "structure_error_count": 0,
    "shape_error_count": 1,
    "style_error_count": 0,
    "text_symbol_error_count": 0,
    "errors": [{"category": "shape_error", "severity": 2, "location": "Eye", "description": "Circle is a square."}],
}


@pytest.mark.parametrize(("domain", "obj", "expected"), [("chart", CHART, 4), ("table", TABLE, 4), ("svg", SVG, 2)])
def test_official_formats(domain: str, obj: dict, expected: int) -> None:
    critique = parse_critique(json.dumps(obj, indent=2), domain)
    assert critique.domain == domain and critique.severity_sum == expected
    assert critique.to_official() == Critique.from_official(obj, domain).to_official()


def test_round_trip_of_our_own_output() -> None:
    critique = Critique("chart", (Discrepancy("style", 2, "legend", "moved to the lower left"),))
    assert parse_critique(critique.to_json(), "chart") == critique


def test_fenced_with_chatter_and_thinking() -> None:
    text = (
        "<think>The title differs... maybe {not json}. Let me list them.</think>\n"
        "Sure! Here is my analysis:\n```json\n" + json.dumps(CHART) + "\n```\nLet me know if you need more."
    )
    critique = parse_critique(text, "chart")
    assert [e.category for e in critique.errors] == ["data", "text"]
    assert critique.errors[0].location == "Red line data"


def test_closing_think_only_and_unterminated_think() -> None:
    assert parse_critique("reasoning {x}</think>" + json.dumps(SVG), "svg").severity_sum == 2
    assert parse_critique(json.dumps(SVG) + "\n<think>", "svg").severity_sum == 2
    with pytest.raises(CritiqueParseError, match="no JSON"):
        parse_critique("<think>I am still comparing the two images and", "svg")


def test_last_critique_wins_over_an_earlier_draft() -> None:
    draft = {"errors": [{"category": "data_error", "severity": 3, "location": "", "description": "draft"}]}
    final = {"errors": []}
    critique = parse_critique(f"Draft: {json.dumps(draft)}\nFinal answer: {json.dumps(final)}", "chart")
    assert critique.errors == ()


def test_trailing_commas_are_accepted() -> None:
    text = '{"errors": [{"type": "text_error", "severity": 1, "description": "x",},], "text_error_count": 1,}'
    assert parse_critique(text, "table").severity_sum == 1


def test_single_quotes_and_python_literals_are_read_without_eval() -> None:
    text = "{'errors': [{'category': 'style', 'severity': 2, 'location': \"bar's edge\", 'description': None}], 'ok': true}"
    critique = parse_critique(text, "chart")
    assert critique.errors == (Discrepancy("style", 2, "bar's edge", ""),)
    with pytest.raises(CritiqueParseError):
        parse_critique("{'errors': __import__('os').system('echo hacked')}", "chart")


def test_counts_that_disagree_with_the_list_are_ignored() -> None:
    obj = dict(CHART, data_error_count=7, style_error_count=3)
    critique = parse_critique(json.dumps(obj), "chart")
    assert critique.counts() == {"structure": 0, "data": 1, "text": 1, "style": 0}


def test_categories_with_or_without_suffix_and_either_key() -> None:
    text = json.dumps(
        {
            "errors": [
                {"category": "data", "severity": 1},
                {"type": "Text Error", "severity": 2},
                {"category": "structure_error", "severity": 3},
            ]
        }
    )
    assert [e.category for e in parse_critique(text, "chart").errors] == ["data", "text", "structure"]


def test_braces_inside_strings_do_not_break_extraction() -> None:
    obj = {"errors": [{"category": "text_symbol_error", "severity": 1, "description": "'{' drawn as '}'"}]}
    assert parse_critique("Result: " + json.dumps(obj) + " done", "svg").errors[0].description == "'{' drawn as '}'"


def test_empty_critique_means_equivalent() -> None:
    assert parse_critique('{"errors": []}', "table").errors == ()
    zero_counts = {"layout_error_count": 0, "text_error_count": 0, "numeric_error_count": 0}
    assert parse_critique(json.dumps(zero_counts), "table").errors == ()


@pytest.mark.parametrize(("raw", "expected"), [(0, 1), (5, 3), (2.4, 2), ("3", 3), ("severe", 3), ("Minor", 1)])
def test_out_of_range_or_worded_severity_is_clamped(raw: object, expected: int) -> None:
    text = json.dumps({"errors": [{"category": "data_error", "severity": raw}]})
    assert parse_critique(text, "chart").errors[0].severity == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("The two charts look identical.", "no JSON"),
        ('{"verdict": "same"}', "no 'errors' list"),
        ('{"errors": "none"}', "expected a list"),
        ('{"data_error_count": 2}', "counts say"),
        ('{"errors": [{"category": "data_error", "severity": 1}', "no JSON"),  # truncated output
    ],
)
@pytest.mark.parametrize("strict", [False, True])
def test_failures_raise_with_a_reason(text: str, reason: str, strict: bool) -> None:
    with pytest.raises(CritiqueParseError, match=reason) as info:
        parse_critique(text, "chart", strict=strict)
    assert isinstance(info.value, ValueError) and info.value.reason


ODD_ITEMS = [
    ({"category": "data_error"}, "severity", None),  # no severity
    ({"category": "data_error", "severity": "n/a"}, "severity", None),
    ({"category": "data_error", "severity": float("nan")}, "severity", None),
    ({"category": "colour_error", "severity": 1}, "category", 1),  # a category the domain lacks
    ({"category": "other_error", "severity": 3}, "category", 3),  # what the released SVG prompt once offered
    ({"severity": 2, "description": "no category"}, "category", 2),
    ("the title is wrong", "expected an object", None),
]


@pytest.mark.parametrize(("item", "reason", "severity"), ODD_ITEMS)
def test_lenient_by_default_an_odd_item_is_skipped_and_counted(item: object, reason: str, severity: object) -> None:
    good = {"category": "text_error", "severity": 2, "location": "title", "description": "typo"}
    critique = parse_critique(json.dumps({"errors": [good, item, good]}), "chart")
    assert [e.severity for e in critique.errors] == [2, 2]  # the rest of the critique is kept
    assert critique.skipped_items == 1
    (skipped,) = critique.skipped
    assert skipped.index == 1 and reason in skipped.reason and skipped.severity == severity
    assert critique.skipped_severity == (severity or 0)
    assert "skipped" not in critique.to_json()  # never written back as part of the official answer


@pytest.mark.parametrize(("item", "reason", "severity"), ODD_ITEMS)
def test_strict_mode_rejects_the_whole_critique_for_an_odd_item(item: object, reason: str, severity: object) -> None:
    good = {"category": "text_error", "severity": 2}
    with pytest.raises(CritiqueParseError, match=reason):
        parse_critique(json.dumps({"errors": [good, item]}), "chart", strict=True)


def test_table_categories_in_the_chart_domain() -> None:
    lenient = parse_critique(json.dumps(TABLE), "chart")
    assert lenient.errors == () and lenient.skipped_items == 2 and lenient.skipped_severity == 4
    with pytest.raises(CritiqueParseError, match="category"):
        parse_critique(json.dumps(TABLE), "chart", strict=True)


def test_unknown_domain_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="domain"):
        parse_critique("{}", "latex")


# -- the final answer wins --------------------------------------------------------------------------------------


def test_a_fenced_final_answer_wins_over_an_earlier_bare_draft() -> None:
    draft = {"errors": [{"category": "data_error", "severity": 3, "description": "draft"}]}
    final = {"errors": [{"category": "style_error", "severity": 1, "description": "final"}]}
    text = f"Draft: {json.dumps(draft)}\nOn reflection:\n```json\n{json.dumps(final)}\n```"
    assert [e.description for e in parse_critique(text, "chart").errors] == ["final"]


def test_a_bare_final_answer_wins_over_an_earlier_fenced_draft() -> None:
    draft = {"errors": [{"category": "data_error", "severity": 3, "description": "draft"}]}
    final = {"errors": []}
    text = f"```json\n{json.dumps(draft)}\n```\nWait, they match. Final: {json.dumps(final)}"
    assert parse_critique(text, "chart").errors == ()


def test_a_trailing_non_critique_object_does_not_hide_the_answer() -> None:
    text = json.dumps(SVG) + '\nConfidence: {"score": 0.9}'
    assert parse_critique(text, "svg").severity_sum == 2


def test_fence_on_one_line_and_fence_without_language() -> None:
    assert parse_critique("```" + json.dumps(SVG) + "```", "svg").severity_sum == 2
    assert parse_critique("```\n" + json.dumps(SVG) + "\n```", "svg").severity_sum == 2


# -- nothing but CritiqueParseError, whatever the text -------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("Infinity", 3), ("-Infinity", 1), ("1e999", 3), ("9" * 5000, 3), ("-" + "9" * 5000, 1), ('"1e999"', 3)],
)
def test_overflowing_severities_clamp_instead_of_crashing(severity: str, expected: int) -> None:
    text = '{"errors": [{"category": "data_error", "severity": ' + severity + "}]}"
    assert parse_critique(text, "chart").errors[0].severity == expected


def test_python_literal_huge_severity_clamps() -> None:
    text = "{'errors': [{'category': 'data', 'severity': " + "9" * 400 + "}]}"  # float() of this int overflows
    assert parse_critique(text, "chart").errors[0].severity == 3


@pytest.mark.parametrize(
    "text",
    [
        '{"errors": [{"category": "data_error", "severity": NaN}]}',
        '{"errors": [' * 5000 + "]" * 5000 + "}",
        "{" * 50_000 + "}" * 50_000,
        "{'errors': [" + "(" * 5000 + ")" * 5000 + "]}",
        '{"errors": [{"category": "data_error", "severity": 1, "location": ' + "9" * 5000 + "}]}",
        '{"errors": [{"category": ' + "[" * 900 + "]" * 900 + ', "severity": 2}]}',
        "{'errors': [{'category': b'data', 'severity': 1j}]}",
        "{'errors': {1, 2}}",
        "\x00\ud800{}\uffff",
    ],
    ids=["nan", "deep-lists", "deep-braces", "deep-parens", "huge-location", "deep-category", "bytes", "set", "odd"],
)
def test_adversarial_text_raises_only_critique_parse_error(text: str) -> None:
    for strict in (False, True):
        try:
            critique = parse_critique(text, "chart", strict=strict)
        except CritiqueParseError as exc:
            assert exc.reason
        else:
            assert all(e.severity in (1, 2, 3) for e in critique.errors)


def _adversarial_fragments() -> st.SearchStrategy[str]:
    pieces = [
        "{", "}", "[", "]", ",", ":", '"', "'", "\\", "\n", "```", "```json\n", "<think>", "</think>", "<THINK>",
        '"errors"', '"errors": [', '"category"', '"type"', '"severity"', '"location"', "data_error", "other_error",
        "Infinity", "-Infinity", "NaN", "1e999", "9" * 5000, "-1", "2.5", "true", "null", "None", "'severe'",
        '"structure_error_count": 1', "{'errors': []}", '{"errors": []}',
    ]  # fmt: skip
    return st.lists(st.one_of(st.sampled_from(pieces), st.text(max_size=8)), max_size=40).map("".join)


def _json_values() -> st.SearchStrategy[object]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**50), max_value=10**50),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.sampled_from(["data_error", "text", "Severe", "3", "n/a", "other_error", "numeric_error"]),
    )
    return st.recursive(
        scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    )


def _critique_like() -> st.SearchStrategy[str]:
    edge_severities = st.sampled_from(
        [float("inf"), -float("inf"), float("nan"), 0, 3, 1e308, 10**40, -(10**40), "3", "severe", "1e999", None, True]
    )
    item = st.fixed_dictionaries(
        {},
        optional={
            "category": st.one_of(
                st.sampled_from(["data_error", "text", "shape_error", "layout_error"]), _json_values()
            ),
            "type": _json_values(),
            "severity": st.one_of(edge_severities, _json_values()),
            "location": _json_values(),
            "description": _json_values(),
        },
    )
    obj = st.fixed_dictionaries(
        {"errors": st.one_of(st.lists(st.one_of(item, _json_values()), max_size=5), _json_values())}
    )
    return st.tuples(obj, st.sampled_from(["{}", "```json\n{}\n```", "Answer: {} done", "<think>{}</think>{}"])).map(
        lambda pair: pair[1].replace("{}", json.dumps(pair[0], allow_nan=True))
    )


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(st.text(), _adversarial_fragments(), _critique_like()), domain=st.sampled_from(DOMAINS))
def test_fuzz_parse_critique_raises_nothing_but_critique_parse_error(text: str, domain: str) -> None:
    for strict in (False, True):
        try:
            critique = parse_critique(text, domain, strict=strict)
        except CritiqueParseError as exc:
            assert isinstance(exc.reason, str) and exc.reason and len(exc.reason) < 2_000
            continue
        assert critique.domain == domain
        assert all(e.severity in (1, 2, 3) and e.category in CATEGORIES[domain] for e in critique.errors)
        assert all(s.severity in (None, 1, 2, 3) for s in critique.skipped)
        assert Critique.from_official(json.loads(critique.to_json()), domain).errors == critique.errors
        if strict:
            assert critique.skipped == ()


# -- bounded work -----------------------------------------------------------------------------------------------


def test_an_answer_beyond_the_limit_is_rejected_without_reading_it() -> None:
    text = json.dumps(SVG) + " " * MAX_ANSWER_CHARS
    with pytest.raises(CritiqueParseError, match="longer than"):
        parse_critique(text, "svg")
    # A long thinking block does not count: only the answer after it is read.
    assert (
        parse_critique("<think>" + "x" * (2 * MAX_ANSWER_CHARS) + "</think>" + json.dumps(SVG), "svg").severity_sum == 2
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda n: "<think>" * (n // 7),  # a lazy <think>.*?</think> regex rescans the rest per unclosed tag
        lambda n: "```" * (n // 3),
        lambda n: "{'" * (n // 2),
        lambda n: "{" * (n // 2) + "}" * (n // 2),
        lambda n: "{a}" * (n // 3),  # many small spans, each falling back to the Python-literal reader
        lambda n: "{'errors'}" * (n // 10),  # many spans that name 'errors' and fail both readers
        lambda n: "{'errors': [" + "[" * (n // 2 - 20) + "]" * 3 + "}",
        lambda n: '{"errors": [' + '{"category": "data_error", "severity": 1},' * (n // 42) + "]}",
    ],
    ids=["unclosed-think", "fences", "open-quotes", "deep", "many-spans", "many-keyed-spans", "deep-unclosed", "items"],
)
def test_work_on_hostile_answers_is_bounded(make) -> None:  # noqa: ANN001
    """At the size limit a hostile answer is refused or read within seconds, even on a busy machine.

    Measured on 2 busy cores: each case below takes under 0.3 s; the old lazy ``<think>.*?</think>`` regex took
    minutes on the first one (it rescans the rest of the text for every unclosed tag).
    """
    text = make(MAX_ANSWER_CHARS)
    start = time.perf_counter()
    with contextlib.suppress(CritiqueParseError):
        parse_critique(text, "chart")
    assert time.perf_counter() - start < 5.0


def test_the_last_critique_wins_among_more_drafts_than_are_read() -> None:
    """Only the last few keyed spans are read (a bound on hostile input): they must be the *last* ones, the answer
    being the final object. 40 drafts, each a valid critique with its own location, then the answer."""
    drafts = [
        json.dumps(
            {"errors": [{"category": "data_error", "severity": 1, "location": f"draft {i}", "description": "x"}]}
        )
        for i in range(40)
    ]
    answer = {"errors": [{"category": "text_error", "severity": 3, "location": "final", "description": "y"}]}
    critique = parse_critique("\n".join([*drafts, json.dumps(answer)]), "chart")
    assert [(e.category, e.severity, e.location) for e in critique.errors] == [("text", 3, "final")]
