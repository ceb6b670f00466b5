"""The rollout batch: what ``RolloutCallback`` hands ``GRPOModule`` for one optimizer step, as one typed value.

Rows are the ``groups × n`` completions in group order (group g's completions are rows ``g*n .. g*n+n-1``), each
its prompt followed by the completion, right-padded (the SFT layout): labels are the completion tokens, -100
elsewhere. ``engine_logprobs`` is aligned with ``labels`` (entry t is the engine's log-prob of token t; NaN where
the engine gave none), for truncated importance sampling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class RolloutBatch:
    """One step's completions, their rewards and what the engine reported about them."""

    model_inputs: dict[str, torch.Tensor]  # input_ids, attention_mask [, pixel_values, image_grid_thw, ...]
    labels: torch.Tensor  # [groups*n, seq]
    rewards: torch.Tensor  # [groups, n]
    engine_logprobs: torch.Tensor | None = None  # [groups*n, seq]
    temperature: float = 1.0  # the sampling temperature; log-probs are scored at it (greedy: at 1)

    def __post_init__(self) -> None:
        rows = self.labels.shape[0]
        if self.rewards.dim() != 2 or self.rewards.numel() != rows:
            raise ValueError(
                f"rewards: expected [groups, n] with groups*n = {rows} rows, got {tuple(self.rewards.shape)}"
            )
        if self.model_inputs["input_ids"].shape != self.labels.shape:
            raise ValueError(
                f"labels {tuple(self.labels.shape)} and input_ids {tuple(self.model_inputs['input_ids'].shape)} differ"
            )
        if self.engine_logprobs is not None and self.engine_logprobs.shape != self.labels.shape:
            raise ValueError(f"engine_logprobs {tuple(self.engine_logprobs.shape)} not aligned with the labels")

    @property
    def completions(self) -> int:
        return int(self.labels.shape[0])
