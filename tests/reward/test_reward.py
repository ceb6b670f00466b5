"""critique_to_reward pinned to hand-computed values for the paper's and the public code's schemes."""

from __future__ import annotations

import json

import pytest

from src.data.schema import Critique, Discrepancy
from src.render.job import RenderResult
from src.reward import CritiqueParseError, RewardConfig, critique_to_reward

OK = RenderResult(ok=True, png=b"\x89PNG")
FAILED = RenderResult.failure("runtime", "NameError: plt")
BLANK = RenderResult.failure("blank", "all background")
NO_CODE = RenderResult.failure("no_code", "no code block")


def chart_critique(*severities: int) -> Critique:
    return Critique("chart", tuple(Discrepancy("data", s, "bar", "off") for s in severities))


def critique_text(*severities: int) -> str:
    errors = [{"category": "style_error", "severity": s, "location": "x", "description": "y"} for s in severities]
    return "```json\n" + json.dumps({"errors": errors}) + "\n```"


PAPER = RewardConfig(normalization="group_max", eps=1e-6)
PUBLIC = RewardConfig(normalization="fixed", fixed_scale=50.0, unparseable_severity=25.0)


def test_paper_eq_3_to_5_on_a_group() -> None:
    # S = 0, 4, 8 for the rendered three; max S = 8.
    renders = [OK, OK, OK, FAILED]
    critiques = [chart_critique(), chart_critique(2, 2), critique_text(3, 3, 2), None]
    rewards, parts = critique_to_reward(renders, critiques, "chart", PAPER)
    expected = [2.0, 1.0 + (1.0 - 4 / (8 + 1e-6)), 1.0 + (1.0 - 8 / (8 + 1e-6)), 0.0]
    assert rewards == pytest.approx(expected, abs=1e-12)
    assert rewards[1] == pytest.approx(1.5, abs=1e-6) and rewards[2] == pytest.approx(1.0, abs=1e-6)
    assert [p.severity_sum for p in parts] == [0.0, 4.0, 8.0, None]
    assert [p.render_reward for p in parts] == [1.0, 1.0, 1.0, 0.0]
    assert parts[3].error_kind == "runtime" and parts[3].verm_reward == 0.0
    assert parts[2].n_errors == 3


def test_paper_group_of_perfect_candidates_all_get_the_maximum() -> None:
    rewards, _ = critique_to_reward([OK, OK], [chart_critique(), critique_text()], "chart", PAPER)
    assert rewards == [2.0, 2.0]


def test_paper_normalizes_per_group_not_globally() -> None:
    small, _ = critique_to_reward([OK, OK], [chart_critique(1), chart_critique(2)], "chart", PAPER)
    large, _ = critique_to_reward([OK, OK], [chart_critique(3, 3), chart_critique(3, 3, 3, 3)], "chart", PAPER)
    assert small == pytest.approx([1.5, 1.0], abs=1e-6)
    assert large == pytest.approx([1.5, 1.0], abs=1e-6)


def test_public_fixed_scale() -> None:
    renders = [OK, OK, OK, OK, FAILED, BLANK, NO_CODE]
    critiques = [
        chart_critique(),
        chart_critique(2, 2),
        critique_text(3, 3, 2),
        chart_critique(*[3] * 20),  # S = 60 > 50: clipped at the render bonus
        None,
        None,
        None,
    ]
    rewards, parts = critique_to_reward(renders, critiques, "chart", PUBLIC)
    assert rewards == pytest.approx([2.0, 1.92, 1.84, 1.0, 0.0, 0.0, 0.0])
    assert [p.error_kind for p in parts[4:]] == ["runtime", "blank", "no_code"]


def test_public_unparseable_critique_gets_the_fallback_severity() -> None:
    critiques = ["I cannot compare these images.", CritiqueParseError("truncated"), critique_text(1)]
    rewards, parts = critique_to_reward([OK, OK, OK], critiques, "chart", PUBLIC)
    assert rewards == pytest.approx([1.5, 1.5, 1.98])  # 1 + (1 - 25/50), 1 + (1 - 1/50)
    assert parts[0].parse_error == "no JSON object found" and parts[1].parse_error == "truncated"
    assert parts[0].severity_sum == 25.0 and parts[2].parse_error is None


