"""Perturbations labelled ``numeric``: one number changed, written with the original's decimals and separators and
graded by its relative error."""

from __future__ import annotations

import random
import re
from dataclasses import replace

from src.data.perturb.base import Perturbation
from src.data.perturb.table.editing import _body_cells, _replace_cell
from src.data.schema import Discrepancy
from src.data.seeds.table import TableSpec, cell_location

_NUMBER = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")


def _rewrite_number(token: str, value: float) -> str:
    """``value`` written like ``token``: same decimals, thousands separators when the token had them."""
    decimals = len(token.split(".")[1]) if "." in token else 0
    return format(value, f"{',' if ',' in token else ''}.{decimals}f")


def _numeric_severity(old: float, new: float) -> int:
    rel = abs(new - old) / max(abs(old), 1e-9)
    return 1 if rel < 0.05 else 2 if rel <= 0.25 else 3


def numeric_value(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Change the first number of a numeric cell; severity by relative error (<5 % minor, ≤25 % medium, else severe)."""
    candidates = [cell for _, _, cell in _body_cells(spec) if cell.kind == "number" and cell.id not in spec.touched]
    candidates = [cell for cell in candidates if _NUMBER.search(cell.text)]
    if not candidates:
        return None
    cell = rng.choice(candidates)
    m = _NUMBER.search(cell.text)
    assert m is not None
    token = m.group()
    old = float(token.replace(",", ""))
    band = rng.choice([(0.01, 0.04), (0.08, 0.22), (0.35, 0.8)])
    new = old * (1 + rng.choice([-1, 1]) * rng.uniform(*band)) if old else rng.uniform(1, 9)
    new_token = _rewrite_number(token, abs(new))
    if new_token == token:  # too small a change to show at this precision: move the last digit
        step = 10 ** -(len(token.split(".")[1]) if "." in token else 0)
        new_token = _rewrite_number(token, old + step)
    new_value = float(new_token.replace(",", ""))
    new_text = cell.text[: m.start()] + new_token + cell.text[m.end() :]
    severity = _numeric_severity(old, new_value)
    change = f"{(new_value - old) / abs(old):+.0%}" if old else "was zero"
    return Perturbation(
        "numeric_value",
        _replace_cell(spec, replace(cell, text=new_text)),
        (
            Discrepancy(
                "numeric",
                severity,
                cell_location(spec, cell.id),
                f"value {new_token} instead of {token} ({change})",
            ),
        ),
    )
