"""Table perturbations with exact labels, and rewrites that change the source but not the render.

Each perturbation edits a ``TableSpec`` (never the source string), so it knows what it changed; the label's location
names the row by its stub text and the column by its header ("row 'Net income', column 'FY2023'"), which stays true
when a later perturbation inserts or removes other rows. Composition rules (``touched``):

- a perturbation never edits, moves or removes a cell an earlier one changed;
- a header or stub cell is not renamed while a touched cell is located through it;
- a column or row with a changed cell is not removed or swapped, so no label ever describes a vanished element.

Categories follow the official table critique: ``layout`` (structure, spans, alignment, borders, emphasis),
``text`` (words) and ``numeric`` (numbers). Severity grows with magnitude: a number off by under 5 % is minor, by
5-25 % medium, by more severe; a typo is minor, a different word medium; a missing or duplicated row is severe.

Visibility: every kind is built so its change reaches the pixels under the seeds' CSS (e.g. an alignment change is
only applied to a column whose cells differ in width; a colspan split only where the cell is centred or ruled).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import replace

from src.data.perturb.base import EquivalenceFn, Perturbation, PerturbFn
from src.data.schema import Discrepancy
from src.data.seeds.table import (
    Align,
    HtmlVariant,
    TableCell,
    TableSpec,
    TableStyle,
    cell_location,
    cell_origins,
    column_name,
    html_source,
    markdown_source,
    row_name,
    table_grid,
)

# ---------------------------------------------------------------------------------------------------------------
# Spec editing helpers.


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


# ---------------------------------------------------------------------------------------------------------------
# Text edits.

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


# ---------------------------------------------------------------------------------------------------------------
# Row and column structure.


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


# ---------------------------------------------------------------------------------------------------------------
# Alignment, emphasis and table style.


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


TABLE_PERTURBATIONS: dict[str, PerturbFn] = {
    "cell_text": cell_text,
    "numeric_value": numeric_value,
    "header_text": header_text,
    "caption": caption,
    "missing_row": missing_row,
    "extra_row": extra_row,
    "missing_column": missing_column,
    "swapped_rows": swapped_rows,
    "swapped_columns": swapped_columns,
    "span_structure": span_structure,
    "alignment": alignment,
    "emphasis": emphasis,
    "table_style": table_style,
}

# The category each kind's labels carry: synthesis draws kinds so that categories, not kinds, are balanced
# (9 of 13 kinds are layout; drawn uniformly, numeric errors were 6% of the labels).
TABLE_KIND_CATEGORY: dict[str, str] = {
    "cell_text": "text",
    "header_text": "text",
    "caption": "text",
    "numeric_value": "numeric",
    "missing_row": "layout",
    "extra_row": "layout",
    "missing_column": "layout",
    "swapped_rows": "layout",
    "swapped_columns": "layout",
    "span_structure": "layout",
    "alignment": "layout",
    "emphasis": "layout",
    "table_style": "layout",
}

# ---------------------------------------------------------------------------------------------------------------
# Equivalences: other source for the same pixels. Markdown has no attributes or CSS, so the HTML-only rewrites
# fall back to a Markdown spelling variant (padding, outer pipes) there.


def _markdown_variant(spec: TableSpec, rng: random.Random) -> str:
    pad, outer = rng.choice([(False, True), (False, False), (True, False)])
    return markdown_source(spec, pad=pad, outer_pipes=outer)


def whitespace(spec: TableSpec, rng: random.Random) -> str:
    """Re-indent: one cell per line, or no indentation at all (HTML collapses inter-tag whitespace in tables)."""
    if spec.fmt == "markdown":
        return markdown_source(spec, pad=False)
    return html_source(spec, HtmlVariant(indent=rng.choice(["", "    ", "\t"]), cell_per_line=rng.random() < 0.7))


def markup_variant(spec: TableSpec, rng: random.Random) -> str:
    """Attribute order, quote style and optional end tags (``</td>``, ``</th>``, ``</tr>`` may be omitted)."""
    if spec.fmt == "markdown":
        return _markdown_variant(spec, rng)
    quote = rng.choice(["'", '"'])
    close_cells = quote == "'" and rng.random() < 0.5  # at least one of the two always differs from canonical
    return html_source(spec, HtmlVariant(style_first=True, quote=quote, close_cells=close_cells))


def character_references(spec: TableSpec, rng: random.Random) -> str:
    """Special characters (±, ×, –, €, $, %) written as entity or numeric references."""
    if spec.fmt == "markdown":
        return _markdown_variant(spec, rng)
    return html_source(spec, HtmlVariant(escape_chars=True))


_NAMED_COLOURS = {"#000000": "black", "#ffffff": "white", "#c00000": None, "#808080": "gray"}


def _colour_spelling(rng: random.Random) -> Callable[[str], str]:
    mode = rng.choice(["rgb", "upper", "short_or_name"])

    def spell(colour: str) -> str:
        hexa = colour.lower()
        r, g, b = (int(hexa[i : i + 2], 16) for i in (1, 3, 5))
        if mode == "rgb":
            return f"rgb({r}, {g}, {b})"
        if mode == "upper" and hexa.upper() != hexa:
            return hexa.upper()
        if _NAMED_COLOURS.get(hexa):
            return _NAMED_COLOURS[hexa]  # type: ignore[return-value]
        if all(hexa[i] == hexa[i + 1] for i in (1, 3, 5)):
            return "#" + hexa[1] + hexa[3] + hexa[5]
        return f"rgb({r},{g},{b})"

    return spell


def css_colour_notation(spec: TableSpec, rng: random.Random) -> str:
    """The same colours as ``rgb()``, upper-case hex, 3-digit hex or CSS names."""
    if spec.fmt == "markdown":
        return _markdown_variant(spec, rng)
    return html_source(spec, HtmlVariant(colour=_colour_spelling(rng)))


def explicit_default_style(spec: TableSpec, rng: random.Random) -> str:
    """Inline styles that repeat the stylesheet (``<th style="font-weight: bold; text-align: center">``)."""
    if spec.fmt == "markdown":
        return _markdown_variant(spec, rng)
    return html_source(spec, HtmlVariant(explicit_defaults=True, indent=rng.choice(["  ", " "])))


TABLE_EQUIVALENCES: dict[str, EquivalenceFn] = {
    "whitespace": whitespace,
    "markup_variant": markup_variant,
    "character_references": character_references,
    "css_colour_notation": css_colour_notation,
    "explicit_default_style": explicit_default_style,
}
