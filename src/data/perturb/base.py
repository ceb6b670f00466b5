"""What a perturbation returns: the changed spec and the exact discrepancies it introduced.

Seeds are structured specs (``ChartSpec``, ``TableSpec``, ``SvgSpec``) that emit source code; a perturbation edits
the spec, so it knows exactly what it changed, and the label is true by construction. Perturbations compose: the
synthesis pipeline applies several to one running spec, and each one refuses (returns ``None``) to touch an element
that an earlier one already changed or removed, recorded in the spec's ``touched`` set.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from src.data.schema import Discrepancy


@dataclass(frozen=True)
class Perturbation:
    """One applied perturbation: ``kind`` names it (``"data_value"``), ``spec`` is the changed spec."""

    kind: str
    spec: Any
    errors: tuple[Discrepancy, ...]


# (spec, rng) -> the perturbed spec and its labels, or None when the spec offers nothing this kind can change.
PerturbFn = Callable[[Any, random.Random], Perturbation | None]
# (spec, rng) -> source code that differs from the spec's own code but renders the same pixels.
EquivalenceFn = Callable[[Any, random.Random], str]
