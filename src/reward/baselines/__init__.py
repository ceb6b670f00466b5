"""Baseline rewards for ablations: each a plain ``RewardFunction`` over the same pairs as the Visual-ERM judge.

The paper compares Visual-ERM against render success and DINO similarity; the field also uses pixel MSE, SSIM,
CLIP/SigLIP similarity and, for tables, TEDS. Every baseline gives a candidate that did not render 0 (the public
reward code does the same), and a rendered one a score in [0, 1], higher when closer to the reference.
"""

from src.reward.baselines.embedding import EmbeddingCosineReward
from src.reward.baselines.pixel import PixelMSEReward, RenderSuccessReward, SSIMReward
from src.reward.baselines.teds import TEDSReward, teds
from src.reward.baselines.weighted import WeightedReward

__all__ = [
    "EmbeddingCosineReward",
    "PixelMSEReward",
    "RenderSuccessReward",
    "SSIMReward",
    "TEDSReward",
    "WeightedReward",
    "teds",
]
