"""SVG metrics of the UniSVG-style benchmarks: SSIM, pixel MSE and, when an encoder is on disk, embedding cosine.

The pixel metrics are the baselines' (``src.reward.baselines``) so evaluation and RL rewards agree on what "close"
means; here MSE is reported as the error itself (lower is better), not as the reward 1 − MSE. A candidate that did
not render scores the worst value of each metric (SSIM 0, MSE 1, cosine 0) rather than being left out, so a policy
cannot raise its averages by failing on hard images.
"""

from __future__ import annotations

from collections.abc import Sequence

from src.reward.baselines import EmbeddingCosineReward, PixelMSEReward, SSIMReward
from src.reward.pair import RewardPair

SVG_METRICS: tuple[str, ...] = ("ssim", "mse", "embedding_cosine")


class SVGMetrics:
    """Scores rendered SVG candidates against their reference images.

    Args:
        max_side: longest side both images are compared at (the baselines' default).
        embedding: an image encoder's cosine (DINOv2, CLIP, SigLIP from disk); None leaves ``embedding_cosine`` out.
    """

    def __init__(self, max_side: int = 256, embedding: EmbeddingCosineReward | None = None) -> None:
        self.ssim = SSIMReward(max_side)
        self.mse = PixelMSEReward(max_side)
        self.embedding = embedding

    def __call__(self, pairs: Sequence[RewardPair]) -> list[dict[str, float]]:
        if not pairs:
            return []
        ssim, one_minus_mse = self.ssim(pairs), self.mse(pairs)
        cosine = self.embedding(pairs) if self.embedding is not None else None
        scores = []
        for i, pair in enumerate(pairs):
            row = {"ssim": ssim[i], "mse": 1.0 - one_minus_mse[i] if pair.rendered else 1.0}
            if cosine is not None:
                row["embedding_cosine"] = cosine[i]
            scores.append(row)
        return scores
