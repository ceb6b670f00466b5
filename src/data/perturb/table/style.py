"""Layout perturbations of how the table looks: a column's alignment, a cell's bold or italic, and the table's
ruling, header shading or typeface."""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.perturb.base import Perturbation
from src.data.perturb.table.editing import _body_cells, _replace_cell
from src.data.schema import Discrepancy
from src.data.seeds.table import Align, TableSpec, TableStyle, cell_location, column_name, table_grid


def alignment(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Re-align a column whose cells differ in width, so the change shows (minor layout)."""
    grid = table_grid(spec)
    n_head = len(spec.header)
    candidates = []
    for col in range(spec.n_cols):
        if spec.col_ids[col] in spec.touched:
            continue
        single = [(r, grid[r][col]) for r in range(len(grid)) if grid[r][col].colspan == 1]
        # HTML header cells keep the stylesheet's centring; Markdown aligns the header with its column.
        movable = [c for r, c in single if spec.fmt == "markdown" or (r >= n_head and c.align is None)]
        if not movable:
            continue
        widest = max(len(c.text) for _, c in single)
        if min(len(c.text) for c in movable) <= widest - 2:
            candidates.append(col)
    if not candidates:
        return None
    col = rng.choice(candidates)
    aligns: tuple[Align, ...] = ("left", "center", "right")
    new = rng.choice([a for a in aligns if a != spec.align[col]])
    align = spec.align[:col] + (new,) + spec.align[col + 1 :]
    name = column_name(spec, col)
    return Perturbation(
        "alignment",
        replace(spec, align=align, touched=spec.touched | {spec.col_ids[col]}),
        (
            Discrepancy(
                "layout", 1, f"column '{name}'", f"cells are {new}-aligned instead of {spec.align[col]}-aligned"
            ),
        ),
    )


def emphasis(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Toggle bold or italic on one body cell (minor: in results tables bold marks the best score)."""
    candidates = [cell for _, _, cell in _body_cells(spec) if cell.text.strip() and cell.id not in spec.touched]
    if not candidates:
        return None
    cell = rng.choice(candidates)
    attr = "bold" if rng.random() < 0.7 else "italic"
    now = not getattr(cell, attr)
    state = f"{'set in' if now else 'not'} {attr}" + ("" if now else f" (reference is {attr})")
    return Perturbation(
        "emphasis",
        _replace_cell(spec, replace(cell, bold=now) if attr == "bold" else replace(cell, italic=now)),
        (Discrepancy("layout", 1, cell_location(spec, cell.id), f"cell '{cell.text}' is {state}"),),
    )


_HEADER_SHADES = ["#e8eef7", "#f2f2f2", "#dbe9d8", "#fde9d9", "#d9e2f3", "#fff2cc", "#333f50", "#c00000"]


def _channel_gap(a: str, b: str) -> int:
    """Largest per-channel difference of two ``#rrggbb`` colours (what a pixel comparison sees)."""
    return max(abs(int(a[i : i + 2], 16) - int(b[i : i + 2], 16)) for i in (1, 3, 5))


def table_style(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Change the ruling, header shading or typeface (HTML only; minor layout unless the ruling changes)."""
    if spec.fmt != "html" or "style" in spec.touched:
        return None
    style = spec.style
    options: list[tuple[TableStyle, int, str, str]] = []
    for border in ("grid", "horizontal", "booktabs", "outer"):
        if border != style.border:
            options.append(
                (replace(style, border=border), 2, "table borders", f"{border} rules instead of {style.border} rules")
            )
    for bg in _HEADER_SHADES:
        if _channel_gap(bg, style.header_bg or "#ffffff") >= 32:  # the pipeline ignores differences under 16
            was = style.header_bg or "no"
            options.append((replace(style, header_bg=bg), 1, "header row", f"header background {bg} instead of {was}"))
    serif = "serif" in style.font_family and "sans-serif" not in style.font_family
    other_font = "Arial, Helvetica, sans-serif" if serif else "Georgia, 'Times New Roman', serif"
    options.append(
        (replace(style, font_family=other_font), 1, "whole table", f"{'sans-serif' if serif else 'serif'} typeface")
    )
    new_style, severity, where, description = rng.choice(options)
    return Perturbation(
        "table_style",
        replace(spec, style=new_style, touched=spec.touched | {"style"}),
        (Discrepancy("layout", severity, where, description),),
    )
