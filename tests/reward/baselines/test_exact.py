"""The exact-critique reward: the paper's formula on the critique a perfect critic would write."""

from __future__ import annotations

import pytest
from PIL import Image

from src.render.job import RenderResult
from src.reward.baselines.exact import ExactShapeCritiqueReward
from src.reward.pair import PairError, RewardPair

REFERENCE = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">\n'
    '  <circle cx="28" cy="28" r="14" fill="#eb5757"/>\n'
    '  <rect x="86" y="86" width="28" height="28" fill="#2f80ed"/>\n'
    "</svg>\n"
)
RECOLOURED = REFERENCE.replace("#eb5757", "#27ae60")
MOVED_AND_RECOLOURED = RECOLOURED.replace('cx="28"', 'cx="100"')
IMAGE = Image.new("RGB", (128, 128), "white")
RENDERED = RenderResult(ok=True, png=b"not read by this reward")


def _pair(source: str | None, group: str | None = "g", rendered: bool = True) -> RewardPair:
    candidate = RENDERED if rendered else RenderResult.failure("runtime", "boom")
    return RewardPair(IMAGE, candidate, "svg", group=group, reference_source=REFERENCE, candidate_source=source)


def test_fewer_true_errors_score_higher_within_a_group_and_unrendered_lowest() -> None:
    path = REFERENCE.replace("<circle", "<path d='M0 0'/><circle")
    exact, one, two, failed, unlabelable = ExactShapeCritiqueReward()(
        [_pair(f"```svg\n{REFERENCE}```"), _pair(RECOLOURED), _pair(MOVED_AND_RECOLOURED), _pair(None, rendered=False),
         _pair(path)]
    )  # fmt: skip
    assert exact == pytest.approx(2.0) and failed == 0.0
    assert exact > one > two > unlabelable >= 1.0  # rendered: r_render 1 plus 1 - S / max S of the group
    # group-max normalization: the same answer scores differently beside a worse one
    alone = ExactShapeCritiqueReward()([_pair(RECOLOURED, group="h"), _pair(REFERENCE, group="h")])
    assert alone[0] == pytest.approx(1.0, abs=1e-6)


def test_a_pair_without_its_reference_source_is_refused() -> None:
    pair = RewardPair(IMAGE, RENDERED, "svg", candidate_source=REFERENCE)
    with pytest.raises(PairError, match=r"pairs\[0\].*reference_source"):
        ExactShapeCritiqueReward()([pair])
