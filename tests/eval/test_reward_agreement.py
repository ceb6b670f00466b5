"""Within-group agreement of a reward with the rollouts' true errors: what GRPO can learn from it."""

from __future__ import annotations

import math
import random

import pytest

from src.eval.reward_agreement import Rollout, group_agreement


def _group(errors: list[float], rewards: list[float]) -> list[Rollout]:
    return [Rollout(e, r) for e, r in zip(errors, rewards, strict=True)]


def test_a_reward_that_follows_the_truth_agrees_and_its_flip_disagrees() -> None:
    rng = random.Random(0)
    groups = []
    for _ in range(20):
        errors = [float(rng.randint(0, 6)) for _ in range(6)] + [math.inf]  # one rollout did not render
        groups.append(_group(errors, [0.0 if math.isinf(e) else 2.0 - e / 10 for e in errors]))
    right = group_agreement(groups)
    assert right.agreement == 1.0 and right.groups == 20 and right.rollouts == 140
    flipped = group_agreement([[Rollout(r.true_error, -r.reward) for r in g] for g in groups])
    assert flipped.agreement == 0.0 and flipped.pairs == right.pairs > 0


def test_a_constant_reward_scores_a_coin_flip_and_every_group_tied() -> None:
    groups = [_group([0, 2, 3, 3], [1.0] * 4), _group([1, 1, 4], [2.0] * 3)]
    result = group_agreement(groups)
    assert result.agreement == 0.5 and result.tied_groups == 1.0 and result.mixed_groups == 1.0
    assert result.pairs == 5 + 2  # pairs with equal true error teach nothing and are not counted


def test_counts_pairs_ties_and_skips_single_rollouts() -> None:
    groups = [
        _group([0, 3], [1.0, 0.5]),  # agrees
        _group([0, 3], [0.5, 1.0]),  # disagrees
        _group([0, 3, 5], [1.0, 1.0, 0.0]),  # tie (0.5), agrees, agrees
        _group([2, 2], [1.0, 0.0]),  # same quality: no pair, not tied, not mixed
        _group([1], [1.0]),  # a group of one is no group
    ]
    result = group_agreement(groups)
    assert result.groups == 4 and result.rollouts == 9 and result.pairs == 5
    assert result.agreement == pytest.approx((1 + 0 + 0.5 + 1 + 1) / 5)
    assert result.tied_groups == 0.0 and result.mixed_groups == 0.75
    assert group_agreement([_group([2, 2], [1, 1])]).agreement is None


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match=r"groups\[0\]"):
        group_agreement([_group([0, math.nan], [1, 1])])
    with pytest.raises(ValueError, match=r"groups\[0\]"):
        group_agreement([_group([0, 1], [1, math.inf])])
    with pytest.raises(ValueError, match="tolerance"):
        group_agreement([], tolerance=-1)
