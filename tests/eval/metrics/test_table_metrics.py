"""Table metrics: hand-computed edit distances, TEDS/TEDS-S through the baselines, answers without a table."""

from __future__ import annotations

import random

import pytest

from src.eval.metrics.table import levenshtein, normalized_edit_distance, table_scores

REFERENCE = "<table><tr><th>Model</th><th>Acc</th></tr><tr><td>A</td><td>91.2</td></tr></table>"


def _textbook(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def test_levenshtein_hand_cases_and_agreement_with_the_textbook_table() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == levenshtein("abc", "") == 3
    assert levenshtein("flaw", "lawn") == 2
    rng = random.Random(0)
    for _ in range(500):  # lengths across the 64-bit word boundary of the bit-parallel form
        a = "".join(rng.choice("ab<>") for _ in range(rng.randint(0, 150)))
        b = "".join(rng.choice("abc>") for _ in range(rng.randint(0, 150)))
        assert levenshtein(a, b) == _textbook(a, b)


def test_identical_tables_score_perfectly_even_with_other_whitespace() -> None:
    spaced = REFERENCE.replace("><", ">\n  <")
    scores = table_scores(REFERENCE, f"Here it is:\n```html\n{spaced}\n```")
    assert scores == {"teds": 1.0, "teds_s": 1.0, "edit_distance": 0.0}


def test_one_changed_cell() -> None:
    candidate = REFERENCE.replace("91.2", "91.7")
    scores = table_scores(REFERENCE, candidate)
    assert scores["teds_s"] == 1.0  # structure unchanged
    # 7 nodes (table, 2 tr, 4 td); one cell's text differs in 1 of 4 characters: 1 - 0.25 / 7
    assert scores["teds"] == pytest.approx(1 - 0.25 / 7)
    assert scores["edit_distance"] == pytest.approx(1 / len(REFERENCE))


def test_missing_table_and_bad_reference() -> None:
    assert table_scores(REFERENCE, "I cannot do that.") == {"teds": 0.0, "teds_s": 0.0, "edit_distance": 1.0}
    assert normalized_edit_distance("", "") == 0.0
    with pytest.raises(ValueError, match="reference"):
        table_scores("no table here", REFERENCE)
