"""Perturbations, their categories and equivalence rewrites per domain, see ``base.py`` for the contract.

Each domain's module (packages ``chart`` and ``table``, module ``svg``) exports ``<DOMAIN>_PERTURBATIONS``,
``<DOMAIN>_KIND_CATEGORY`` and ``<DOMAIN>_EQUIVALENCES``. It is imported only when that domain is asked for, for
the same reason as ``src.data.seeds``.
"""

from __future__ import annotations

import importlib
from typing import Any

from src.data.perturb.base import EquivalenceFn, PerturbFn
from src.render.job import DOMAINS


def _domain_table(domain: str, name: str) -> Any:
    if domain not in DOMAINS:
        raise ValueError(f"domain {domain!r} is not one of {DOMAINS}")
    return getattr(importlib.import_module(f"src.data.perturb.{domain}"), f"{domain.upper()}_{name}")


def perturbations(domain: str) -> dict[str, PerturbFn]:
    """Label-carrying perturbations of ``domain``, by kind name."""
    return _domain_table(domain, "PERTURBATIONS")


def kind_categories(domain: str) -> dict[str, str]:
    """The category each perturbation kind of ``domain`` labels (its main one), for category-balanced drawing."""
    return _domain_table(domain, "KIND_CATEGORY")


def equivalences(domain: str) -> dict[str, EquivalenceFn]:
    """Rewrites of ``domain`` that change the code but not the pixels, by name."""
    return _domain_table(domain, "EQUIVALENCES")
