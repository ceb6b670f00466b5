"""A weighted sum of rewards, e.g. render success + judge, or SSIM + DINO, chosen in YAML."""

from __future__ import annotations

from collections.abc import Sequence

from src.reward.pair import RewardFunction, RewardPair, check_pairs


class WeightedReward:
    """Σ_k weight_k · reward_k(pairs), pair by pair.

    Args:
        rewards: the rewards to combine (any ``RewardFunction``, the judge included).
        weights: one weight per reward; negative weights are allowed (a penalty term).
    """

    def __init__(self, rewards: list[RewardFunction], weights: list[float]) -> None:
        if not rewards:
            raise ValueError("rewards: at least one reward is needed")
        if len(weights) != len(rewards):
            raise ValueError(f"weights: {len(weights)} weights for {len(rewards)} rewards")
        self.rewards = rewards
        self.weights = [float(w) for w in weights]

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        check_pairs(pairs)
        totals = [0.0] * len(pairs)
        for reward, weight in zip(self.rewards, self.weights, strict=True):
            values = reward(pairs)
            if len(values) != len(pairs):
                raise RuntimeError(f"{type(reward).__name__} returned {len(values)} rewards for {len(pairs)} pairs")
            totals = [t + weight * v for t, v in zip(totals, values, strict=True)]
        return totals
