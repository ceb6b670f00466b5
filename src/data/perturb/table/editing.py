"""Helpers every table perturbation shares to edit a ``TableSpec``: rebuild it from a row list, replace a cell and mark
it touched, mint cell ids, and tell which cells name (locate) touched ones."""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.seeds.table import TableCell, TableSpec, cell_origins, table_grid


def _with_rows(spec: TableSpec, rows: list[list[TableCell]], **changes: object) -> TableSpec:
    """Rebuild ``spec`` from a combined (header + body) row list, keeping the header row count."""
    n_head = len(spec.header)
    return replace(
        spec,
        header=tuple(tuple(r) for r in rows[:n_head]),
        body=tuple(tuple(r) for r in rows[n_head:]),
        **changes,  # type: ignore[arg-type]
    )


def _rows(spec: TableSpec) -> list[list[TableCell]]:
    return [list(r) for r in spec.all_rows]


def _replace_cell(spec: TableSpec, new: TableCell, *touch: str) -> TableSpec:
    rows = [[new if c.id == new.id else c for c in row] for row in spec.all_rows]
    return _with_rows(spec, rows, touched=spec.touched | {new.id, *touch})


def _fresh_id(spec: TableSpec, rng: random.Random) -> str:
    taken = {c.id for c in spec.cells()}
    while True:
        cid = f"x{rng.randrange(10**9)}"
        if cid not in taken:
            return cid


def _locates_touched(spec: TableSpec, cell: TableCell) -> bool:
    """True when renaming ``cell`` would change the location phrase of an already-touched cell."""
    grid = table_grid(spec)
    r0, c0 = cell_origins(spec)[cell.id]
    n_head = len(spec.header)
    touched_slots = [(r, c) for r, row in enumerate(grid) for c, other in enumerate(row) if other.id in spec.touched]
    if r0 < n_head:  # a header cell names the columns below it
        cols = range(c0, c0 + cell.colspan)
        return any(c in cols and r > r0 for r, c in touched_slots)
    if c0 <= 1:  # a stub cell names the rows it spans
        rows = range(r0, r0 + cell.rowspan)
        return any(r in rows and c > c0 for r, c in touched_slots)
    return False


def _body_cells(spec: TableSpec) -> list[tuple[int, int, TableCell]]:
    """(body row, grid column, cell) for every written body cell."""
    origins = cell_origins(spec)
    n_head = len(spec.header)
    return [(origins[c.id][0] - n_head, origins[c.id][1], c) for row in spec.body for c in row]