def test_paper_unparseable_fallback_enters_the_group_max() -> None:
    rewards, _ = critique_to_reward([OK, OK], ["garbage", chart_critique(2, 3)], "chart", PAPER)
    assert rewards == pytest.approx([1.0, 1.0 + (1 - 5 / 25)], abs=1e-6)


def test_unparseable_without_fallback_scores_zero_verm_outside_the_max() -> None:
    config = RewardConfig(normalization="group_max", unparseable_severity=None)
    rewards, parts = critique_to_reward(
        [OK, OK, OK], ["garbage", chart_critique(1), chart_critique(2)], "chart", config
    )
    assert rewards == pytest.approx([1.0, 1.5, 1.0], abs=1e-6)
    assert parts[0].severity_sum is None and parts[0].parse_error


def test_render_bonus_and_booleans_as_render_outcomes() -> None:
    config = RewardConfig(normalization="fixed", render_bonus=0.5)
    rewards, parts = critique_to_reward([True, False], [chart_critique(1), None], "chart", config)
    assert rewards == pytest.approx([0.5 + 0.98, 0.0])
    assert parts[1].error_kind == "failed"


def test_table_and_svg_text_is_parsed_in_its_domain() -> None:
    table = '{"errors": [{"type": "numeric_error", "severity": 2, "description": "1.5 vs 1.6"}]}'
    rewards, parts = critique_to_reward([OK], [table], "table", PUBLIC)
    assert rewards == pytest.approx([1.96]) and parts[0].n_errors == 1 and parts[0].n_skipped == 0
    strict = RewardConfig(normalization="fixed", unparseable_severity=25.0, strict_parse=True)
    rewards, parts = critique_to_reward([OK], [table], "svg", strict)  # table category is not an svg one
    assert rewards == pytest.approx([1.5]) and "category" in parts[0].parse_error


def test_off_schema_items_are_skipped_but_their_severity_counts_like_the_public_code() -> None:
    text = json.dumps(
        {
            "errors": [
                {"category": "shape_error", "severity": 2, "description": "circle is a square"},
                {"category": "other_error", "severity": 3, "description": "what the old SVG prompt offered"},
                {"category": "style_error", "description": "no severity: adds nothing, as in the public code"},
            ]
        }
    )
    rewards, parts = critique_to_reward([OK], [text], "svg", PUBLIC)
    assert rewards == pytest.approx([1 + (1 - 5 / 50)])  # S = 2 + 3
    assert (parts[0].n_errors, parts[0].n_skipped, parts[0].severity_sum, parts[0].parse_error) == (1, 2, 5.0, None)
    uncounted = RewardConfig(normalization="fixed", count_skipped_severity=False)
    assert critique_to_reward([OK], [text], "svg", uncounted)[0] == pytest.approx([1 + (1 - 2 / 50)])


@pytest.mark.parametrize(
    "text",
    [
        '{"errors": [{"category": "data_error", "severity": Infinity}]}',
        '{"errors": [{"category": "data_error", "severity": ' + "9" * 5000 + "}]}",
        '{"errors": [' * 3000,
        "{" * 20_000 + "}" * 20_000,
    ],
    ids=["infinity", "5000-digits", "unclosed-deep", "deep-braces"],
)
def test_hostile_critique_text_never_crashes_the_reward(text: str) -> None:
    for config in (PAPER, PUBLIC, RewardConfig(strict_parse=True)):
        rewards, parts = critique_to_reward([OK, OK], [text, critique_text(1)], "chart", config)
        assert all(0.0 <= r <= 2.0 for r in rewards)
        assert parts[0].parse_error is not None or parts[0].severity_sum == 3.0  # clamped severity, or unreadable


@pytest.mark.parametrize(
    ("renders", "critiques", "error"),
    [
        ([OK, OK], [chart_critique()], "length"),
        ([OK], [None], "no critique"),
        ([OK], [Critique("svg")], "domain"),
        ([OK], [42], "expected Critique"),
    ],
)
def test_bad_inputs_are_named(renders: list, critiques: list, error: str) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        critique_to_reward(renders, critiques, "chart")


@pytest.mark.parametrize(
    "kwargs",
    [{"normalization": "softmax"}, {"fixed_scale": 0}, {"eps": 0}, {"unparseable_severity": -1}],
)
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RewardConfig(**kwargs)
