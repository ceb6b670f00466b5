"""The paper's reward from the critique a perfect critic would write: an upper bound, not a baseline to deploy.

For plain-shape SVGs (the miniature's family) the true critique of an answer is known exactly from the two sources
(``src.data.shape_diff``). Scoring GRPO with it through the same reward formula as the trained critic (Eq. 3-5,
group-max normalization) separates the two questions a weak RL result leaves open: can a structured critique reward
improve this policy at all, and does the trained critic see what it would need to.
"""

from __future__ import annotations

from collections.abc import Sequence

from src.data.schema import Critique
from src.data.shape_diff import UnlabelableAnswer, label_shape_answer
from src.reward.pair import PairError, RewardPair, check_pairs
from src.reward.parse import CritiqueParseError
from src.reward.reward import RewardConfig, grouped_critique_rewards


class ExactShapeCritiqueReward:
    """Eq. 3-5 on the exact critique of each rendered plain-shape SVG answer against its reference's source.

    An answer that is not plain shapes cannot be labelled and counts as an unreadable critique (``RewardConfig``'s
    fallback severity), as a critic's unreadable answer would.

    Args:
        reward: how critiques become rewards (default: the paper's group-max normalization).
    """

    def __init__(self, reward: RewardConfig | None = None) -> None:
        self.reward = reward or RewardConfig()

    def __call__(self, pairs: Sequence[RewardPair]) -> list[float]:
        check_pairs(pairs)
        critiques: list[Critique | CritiqueParseError | None] = []
        for i, pair in enumerate(pairs):
            if pair.domain != "svg" or pair.reference_source is None:
                raise PairError(f"pairs[{i}]: the exact critique needs an SVG pair with its reference_source")
            if not pair.rendered:
                critiques.append(None)
                continue
            try:
                critiques.append(label_shape_answer(pair.reference_source, pair.candidate_source or ""))
            except UnlabelableAnswer as error:
                critiques.append(CritiqueParseError(f"unlabelable answer: {error.reason}", pair.candidate_source or ""))
        return grouped_critique_rewards(pairs, critiques, self.reward)[0]
