"""Does the critic look at the candidate? Its loss on the true critiques, with the real candidate and with the
reference shown in the candidate's place.

A critic that reads only the reference (or only the prompt) predicts the same critique whatever the candidate shows,
so its loss is the same both ways; one that compares the two images explains the true critique far better when it
sees the candidate. The gap (``blind - real``) is the evidence, per token of critique.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from src.data.collate import pad_id_of
from src.data.prompts import CriticInstruction
from src.data.reward_datamodule import CriticCollator, CriticPairDataset, Reading
from src.data.shards import PairRecord
from src.stages.sft import IGNORE_INDEX, answer_token_loss


@dataclass(frozen=True)
class GroundingLoss:
    """Mean loss per critique token with the real candidate and with the reference twice, over the same pairs."""

    pairs: int
    real: float
    blind: float

    @property
    def gap(self) -> float:
        return self.blind - self.real


@torch.no_grad()
def grounding_loss(
    model: torch.nn.Module,
    processor: Any,
    pairs: Sequence[PairRecord],
    instruction: CriticInstruction = "full",
    max_image_side: int = 1024,
    max_length: int = 4096,
    batch_size: int = 8,
    errors_first: bool = False,
    transcribe_first: bool = False,
    reading: Reading = "code",
) -> GroundingLoss:
    """The critic's loss on ``pairs`` as given and with each candidate image replaced by its reference (over its
    whole answer: with ``transcribe_first`` its ``reading`` of both images, then the critique)."""
    if not pairs:
        raise ValueError("pairs: need at least one pair")
    blind = [replace(p, candidate_image=p.reference_image, candidate_size=p.reference_size) for p in pairs]
    was_training = model.training
    model.eval()
    try:
        settings = (instruction, max_image_side, max_length, batch_size, errors_first, transcribe_first, reading)
        real_loss = _mean_loss(model, processor, list(pairs), *settings)
        blind_loss = _mean_loss(model, processor, blind, *settings)
    finally:
        model.train(was_training)
    return GroundingLoss(len(pairs), real_loss, blind_loss)


def _mean_loss(
    model: torch.nn.Module,
    processor: Any,
    pairs: list[PairRecord],
    instruction: CriticInstruction,
    max_image_side: int,
    max_length: int,
    batch_size: int,
    errors_first: bool,
    transcribe_first: bool,
    reading: Reading,
) -> float:
    dataset = CriticPairDataset(
        pairs, processor, max_length, max_image_side, "raise", "raise", instruction, errors_first=errors_first,
        transcribe_first=transcribe_first, reading=reading,
    )  # fmt: skip
    collate = CriticCollator(pad_id_of(processor))
    total, tokens = 0.0, 0
    for start in range(0, len(pairs), batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(pairs)))])
        # answer_token_loss is a mean over the batch's predicted tokens: weight it back to a sum
        count = int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())
        total += float(answer_token_loss(model, batch["model_inputs"], batch["labels"])) * count
        tokens += count
    return total / tokens
