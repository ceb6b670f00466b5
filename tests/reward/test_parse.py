"""parse_critique on the official formats and on the ways real model output deviates from them."""

from __future__ import annotations

import json

import pytest

from src.data.schema import Critique, Discrepancy
from src.reward import CritiqueParseError, parse_critique

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
        ('{"errors": [{"category": "data_error"}]}', "severity"),
        ('{"errors": [{"category": "data_error", "severity": "n/a"}]}', "severity"),
        ('{"errors": [{"category": "colour_error", "severity": 1}]}', "category"),
        ('{"errors": "none"}', "expected a list"),
        ('{"data_error_count": 2}', "counts say"),
        ('{"errors": [{"category": "data_error", "severity": 1}', "no JSON"),  # truncated output
    ],
)
def test_failures_raise_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(CritiqueParseError, match=reason) as info:
        parse_critique(text, "chart")
    assert isinstance(info.value, ValueError) and info.value.reason


def test_table_category_in_chart_domain_is_rejected() -> None:
    with pytest.raises(CritiqueParseError, match="category"):
        parse_critique(json.dumps(TABLE), "chart")


def test_unknown_domain_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="domain"):
        parse_critique("{}", "latex")
