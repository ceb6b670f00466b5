"""Pixel baselines: did it render, how far are the pixels (MSE), how alike is the structure (SSIM).

Both images are brought to one size before comparing: the reference scaled so its longest side is ``max_side`` and
the candidate resized to exactly that, because a candidate of another aspect ratio is still comparable by eye and a
reward must not crash on it. SSIM uses torchmetrics' implementation (Gaussian 11×11 window, the standard constants).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image
from torchmetrics.functional.image import structural_similarity_index_measure

from src.reward.pair import RewardPair, check_pairs


class RenderSuccessReward:
    """1 when the candidate rendered to a non-blank image, else 0: the reward a policy gets without any judge."""

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        check_pairs(pairs)
        return [1.0 if pair.rendered else 0.0 for pair in pairs]


class PixelMSEReward:
    """1 − mean squared error of RGB values in [0, 1] at a common size.

    Args:
        max_side: longest side both images are compared at; smaller is faster and forgives anti-aliasing.
    """

    def __init__(self, max_side: int = 256) -> None:
        if max_side < 8:
            raise ValueError(f"max_side: must be >= 8, got {max_side}")
        self.max_side = max_side

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        check_pairs(pairs)
        rewards = []
        for pair in pairs:
            if not pair.rendered:
                rewards.append(0.0)
                continue
            reference, candidate = aligned_arrays(pair, self.max_side)
            rewards.append(float(1.0 - np.mean((reference - candidate) ** 2)))
        return rewards


class SSIMReward:
    """Structural similarity (torchmetrics), clipped to [0, 1].

    Args:
        max_side: longest side both images are compared at.
    """

    def __init__(self, max_side: int = 256) -> None:
        if max_side < 16:  # the 11x11 Gaussian window needs room
            raise ValueError(f"max_side: must be >= 16, got {max_side}")
        self.max_side = max_side

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        check_pairs(pairs)
        rewards = [0.0] * len(pairs)
        # One SSIM call per image size: a GRPO group shares its reference's size, and one batched convolution is
        # ~5x cheaper per pair than eight single ones (measured on 2 busy cores: 0.17 vs 0.88 s at 256 px).
        by_shape: dict[tuple[int, ...], list[tuple[int, np.ndarray, np.ndarray]]] = {}
        for i, pair in enumerate(pairs):
            if pair.rendered:
                reference, candidate = aligned_arrays(pair, self.max_side)
                by_shape.setdefault(reference.shape, []).append((i, reference, candidate))
        for members in by_shape.values():
            references = torch.from_numpy(np.stack([m[1] for m in members])).permute(0, 3, 1, 2)  # [B, 3, H, W]
            candidates = torch.from_numpy(np.stack([m[2] for m in members])).permute(0, 3, 1, 2)  # [B, 3, H, W]
            ssim = structural_similarity_index_measure(candidates, references, data_range=1.0, reduction="none")
            for (i, _, _), value in zip(members, torch.as_tensor(ssim).reshape(-1).tolist(), strict=True):
                rewards[i] = min(1.0, max(0.0, value))
        return rewards


def aligned_arrays(pair: RewardPair, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference and candidate as float32 [H, W, 3] arrays in [0, 1], at the reference's shape capped to max_side."""
    reference = pair.reference
    scale = min(1.0, max_side / max(reference.size))
    size = (max(1, round(reference.width * scale)), max(1, round(reference.height * scale)))
    ref = reference.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    cand = pair.candidate_image().resize(size, Image.Resampling.BILINEAR)
    return (np.asarray(ref, dtype=np.float32) / 255.0, np.asarray(cand, dtype=np.float32) / 255.0)
