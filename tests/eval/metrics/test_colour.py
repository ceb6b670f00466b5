"""CIEDE2000 against Sharma, Wu & Dalal's published test pairs, and the similarity built on it."""

from __future__ import annotations

import pytest

from src.eval.metrics.colour import ciede2000, colour_similarity, hex_to_lab

# (Lab 1, Lab 2, ΔE00) from Sharma et al. 2005, Table 1: hue wrap-around, neutral colours, large differences.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.5, 0.0), (50.0, 0.0, -2.5), 4.3065),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA_PAIRS)
def test_ciede2000_matches_published_pairs_both_ways(lab1, lab2, expected) -> None:
    assert ciede2000(lab1, lab2) == pytest.approx(expected, abs=1e-4)
    assert ciede2000(lab2, lab1) == pytest.approx(expected, abs=1e-4)


def test_srgb_to_lab_and_similarity() -> None:
    assert hex_to_lab("#ffffff") == pytest.approx((100.0, 0.0, 0.0), abs=1e-3)
    assert hex_to_lab("#000000") == pytest.approx((0.0, 0.0, 0.0), abs=1e-6)
    assert colour_similarity("#1f77b4", "#1f77b4") == 1.0
    assert colour_similarity("#000000", "#ffffff") == 0.0  # ΔE00 = 100
    near, far = colour_similarity("#ff0000", "#f00000"), colour_similarity("#ff0000", "#0000ff")
    assert 0.9 < near < 1.0 and far < near
    with pytest.raises(ValueError, match="#rrggbb"):
        hex_to_lab("red")
