"""TEDS over apted: pinned to hand-computed distances; HTML and Markdown of one table agree; TEDS-S ignores text."""

from __future__ import annotations

import pytest

from src.render.job import RenderResult
from src.reward.baselines import TEDSReward, teds
from src.reward.pair import PairError, RewardPair
from tests.reward.conftest import bars_image, rendered

TABLE = "<table><tr><th>Model</th><th>Acc</th></tr><tr><td>A</td><td>71.5</td></tr></table>"  # 7 nodes
IMAGE = bars_image([1])


def test_identical_tables_score_one_and_no_table_zero() -> None:
    assert teds(TABLE, TABLE) == 1.0
    assert teds(TABLE, "I could not produce the table.") == 0.0


def test_cell_text_costs_its_normalized_edit_distance() -> None:
    # "71.5" -> "71.8": Levenshtein 1 over 4 characters; TED = 0.25 over 7 nodes.
    assert teds(TABLE, TABLE.replace("71.5", "71.8")) == pytest.approx(1 - 0.25 / 7)
    assert teds(TABLE, TABLE.replace("71.5", "71.8"), structure_only=True) == 1.0


def test_structure_changes_cost_whole_nodes() -> None:
    # Dropping the body row deletes 3 nodes (tr + 2 td) of 7.
    header_only = "<table><tr><th>Model</th><th>Acc</th></tr></table>"
    assert teds(TABLE, header_only) == pytest.approx(1 - 3 / 7)
    # A colspan change renames one node (cost 1) and deletes the other cell (cost 1).
    merged = "<table><tr><th colspan='2'>Model</th></tr><tr><td>A</td><td>71.5</td></tr></table>"
    assert teds(TABLE, merged, structure_only=True) == pytest.approx(1 - 2 / 7)


def test_markdown_and_html_of_the_same_table_agree_and_sloppy_html_parses() -> None:
    markdown = "Here it is:\n\n| Model | Acc |\n|---|---:|\n| A | 71.5 |\n"
    assert teds(TABLE, markdown) == 1.0
    unclosed = "<table><tr><th>Model<th>Acc<tr><td>A<td>71.5</table>"
    assert teds(TABLE, unclosed) == 1.0


def test_reward_reads_sources_from_the_pair() -> None:
    candidate = "```html\n" + TABLE.replace("71.5", "71.8") + "\n```"
    pairs = [
        RewardPair(IMAGE, rendered(IMAGE), "table", reference_source=TABLE, candidate_source=TABLE),
        RewardPair(IMAGE, rendered(IMAGE), "table", reference_source=TABLE, candidate_source=candidate),
        RewardPair(
            IMAGE,
            RenderResult.failure("invalid_input", "x"),
            "table",
            reference_source=TABLE,
            candidate_source="<table",
        ),  # fmt: skip
    ]
    assert TEDSReward()(pairs) == pytest.approx([1.0, 1 - 0.25 / 7, 0.0])
    assert TEDSReward(structure_only=True)(pairs) == pytest.approx([1.0, 1.0, 0.0])


def test_missing_sources_or_other_domains_are_typed_errors() -> None:
    with pytest.raises(PairError, match="reference_source and candidate_source"):
        TEDSReward()([RewardPair(IMAGE, rendered(IMAGE), "table")])
    with pytest.raises(PairError, match="TEDS scores tables"):
        TEDSReward()([RewardPair(IMAGE, rendered(IMAGE), "chart", reference_source=TABLE, candidate_source=TABLE)])
    with pytest.raises(PairError, match="no <table>"):
        TEDSReward()([RewardPair(IMAGE, rendered(IMAGE), "table", reference_source="prose", candidate_source=TABLE)])


def test_oversized_tables_cannot_stall_the_reward() -> None:
    def grid(rows: int, cols: int) -> str:
        cells = "".join("<tr>" + "<td>1</td>" * cols + "</tr>" for _ in range(rows))
        return f"<table>{cells}</table>"

    huge = grid(200, 20)  # 4,201 nodes: minutes of tree edit distance
    assert teds(TABLE, huge, max_nodes=400) == 0.0
    pairs = [RewardPair(IMAGE, rendered(IMAGE), "table", reference_source=TABLE, candidate_source=huge)]
    assert TEDSReward()(pairs) == [0.0]
    with pytest.raises(PairError, match="above max_nodes=400"):
        TEDSReward()([RewardPair(IMAGE, rendered(IMAGE), "table", reference_source=huge, candidate_source=TABLE)])
