"""Perturbations and equivalence rewrites per domain (name → function), see ``base.py`` for the contract.

Each domain's table is imported only when that domain is asked for, for the same reason as ``src.data.seeds``.
"""

from __future__ import annotations

from src.data.perturb.base import EquivalenceFn, PerturbFn
from src.render.job import DOMAINS


def perturbations(domain: str) -> dict[str, PerturbFn]:
    """Label-carrying perturbations of ``domain``, by kind name."""
    if domain == "chart":
        from src.data.perturb.chart import CHART_PERTURBATIONS

        return CHART_PERTURBATIONS
    if domain == "table":
        from src.data.perturb.table import TABLE_PERTURBATIONS

        return TABLE_PERTURBATIONS
    if domain == "svg":
        from src.data.perturb.svg import SVG_PERTURBATIONS

        return SVG_PERTURBATIONS
    raise ValueError(f"domain {domain!r} is not one of {DOMAINS}")


def kind_categories(domain: str) -> dict[str, str]:
    """The category each perturbation kind of ``domain`` labels (its main one), for category-balanced drawing."""
    if domain == "chart":
        from src.data.perturb.chart import CHART_KIND_CATEGORY

        return CHART_KIND_CATEGORY
    if domain == "table":
        from src.data.perturb.table import TABLE_KIND_CATEGORY

        return TABLE_KIND_CATEGORY
    if domain == "svg":
        from src.data.perturb.svg import SVG_KIND_CATEGORY

        return SVG_KIND_CATEGORY
    raise ValueError(f"domain {domain!r} is not one of {DOMAINS}")


def equivalences(domain: str) -> dict[str, EquivalenceFn]:
    """Rewrites of ``domain`` that change the code but not the pixels, by name."""
    if domain == "chart":
        from src.data.perturb.chart import CHART_EQUIVALENCES

        return CHART_EQUIVALENCES
    if domain == "table":
        from src.data.perturb.table import TABLE_EQUIVALENCES

        return TABLE_EQUIVALENCES
    if domain == "svg":
        from src.data.perturb.svg import SVG_EQUIVALENCES

        return SVG_EQUIVALENCES
    raise ValueError(f"domain {domain!r} is not one of {DOMAINS}")
