"""CIEDE2000 colour difference (Sharma, Wu & Dalal 2005) and the colour similarity ChartMimic builds on it.

Why our own ~40 lines instead of a dependency: scikit-image (``deltaE_ciede2000``) or a colour-science package is
a large install for one formula, and the formula is pinned by the published test vectors (tests check Sharma et
al.'s pairs to 4 decimals). sRGB → CIELAB uses the D65 white point and the sRGB transfer curve, as both packages do.
"""

from __future__ import annotations

import math

_D65 = (0.95047, 1.0, 1.08883)


def hex_to_lab(colour: str) -> tuple[float, float, float]:
    """``#rrggbb`` → CIELAB (D65). Raises ``ValueError`` for anything else."""
    if not (isinstance(colour, str) and len(colour) == 7 and colour[0] == "#"):
        raise ValueError(f"colour: expected '#rrggbb', got {colour!r:.20}")
    r, g, b = (int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5))
    return srgb_to_lab(r, g, b)


def srgb_to_lab(r: float, g: float, b: float) -> tuple[float, float, float]:
    """sRGB components in [0, 1] → CIELAB (D65, 2° observer)."""

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    rl, gl, bl = linear(r), linear(g), linear(b)
    x = (0.4124564 * rl + 0.3575761 * gl + 0.1804375 * bl) / _D65[0]
    y = (0.2126729 * rl + 0.7151522 * gl + 0.0721750 * bl) / _D65[1]
    z = (0.0193339 * rl + 0.1191920 * gl + 0.9503041 * bl) / _D65[2]

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = f(x), f(y), f(z)
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def ciede2000(lab1: tuple[float, float, float], lab2: tuple[float, float, float]) -> float:
    """ΔE00 between two CIELAB colours (k_L = k_C = k_H = 1)."""
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0

    dl = l2 - l1
    dc = c2p - c1p
    if c1p * c2p == 0:
        dh = 0.0
    elif abs(h2p - h1p) <= 180:
        dh = h2p - h1p
    else:
        dh = h2p - h1p - 360 if h2p > h1p else h2p - h1p + 360
    dh_big = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))

    l_bar = (l1 + l2) / 2
    c_bar_p = (c1p + c2p) / 2
    if c1p * c2p == 0:
        h_bar = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        h_bar = (h1p + h2p) / 2
    else:
        h_bar = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(h_bar - 30))
        + 0.24 * math.cos(math.radians(2 * h_bar))
        + 0.32 * math.cos(math.radians(3 * h_bar + 6))
        - 0.20 * math.cos(math.radians(4 * h_bar - 63))
    )
    d_theta = 30 * math.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * math.sqrt(c_bar_p**7 / (c_bar_p**7 + 25**7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / math.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar_p
    s_h = 1 + 0.015 * c_bar_p * t
    r_t = -math.sin(math.radians(2 * d_theta)) * r_c
    return math.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (dh_big / s_h) ** 2 + r_t * (dc / s_c) * (dh_big / s_h))


def colour_similarity(colour1: str, colour2: str) -> float:
    """max(0, 1 − ΔE00 / 100) of two ``#rrggbb`` colours: 1 for identical, 0 for black against white (ΔE00 = 100)."""
    return max(0.0, 1.0 - ciede2000(hex_to_lab(colour1), hex_to_lab(colour2)) / 100.0)
