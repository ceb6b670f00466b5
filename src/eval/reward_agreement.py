"""Does a reward order a GRPO group's rollouts as their true differences from the reference do?

GRPO learns only from differences between the rewards of one prompt's rollouts: a group whose rollouts all get one
reward teaches nothing, and a group ordered against the truth teaches the wrong thing. A critic's bench F1 says how
well it describes single pairs; this says what it tells RL. Over every two rollouts of a group whose true error
differs, the reward agrees when the better rollout gets the higher reward; a tie counts half (GRPO's advantage
gives neither a push, as a coin flip would on average).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations


@dataclass(frozen=True)
class Rollout:
    """One scored rollout: its true error (e.g. the severity sum of its exact critique; ``inf`` if it did not
    render) and the reward it was given."""

    true_error: float
    reward: float


@dataclass(frozen=True)
class GroupAgreement:
    """How one reward ordered the rollouts of ``groups`` groups.

    ``agreement`` is over ``pairs`` (two rollouts of one group whose true errors differ); ``None`` when no group had
    rollouts of different quality. ``tied_groups``: share of groups whose rollouts all got one reward.
    ``mixed_groups``: share of groups whose rollouts differ in true error (what a perfect reward could teach from).
    """

    groups: int
    rollouts: int
    pairs: int
    agreement: float | None
    tied_groups: float
    mixed_groups: float

    def to_dict(self) -> dict[str, float | int | None]:
        return {
            "groups": self.groups,
            "rollouts": self.rollouts,
            "pairs": self.pairs,
            "agreement": self.agreement,
            "tied_groups": self.tied_groups,
            "mixed_groups": self.mixed_groups,
        }


def group_agreement(groups: Sequence[Sequence[Rollout]], tolerance: float = 1e-9) -> GroupAgreement:
    """Pairwise agreement of reward and true error within each group; groups of fewer than two rollouts are skipped.

    Rewards closer than ``tolerance`` count as tied.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance: must be >= 0, got {tolerance}")
    scored = [list(g) for g in groups if len(g) >= 2]
    for g, group in enumerate(scored):
        for r in group:
            if math.isnan(r.true_error) or not math.isfinite(r.reward):
                raise ValueError(f"groups[{g}]: true_error must not be NaN and reward must be finite, got {r}")
    agree, pairs, tied, mixed = 0.0, 0, 0, 0
    for group in scored:
        rewards = [r.reward for r in group]
        tied += max(rewards) - min(rewards) <= tolerance
        mixed += len({r.true_error for r in group}) > 1
        for a, b in combinations(group, 2):
            if a.true_error == b.true_error:
                continue
            pairs += 1
            better, worse = (a, b) if a.true_error < b.true_error else (b, a)
            gap = better.reward - worse.reward
            agree += 0.5 if abs(gap) <= tolerance else float(gap > 0)
    n = len(scored)
    return GroupAgreement(
        groups=n,
        rollouts=sum(len(g) for g in scored),
        pairs=pairs,
        agreement=agree / pairs if pairs else None,
        tied_groups=tied / n if n else 0.0,
        mixed_groups=mixed / n if n else 0.0,
    )
