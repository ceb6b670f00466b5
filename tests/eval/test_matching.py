"""Error matching: the deterministic matcher's levels and optimal one-to-one assignment, the LLM matcher's cleaning."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from src.engines.engine import ChatRequest, Completion, SamplingSettings, WeightUpdate
from src.eval.matching import (
    DeterministicMatcher,
    ErrorMatch,
    LLMMatcher,
    MatcherProfile,
    MatchReplyError,
    MatchTask,
    PairMatching,
    content_words,
    load_matcher_profile,
    matching_prompt,
    parse_match_reply,
    parse_released_reply,
    save_matcher_profile,
)


def err(kind: str, location: str, description: str, severity: int = 2) -> dict:
    return {"category": f"{kind}_error", "severity": severity, "location": location, "description": description}


def test_content_words_fold_case_plurals_spelling_and_stop_words() -> None:
    assert content_words("The Colours of the Bars are wrong") == {"color", "bar", "wrong"}
    assert content_words("value 42.5 instead of 40") == {"value", "42.5", "40"}


def test_same_error_in_other_words_is_a_full_match() -> None:
    ref = [err("data", "bar 'Q3'", "the bar 'Q3' is 42 instead of 40")]
    pred = [err("data", "bar 'Q3'", "bar Q3 shows 42, should be 40")]
    assert DeterministicMatcher().match_one(pred, ref) == [ErrorMatch(0, 0, "yes")]


def test_vaguer_description_of_the_same_point_is_partial() -> None:
    ref = [err("text", "x-axis label", "the x-axis label reads 'Revenue (USD)' instead of 'Revenue (EUR)'")]
    pred = [err("text", "x-axis label", "axis label text differs")]
    assert DeterministicMatcher().match_one(pred, ref) == [ErrorMatch(0, 0, "partial")]


def test_other_location_or_unrelated_text_never_matches_and_types_may_differ() -> None:
    ref = [err("text", "legend", "the legend is missing")]
    matcher = DeterministicMatcher()
    assert matcher.match_one([err("text", "title", "the title is missing")], ref) == []  # other place
    assert matcher.match_one([err("text", "", "gridlines are dashed")], ref) == []  # nothing shared
    # The public evaluator dropped its equal-type rule, and so does the default; the old rule is one flag away.
    assert matcher.match_one([err("style", "legend", "the legend is missing")], ref) == [ErrorMatch(0, 0, "yes")]
    strict = DeterministicMatcher(require_same_type=True)
    assert strict.match_one([err("style", "legend", "the legend is missing")], ref) == []


def test_assignment_is_one_to_one_and_optimal_where_greedy_is_not() -> None:
    """pred0 is closest to ref0, but pairing them (greedy) leaves pred1 only a partial match with ref1; the optimal
    assignment crosses over and earns two full matches."""
    ref = [err("data", "", "North line shifted up"), err("data", "", "North line marker shape")]
    pred = [err("data", "", "North line shifted up marker"), err("data", "", "North line shifted dashed")]
    matches = DeterministicMatcher().match_one(pred, ref)
    assert sorted(matches, key=lambda m: m.pred_id) == [ErrorMatch(0, 1, "yes"), ErrorMatch(1, 0, "yes")]


def test_errors_are_matched_at_most_once() -> None:
    ref = [err("style", "bar 'A'", "bar 'A' is red instead of blue")]
    pred = [err("style", "bar 'A'", "bar 'A' is red instead of blue")] * 3
    assert DeterministicMatcher().match_one(pred, ref) == [ErrorMatch(0, 0, "yes")]


def test_empty_sides_and_bad_thresholds() -> None:
    matcher = DeterministicMatcher()
    assert matcher.match([MatchTask("chart", (), (err("data", "x", "y"),)), MatchTask("chart", (), ())]) == [[], []]
    with pytest.raises(ValueError, match="thresholds"):
        DeterministicMatcher(yes_threshold=0.2, partial_threshold=0.5)


def test_parse_match_reply_cleans_like_the_public_evaluator() -> None:
    reply = (
        "```json\n"
        '{"matches": [{"pred_id": 0, "gt_id": 1, "match_level": "yes"},'
        ' {"pred_id": 0, "gt_id": 0, "match_level": "yes"},'  # pred 0 already used: first claim wins
        ' {"pred_id": 1, "gt_id": 0, "match_level": "no"},'  # not a match level that counts
        ' {"pred_id": 2, "gt_id": 9, "match_level": "partial"},'  # out of range
        ' {"pred_id": true, "gt_id": 0, "match_level": "yes"},'  # a bool is not an id
        ' {"pred_id": 2, "gt_id": 0, "match_level": "partial"}]}\n```'
    )
    assert parse_match_reply(reply, n_predicted=3, n_reference=2) == [
        ErrorMatch(0, 1, "yes"),
        ErrorMatch(2, 0, "partial"),
    ]
    for bad in ("no json here", '{"matches": 3}', "{not json}", "{" + "[" * 100_000 + "]" * 100_000 + "}"):
        with pytest.raises(MatchReplyError):
            parse_match_reply(bad, 1, 1)


class ScriptedEngine:
    """An engine whose replies come from a list, one per request, recording every request it saw."""

    weights_version = 0

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.requests: list[ChatRequest] = []

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        self.requests.extend(requests)
        return [[Completion(text=self.replies.pop(0))] for _ in requests]

    def update_weights(self, update: WeightUpdate) -> None:
        pass

    def close(self) -> None:
        pass


def test_llm_matcher_asks_only_when_both_sides_have_errors_and_reasks_unreadable_replies() -> None:
    a = err("data", "bar 'A'", "bar A too tall")
    tasks = [
        MatchTask("chart", (a,), (a,)),
        MatchTask("chart", (), (a,)),  # decided without asking
        MatchTask("chart", (a,), (a, a)),
    ]
    engine = ScriptedEngine(
        [
            '{"matches": [{"pred_id": 0, "gt_id": 0, "match_level": "partial"}]}',
            "I think they match.",  # unreadable: asked again
            '{"matches": [{"pred_id": 0, "gt_id": 1, "match_level": "yes"}]}',
        ]
    )
    results = LLMMatcher(engine, attempts=2).match(tasks)
    assert results == [[ErrorMatch(0, 0, "partial")], [], [ErrorMatch(0, 1, "yes")]]
    assert len(engine.requests) == 3
    prompt = engine.requests[0].messages[0]["content"][0]["text"]
    assert "bar A too tall" in prompt and "pred_id" in prompt and "gt_id" in prompt


def test_llm_matcher_gives_up_after_its_attempts() -> None:
    a = err("data", "bar 'A'", "bar A too tall")
    engine = ScriptedEngine(["nope", "still nope"])
    matcher = LLMMatcher(engine, attempts=2)
    assert matcher.match([MatchTask("chart", (a,), (a,))]) == [None]
    assert matcher.failures == ["no JSON object in the reply"]


def test_matching_prompt_lists_both_sides_with_ids() -> None:
    prompt = matching_prompt("table", [err("numeric", "", "3.5 read as 35")], [err("numeric", "row 2", "decimal lost")])
    assert '"pred_id": 0' in prompt and '"gt_id": 0' in prompt and "row 2" in prompt and "table" in prompt


def evaluator_profile() -> MatcherProfile:
    """A stand-in of the evaluator's matcher protocol (our words; the evaluator's text is not ours to ship)."""
    return MatcherProfile(
        name="evaluator-stand-in",
        prompt=({"text": "Match {domain} "}, {"field": "category"}, {"text": "\nP="}, {"field": "predicted"}),
        system="STAND-IN system.",
        sampling=SamplingSettings(temperature=1.0, max_new_tokens=8192),
        allowed_types={"chart": ("data_error", "text_error")},
    )


def test_released_reply_reading_as_the_evaluator_does() -> None:
    """Each case's result written out from the public evaluator's rules (``evaluation/evaluation.py`` of
    InternLM/Visual-ERM): its reply reader, one-to-one ids, yes/partial levels."""
    # Fenced reply; a boolean id counts as 1; "no" and out-of-range ids skipped; first claim wins.
    reply = (
        '```json\n{"matches": [{"pred_id": true, "gt_id": 0, "match_level": "yes"},'
        ' {"pred_id": 0, "gt_id": 0, "match_level": "partial"}, {"pred_id": 0, "gt_id": 1, "match_level": "no"},'
        ' {"pred_id": 5, "gt_id": 1, "match_level": "yes"}, {"pred_id": 0, "gt_id": 1, "match_level": "partial"}]}\n```'
    )
    assert parse_released_reply(reply, 2, 2) == PairMatching((ErrorMatch(1, 0, "yes"), ErrorMatch(0, 1, "partial")))
    # The reply's non-empty unmatched lists are taken as they are (even when they contradict the matches).
    stated = '{"matches": [], "unmatched_pred": [0, 1, 1, -1], "unmatched_gt": []}'
    assert sorted(parse_released_reply(stated, 2, 1).unmatched_pred or ()) == [-1, 0, 1]
    assert parse_released_reply(stated, 2, 1).unmatched_ref is None  # empty: the complement of the matches
    # Where the evaluator's own code raises, the pair is dropped.
    for bad in (
        '{"matches": [1]}',
        '{"matches": [], "unmatched_pred": [7]}',
        '{"matches": [], "unmatched_gt": "a"}',
        '{"matches": 3}',
        "[]",
        "no json",
    ):
        with pytest.raises(MatchReplyError):
            parse_released_reply(bad, 2, 1)


def test_matcher_with_the_evaluator_profile_asks_every_pair_once() -> None:
    a = err("data", "bar", "bar A too tall")
    engine = ScriptedEngine(['{"matches": []}', "unreadable", '{"matches": [{"pred_id": 0, "gt_id": 0}]}'])
    matcher = LLMMatcher(engine, profile=evaluator_profile())
    results = matcher.match([MatchTask("chart", (), ()), MatchTask("chart", (a,), (a,)), MatchTask("chart", (a,), ())])
    # Empty sides are asked too; an unreadable reply is not asked again; a match without a level is "no".
    assert results == [PairMatching(()), None, PairMatching(())]
    assert len(engine.requests) == 3 and matcher.sampling == SamplingSettings(temperature=1.0, max_new_tokens=8192)
    first = engine.requests[1].messages
    assert first[0] == {"role": "system", "content": "STAND-IN system."}
    listing = '[\n  {\n    "pred_id": 0,\n    "type": "data_error",\n    "description": "bar A too tall",\n    "severity": 2\n  }\n]'
    assert first[1]["content"] == [{"type": "text", "text": "Match {domain} chart\nP=" + listing}]


def test_matcher_profile_file_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    profile = evaluator_profile()
    assert load_matcher_profile(save_matcher_profile(profile, tmp_path / "m.json")) == profile
    (tmp_path / "bad.json").write_text('{"format_version": 1, "name": "x", "colour": 1}')
    with pytest.raises(ValueError, match="bad.json"):
        load_matcher_profile(tmp_path / "bad.json")
