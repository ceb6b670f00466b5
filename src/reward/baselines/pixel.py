"""Pixel baselines: did it render, how far are the pixels (MSE), how alike is the structure (SSIM).

Both images are brought to one size before comparing: the reference scaled so its longest side is ``max_side`` and
the candidate resized to exactly that, because a candidate of another aspect ratio is still comparable by eye and a
reward must not crash on it. SSIM uses torchmetrics' implementation (Gaussian 11×11 window, the standard constants).
"""

from __future__ import annotations

import itertools
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
        batch_size: pairs of one size per SSIM call; bounds the decoded images held at once.
    """

    def __init__(self, max_side: int = 256, batch_size: int = 32) -> None:
        if max_side < 16:  # the 11x11 Gaussian window needs room
            raise ValueError(f"max_side: must be >= 16, got {max_side}")
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        self.max_side = max_side
        self.batch_size = batch_size

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        check_pairs(pairs)
        rewards = [0.0] * len(pairs)
        # One SSIM call per image size, up to ``batch_size`` pairs: a GRPO group shares its reference's size, and one
        # batched convolution is several times cheaper per pair than single ones.
        # Pairs are sorted by size first, so only one batch of decoded images is held at a time.
        sizes = {i: compared_size(pair, self.max_side) for i, pair in enumerate(pairs) if pair.rendered}
        batches = []
        for _, same_size in itertools.groupby(sorted(sizes, key=lambda i: sizes[i]), key=lambda i: sizes[i]):
            members = list(same_size)
            batches += [members[k : k + self.batch_size] for k in range(0, len(members), self.batch_size)]
        for batch in batches:
            arrays = [aligned_arrays(pairs[i], self.max_side) for i in batch]
            references = torch.from_numpy(np.stack([a[0] for a in arrays])).permute(0, 3, 1, 2)  # [B, 3, H, W]
            candidates = torch.from_numpy(np.stack([a[1] for a in arrays])).permute(0, 3, 1, 2)  # [B, 3, H, W]
            ssim = structural_similarity_index_measure(candidates, references, data_range=1.0, reduction="none")
            for i, value in zip(batch, torch.as_tensor(ssim).reshape(-1).tolist(), strict=True):
                rewards[i] = min(1.0, max(0.0, value))
        return rewards


def compared_size(pair: RewardPair, max_side: int) -> tuple[int, int]:
    """(width, height) both images are compared at: the reference's size, longest side capped to ``max_side``."""
    scale = min(1.0, max_side / max(pair.reference.size))
    return (max(1, round(pair.reference.width * scale)), max(1, round(pair.reference.height * scale)))


def aligned_arrays(pair: RewardPair, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference and candidate as float32 [H, W, 3] arrays in [0, 1], at the reference's shape capped to max_side."""
    size = compared_size(pair, max_side)
    ref = pair.reference.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    cand = pair.candidate_image().resize(size, Image.Resampling.BILINEAR)
    return (np.asarray(ref, dtype=np.float32) / 255.0, np.asarray(cand, dtype=np.float32) / 255.0)
