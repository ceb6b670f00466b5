"""Render success, pixel MSE and SSIM: exact copies score 1, failures 0, and more damage scores lower."""

from __future__ import annotations

import pytest
from PIL import Image

from src.render.job import RenderResult
from src.reward.baselines import PixelMSEReward, RenderSuccessReward, SSIMReward, WeightedReward
from src.reward.pair import PairError, RewardFunction, RewardPair
from tests.reward.conftest import bars_image, rendered

REFERENCE = bars_image([10, 40, 25, 50])


def pairs_of(*candidates: RenderResult) -> list[RewardPair]:
    return [RewardPair(REFERENCE, c, "chart") for c in candidates]


PAIRS = pairs_of(
    rendered(REFERENCE),
    rendered(bars_image([10, 40, 25, 45])),  # one bar slightly lower
    rendered(bars_image([50, 5, 60, 10])),  # every bar wrong
    RenderResult.failure("runtime", "ZeroDivisionError"),
)


def test_render_success_only_sees_whether_it_rendered() -> None:
    assert RenderSuccessReward()(PAIRS) == [1.0, 1.0, 1.0, 0.0]


@pytest.mark.parametrize("reward", [PixelMSEReward(), SSIMReward()], ids=["mse", "ssim"])
def test_pixel_rewards_order_by_damage(reward: RewardFunction) -> None:
    exact, slight, wrong, failed = reward(PAIRS)
    assert exact == pytest.approx(1.0, abs=1e-4)  # SSIM in float32 gives 0.99998 on a copy
    assert 1.0 > slight > wrong > failed == 0.0
    assert isinstance(reward, RewardFunction)


def test_candidate_of_another_size_is_compared_not_refused() -> None:
    larger = rendered(bars_image([10, 40, 25, 50]).resize((192, 128), Image.Resampling.NEAREST))
    mse, ssim = PixelMSEReward()(pairs_of(larger)), SSIMReward()(pairs_of(larger))
    assert mse[0] > 0.98 and ssim[0] > 0.8  # same picture at twice the size


def test_weighted_sum_combines_any_rewards() -> None:
    combined = WeightedReward([RenderSuccessReward(), PixelMSEReward()], [1.0, 2.0])(PAIRS)
    mse = PixelMSEReward()(PAIRS)
    assert combined == pytest.approx([1.0 + 2 * m if i < 3 else 0.0 for i, m in enumerate(mse)])
    with pytest.raises(ValueError, match="2 weights for 1 rewards"):
        WeightedReward([RenderSuccessReward()], [1.0, 2.0])


def test_bad_input_is_a_typed_error() -> None:
    with pytest.raises(PairError):
        PixelMSEReward()([REFERENCE])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="max_side"):
        SSIMReward(max_side=4)


def test_ssim_batched_by_size_equals_one_pair_at_a_time() -> None:
    other_reference = bars_image([30, 30, 30], size=(80, 72))
    mixed = [*PAIRS, RewardPair(other_reference, rendered(bars_image([30, 20, 30], size=(80, 72))), "chart")]
    batched, small_batches = SSIMReward()(mixed), SSIMReward(batch_size=2)(mixed)
    one_at_a_time = [SSIMReward()([pair])[0] for pair in mixed]
    assert batched == pytest.approx(one_at_a_time, abs=1e-6)
    assert small_batches == pytest.approx(one_at_a_time, abs=1e-6)
