"""Layout perturbations of the table's structure: rows and columns missing, duplicated or swapped, and merged cells
split; each keeps rowspans and colspans consistent so the result is still a valid grid."""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.perturb.base import Perturbation
from src.data.perturb.table.editing import _fresh_id, _locates_touched, _rows, _with_rows
from src.data.schema import Discrepancy
from src.data.seeds.table import TableCell, TableSpec, cell_location, cell_origins, column_name, row_name, table_grid


def _row_cell_ids(spec: TableSpec, body_row: int) -> set[str]:
    grid = table_grid(spec)
    return {c.id for c in grid[len(spec.header) + body_row]}


def missing_row(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Drop a body row (severe: its values are gone). Rowspan groups above it shrink by one."""
    if len(spec.body) < 3:
        return None
    grid = table_grid(spec)
    n_head = len(spec.header)
    candidates = []
    for b in range(len(spec.body)):
        r = n_head + b
        own = {c.id for c in spec.body[b]}
        if own & spec.touched or any(c.rowspan > 1 for c in spec.body[b]):
            continue
        covering = {c.id: c for c in grid[r] if c.id not in own}
        if any(cid in spec.touched for cid in covering):
            continue
        candidates.append((b, covering))
    if not candidates:
        return None
    b, covering = rng.choice(candidates)
    name = row_name(spec, b)
    location = f"row '{name}'" if not name.startswith("row ") else name
    rows = _rows(spec)
    del rows[n_head + b]
    rows = [[replace(c, rowspan=c.rowspan - 1) if c.id in covering else c for c in row] for row in rows]
    return Perturbation(
        "missing_row",
        _with_rows(spec, rows),
        (Discrepancy("layout", 3, location, f"row '{name}' is missing with all its values"),),
    )


def extra_row(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Duplicate a body row right below itself (severe: a spurious record); rowspan groups grow by one."""
    grid = table_grid(spec)
    n_head = len(spec.header)
    candidates = [b for b in range(len(spec.body)) if all(c.rowspan == 1 for c in spec.body[b]) and spec.body[b]]
    if not candidates:
        return None
    b = rng.choice(candidates)
    own = {c.id for c in spec.body[b]}
    covering = {c.id for c in grid[n_head + b] if c.id not in own}
    copies = [replace(c, id=_fresh_id(spec, rng)) for c in spec.body[b]]
    rows = _rows(spec)
    rows.insert(n_head + b + 1, copies)
    rows = [[replace(c, rowspan=c.rowspan + 1) if c.id in covering else c for c in row] for row in rows]
    name = row_name(spec, b)
    return Perturbation(
        "extra_row",
        _with_rows(spec, rows, touched=spec.touched | {c.id for c in copies}),
        (Discrepancy("layout", 3, f"below row '{name}'", f"row '{name}' appears twice (a spurious duplicate row)"),),
    )


def missing_column(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Drop a non-stub grid column (severe); column-group headers over it lose one column of span."""
    if spec.n_cols < 3:
        return None
    grid = table_grid(spec)
    candidates = []
    for col in range(1, spec.n_cols):
        removed = {grid[r][col].id for r in range(len(grid)) if grid[r][col].colspan == 1}
        shrunk = {grid[r][col].id for r in range(len(grid)) if grid[r][col].colspan > 1}
        if removed & spec.touched or shrunk & spec.touched or spec.col_ids[col] in spec.touched:
            continue
        candidates.append((col, removed, shrunk))
    if not candidates:
        return None
    col, removed, shrunk = rng.choice(candidates)
    name = column_name(spec, col)
    rows = [
        [replace(c, colspan=c.colspan - 1) if c.id in shrunk else c for c in row if c.id not in removed]
        for row in spec.all_rows
    ]
    align = spec.align[:col] + spec.align[col + 1 :]
    col_ids = spec.col_ids[:col] + spec.col_ids[col + 1 :]
    return Perturbation(
        "missing_column",
        _with_rows(spec, rows, align=align, col_ids=col_ids),
        (Discrepancy("layout", 3, f"column '{name}'", f"column '{name}' is missing with all its values"),),
    )


def swapped_columns(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Swap two adjacent non-stub columns (medium: values sit under the wrong header)."""
    grid = table_grid(spec)
    origins = cell_origins(spec)
    candidates = []
    for col in range(1, spec.n_cols - 1):
        if {spec.col_ids[col], spec.col_ids[col + 1]} & spec.touched:
            continue
        swaps: dict[str, str] = {}
        ok = True
        for r in range(len(grid)):
            a, b = grid[r][col], grid[r][col + 1]
            if a.id == b.id:
                continue
            if (
                a.colspan != 1
                or b.colspan != 1
                or a.rowspan != b.rowspan
                or origins[a.id][0] != origins[b.id][0]
                or {a.id, b.id} & spec.touched
            ):
                ok = False
                break
            swaps[a.id], swaps[b.id] = b.id, a.id
        texts_differ = any(grid[r][col].text != grid[r][col + 1].text for r in range(len(grid)))
        if ok and swaps and texts_differ:
            candidates.append((col, swaps))
    if not candidates:
        return None
    col, swaps = rng.choice(candidates)
    a_name, b_name = column_name(spec, col), column_name(spec, col + 1)
    by_id = {c.id: c for c in spec.cells()}
    rows = [[by_id[swaps[c.id]] if c.id in swaps else c for c in row] for row in spec.all_rows]
    align = list(spec.align)
    align[col], align[col + 1] = align[col + 1], align[col]
    col_ids = list(spec.col_ids)
    col_ids[col], col_ids[col + 1] = col_ids[col + 1], col_ids[col]
    return Perturbation(
        "swapped_columns",
        _with_rows(
            spec,
            rows,
            align=tuple(align),
            col_ids=tuple(col_ids),
            touched=spec.touched | {spec.col_ids[col], spec.col_ids[col + 1]} | set(swaps),
        ),
        (Discrepancy("layout", 2, f"columns '{a_name}' and '{b_name}'", "the two columns are in swapped order"),),
    )


def swapped_rows(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Swap two adjacent body rows (medium: the order of records is wrong)."""
    grid = table_grid(spec)
    origins = cell_origins(spec)
    n_head = len(spec.header)
    candidates = []
    for b in range(len(spec.body) - 1):
        r = n_head + b
        ok = True
        for col in range(spec.n_cols):
            x, y = grid[r][col], grid[r + 1][col]
            if x.id == y.id:
                ok = ok and origins[x.id][0] < r
            else:
                ok = ok and x.rowspan == 1 and y.rowspan == 1 and origins[x.id][0] == r and origins[y.id][0] == r + 1
            ok = ok and not ({x.id, y.id} & spec.touched)
        if ok and [c.text for c in grid[r]] != [c.text for c in grid[r + 1]]:
            candidates.append(b)
    if not candidates:
        return None
    b = rng.choice(candidates)
    a_name, b_name = row_name(spec, b), row_name(spec, b + 1)
    rows = _rows(spec)
    rows[n_head + b], rows[n_head + b + 1] = rows[n_head + b + 1], rows[n_head + b]
    ids = {c.id for c in spec.body[b]} | {c.id for c in spec.body[b + 1]}
    return Perturbation(
        "swapped_rows",
        _with_rows(spec, rows, touched=spec.touched | ids),
        (Discrepancy("layout", 2, f"rows '{a_name}' and '{b_name}'", "the two rows appear in swapped order"),),
    )


def span_structure(spec: TableSpec, rng: random.Random) -> Perturbation | None:
    """Split a merged cell: its span becomes 1 and the freed slots become empty cells (medium)."""
    origins = cell_origins(spec)
    n_head = len(spec.header)
    candidates = []
    for row in spec.all_rows:
        for c in row:
            if c.id in spec.touched or _locates_touched(spec, c):
                continue
            if c.rowspan > 1:
                candidates.append((c, "row"))
            # A left-aligned colspan cell between unruled columns would render the same once split.
            is_header = origins[c.id][0] < n_head
            centred = (c.align or ("center" if is_header else spec.align[origins[c.id][1]])) != "left"
            if c.colspan > 1 and (centred or spec.style.border == "grid"):
                candidates.append((c, "col"))
    if not candidates:
        return None
    cell, axis = rng.choice(candidates)
    r0, c0 = origins[cell.id]
    rows = _rows(spec)
    new_ids: set[str] = set()

    def empty(**kw: int) -> TableCell:
        cid = _fresh_id(spec, rng)
        while cid in new_ids:
            cid = _fresh_id(spec, rng)
        new_ids.add(cid)
        return TableCell(id=cid, text="", **kw)  # type: ignore[arg-type]

    where = cell_location(spec, cell.id)
    if axis == "col":
        i = rows[r0].index(cell)
        rows[r0][i] = replace(cell, colspan=1)
        rows[r0][i + 1 : i + 1] = [empty(rowspan=cell.rowspan) for _ in range(cell.colspan - 1)]
        description = f"cell '{cell.text}' spans 1 column instead of {cell.colspan}; the rest are separate empty cells"
    else:
        i = rows[r0].index(cell)
        rows[r0][i] = replace(cell, rowspan=1)
        for r in range(r0 + 1, r0 + cell.rowspan):
            at = sum(1 for c in rows[r] if origins[c.id][1] < c0)
            rows[r].insert(at, empty(colspan=cell.colspan))
        description = f"cell '{cell.text}' spans 1 row instead of {cell.rowspan}; the rows below get empty cells"
    return Perturbation(
        "span_structure",
        _with_rows(spec, rows, touched=spec.touched | {cell.id} | new_ids),
        (Discrepancy("layout", 2, where, description),),
    )
