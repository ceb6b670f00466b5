"""Seed generation for the full family: the mix of icons and diagrams (``make_svg_seed``)."""

from __future__ import annotations

import random

from src.data.seeds.svg.diagrams import _make_flowchart, _make_org_chart
from src.data.seeds.svg.icons import _make_icon
from src.data.seeds.svg.spec import SvgSpec


def make_svg_seed(rng: random.Random) -> SvgSpec:
    """An icon (about three in four) or a small diagram, drawn from ``rng``."""
    draw = rng.random()
    if draw < 0.75:
        return _make_icon(rng)
    return _make_flowchart(rng) if draw < 0.9 else _make_org_chart(rng)
