"""The rollout batch refuses rewards, labels and engine log-probs that do not line up row for row."""

from __future__ import annotations

import pytest
import torch

from src.stages.rollout_batch import RolloutBatch


def _inputs(rows: int, seq: int) -> dict[str, torch.Tensor]:
    return {"input_ids": torch.ones(rows, seq, dtype=torch.long), "attention_mask": torch.ones(rows, seq)}


def test_a_batch_whose_parts_line_up_counts_its_completions() -> None:
    batch = RolloutBatch(_inputs(6, 9), torch.full((6, 9), -100), torch.zeros(2, 3), torch.zeros(6, 9), 0.7)
    assert batch.completions == 6


@pytest.mark.parametrize(
    ("labels", "rewards", "engine", "message"),
    [
        ((6, 9), (6,), None, "rewards: expected \\[groups, n\\]"),
        ((6, 9), (2, 2), None, "groups\\*n = 6"),
        ((5, 9), (2, 3), None, "rewards"),
        ((6, 8), (2, 3), None, "labels .* and input_ids"),
        ((6, 9), (2, 3), (6, 8), "engine_logprobs .* not aligned"),
    ],
)
def test_parts_that_do_not_line_up_are_refused(labels, rewards, engine, message) -> None:
    with pytest.raises(ValueError, match=message):
        RolloutBatch(
            _inputs(6, 9),
            torch.full(labels, -100),
            torch.zeros(rewards),
            None if engine is None else torch.zeros(engine),
        )
