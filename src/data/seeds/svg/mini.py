"""The miniature seed family: plain shapes small enough for the CPU reproduction (``make_mini_svg_seed``)."""

from __future__ import annotations

import random

from src.data.seeds.svg.build import _circle, _Ids, _rect
from src.data.seeds.svg.spec import SvgElement, SvgSpec

# The miniature family (``--seed-family mini``): one or two plain shapes on a 128 px canvas, small enough that a model
# of a few million parameters learns to see and to write them on a CPU within minutes (the main job's reproduction).
# 128 px is a 4×4 grid of Qwen3-VL image tokens (32 px each); a 3×3 grid of centres keeps any two shapes apart.
MINI_CANVAS = 128
MINI_CENTRES = (28, 64, 100)
MINI_RADII = (14, 22)
MINI_COLOURS = ("#eb5757", "#27ae60", "#2f80ed", "#f2994a", "#9b51e0", "#333333")
MINI_CELLS = tuple((x, y) for y in MINI_CENTRES for x in MINI_CENTRES)


def make_mini_svg_seed(rng: random.Random) -> SvgSpec:
    """One or two circles or squares, each with its own colour, size and cell of a 3×3 grid."""
    i = _Ids()
    cells = rng.sample(list(MINI_CELLS), rng.choice((1, 2)))
    elements: list[SvgElement] = []
    for cx, cy in cells:
        r, colour = rng.choice(MINI_RADII), rng.choice(MINI_COLOURS)
        if rng.random() < 0.5:
            elements.append(_circle(i, "circle", cx, cy, r, colour))
        else:
            elements.append(_rect(i, "square", cx - r, cy - r, 2 * r, 2 * r, colour))
    return SvgSpec("shapes", (0, 0, MINI_CANVAS, MINI_CANVAS), tuple(elements), (), MINI_CANVAS, MINI_CANVAS)
