"""Seed generators per domain: ``make_seed(rng) -> spec`` and ``source(spec) -> code``.

Each domain's module is imported only when that domain is asked for, so importing the table seeds never pulls in
the chart seeds, and one domain's module can be worked on (or be broken) without breaking the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from src.render.job import DOMAINS


@dataclass(frozen=True)
class SeedFunctions:
    """The two functions synthesis needs from a domain's seed module."""

    make_seed: Callable[[random.Random], Any]
    source: Callable[[Any], str]


SeedFamily = Literal["full", "mini"]


def seed_functions(domain: str, family: SeedFamily = "full") -> SeedFunctions:
    """The seed generator and source writer of ``domain`` (``chart``, ``table`` or ``svg``).

    ``family="mini"`` is the miniature reproduction's: plain shapes a small model can learn on a CPU (SVG only).
    """
    if family == "mini" and domain != "svg":
        raise ValueError(f"seed family 'mini' exists for svg only, not {domain!r}")
    if domain == "chart":
        from src.data.seeds.chart import chart_source, make_chart_seed

        return SeedFunctions(make_chart_seed, chart_source)
    if domain == "table":
        from src.data.seeds.table import make_table_seed, table_source

        return SeedFunctions(make_table_seed, table_source)
    if domain == "svg":
        from src.data.seeds.svg import make_mini_svg_seed, make_svg_seed, svg_source

        return SeedFunctions(make_mini_svg_seed if family == "mini" else make_svg_seed, svg_source)
    raise ValueError(f"domain {domain!r} is not one of {DOMAINS}")
