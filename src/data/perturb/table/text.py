"""Perturbations labelled ``text``: a typo or other words in a body cell, a header cell or the caption."""

from __future__ import annotations

import random
import re
from dataclasses import replace

from src.data.perturb.base import Perturbation
from src.data.perturb.table.editing import _body_cells, _locates_touched, _replace_cell
from src.data.schema import Discrepancy
from src.data.seeds.table import TableSpec, cell_location

_SUBSTITUTES = {
    "Revenue": "Net sales",
    "Cost of revenue": "Cost of sales",
    "Gross profit": "Gross margin",
    "Operating income": "Operating profit",
    "Net income": "Net profit",
    "Income tax": "Deferred tax",
    "Validation": "Dev",
    "Test": "Eval",
    "Model": "Method",
    "Dataset": "Corpus",
    "Modality": "Domain",
    "Classes": "Labels",
    "Speaker": "Chair",
    "Room": "Venue",
    "Session": "Event",
    "Price": "Cost",
    "Weight": "Mass",
    "Display": "Screen",
    "Battery": "Capacity",
    "Total": "Sum",
    "Region": "Market",
    "Product": "Category",
    "Specification": "Feature",
    "Images": "Video",
    "Text": "Speech",
    "Keynote": "Opening talk",
}


def _typo(text: str, rng: random.Random) -> str | None:
    """A one-letter slip inside a word of four or more letters (swap, drop or double)."""
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", text)]
    if not words:
        return None
    m = rng.choice(words)
    word = m.group()
    i = rng.randrange(1, len(word) - 1)
    mode = rng.choice(["swap", "drop", "double"])
    if mode == "swap" and word[i] != word[i + 1]:
        new = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    elif mode == "double":
        new = word[: i + 1] + word[i] + word[i + 1 :]
    else:
        new = word[:i] + word[i + 1 :]
    return text[: m.start()] + new + text[m.end() :]


def _reworded(text: str, rng: random.Random, same_column: list[str]) -> str | None:
    """A different word for the same slot: a synonym-like substitute, another value of the column, or a truncation."""
    options = []
    if text in _SUBSTITUTES:
        options.append(_SUBSTITUTES[text])
    others = sorted({t for t in same_column if t.strip() and t != text})
    if others:
        options.append(rng.choice(others))
    words = text.split()
    if len(words) >= 2:
        options.append(" ".join(words[:-1]))
    digits = re.search(r"\d", text)
    if digits and not options:
        d = int(digits.group())
        options.append(text[: digits.start()] + str((d + rng.choice([1, 2])) % 10) + text[digits.end() :])
    return rng.choice(options) if options else None


def cell_text(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Change the words of one body text cell: a typo (minor) or a different word (medium)."""
    grid_cols: dict[int, list[str]] = {}
    body = _body_cells(spec)
    for _, c, cell in body:
        grid_cols.setdefault(c, []).append(cell.text)
    candidates = [
        (c, cell)
        for _, c, cell in body
        if cell.kind == "text" and re.search(r"[A-Za-z]", cell.text) and cell.id not in spec.touched
    ]
    candidates = [(c, cell) for c, cell in candidates if not _locates_touched(spec, cell)]
    rng.shuffle(candidates)
    for c, cell in candidates:
        typo = rng.random() < 0.4
        new_text = _typo(cell.text, rng) if typo else _reworded(cell.text, rng, grid_cols[c])
        if new_text is None or new_text == cell.text or not new_text.strip():
            continue
        where = cell_location(spec, cell.id)
        severity = 1 if typo else 2
        what = "misspelled" if typo else "different text"
        return Perturbation(
            "cell_text",
            _replace_cell(spec, replace(cell, text=new_text)),
            (Discrepancy("text", severity, where, f"cell reads '{new_text}' instead of '{cell.text}' ({what})"),),
        )
    return None


def header_text(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Rename a header cell: a typo (minor) or another term (medium, the column now means something else)."""
    candidates = [
        c for row in spec.header for c in row if re.search(r"[A-Za-z0-9]", c.text) and c.id not in spec.touched
    ]
    candidates = [c for c in candidates if not _locates_touched(spec, c)]
    rng.shuffle(candidates)
    siblings = [c.text for row in spec.header for c in row]
    for cell in candidates:
        typo = rng.random() < 0.35
        new_text = _typo(cell.text, rng) if typo else _reworded(cell.text, rng, siblings)
        if new_text is None or new_text == cell.text or not new_text.strip():
            continue
        return Perturbation(
            "header_text",
            _replace_cell(spec, replace(cell, text=new_text)),
            (
                Discrepancy(
                    "text",
                    1 if typo else 2,
                    f"header cell '{cell.text}'",
                    f"header reads '{new_text}' instead of '{cell.text}'",
                ),
            ),
        )
    return None


def caption(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Reword or drop the caption (HTML only: Markdown tables have none)."""
    if not spec.caption or "caption" in spec.touched:
        return None
    touched = spec.touched | {"caption"}
    if rng.random() < 0.4:
        return Perturbation(
            "caption",
            replace(spec, caption=None, touched=touched),
            (Discrepancy("text", 2, "caption above the table", f"caption '{spec.caption}' is missing"),),
        )
    typo = rng.random() < 0.5
    new = _typo(spec.caption, rng) if typo else _reworded(spec.caption, rng, [])
    if not new or new == spec.caption:
        return None
    return Perturbation(
        "caption",
        replace(spec, caption=new, touched=touched),
        (Discrepancy("text", 1 if typo else 2, "caption above the table", f"caption reads '{new}'"),),
    )
