"""Cell locations: the grid slot of each written cell, and the words that name a cell, row or column.

Perturbation labels use these phrases ("row 'Net income', column 'FY2023'") to say where an edit happened.
"""

from __future__ import annotations

from src.data.seeds.table.spec import TableSpec, table_grid


def cell_origins(spec: TableSpec) -> dict[str, tuple[int, int]]:
    """Cell id -> (grid row, grid column) of its top-left slot."""
    origins: dict[str, tuple[int, int]] = {}
    for r, row in enumerate(table_grid(spec)):
        for c, cell in enumerate(row):
            origins.setdefault(cell.id, (r, c))
    return origins


def column_name(spec: TableSpec, col: int) -> str:
    """Header texts stacked over a grid column ("Test / Acc"), or "column N" when the header is blank there."""
    grid = table_grid(spec)
    names: list[str] = []
    for r in range(len(spec.header)):
        text = grid[r][col].text.strip()
        if text and text not in names:
            names.append(text)
    return " / ".join(names) if names else f"column {col + 1}"


def row_name(spec: TableSpec, body_row: int) -> str:
    """The stub text naming a body row; a rowspan group label is joined with the row's own stub."""
    grid = table_grid(spec)
    r = len(spec.header) + body_row
    names: list[str] = []
    for c in range(min(2, spec.n_cols)):
        cell = grid[r][c]
        text = cell.text.strip()
        if text and text not in names:
            names.append(text)
        if cell.rowspan == 1:
            break
    return " / ".join(names) if names else f"row {body_row + 1}"


def cell_location(spec: TableSpec, cell_id: str) -> str:
    """A location phrase for a cell: "row 'Net income', column 'FY2023'" or "header cell 'Q2'"."""
    r, c = cell_origins(spec)[cell_id]
    if r < len(spec.header):
        cell = table_grid(spec)[r][c]
        return f"header cell '{cell.text}'" if cell.text.strip() else f"header row {r + 1}, column {c + 1}"
    name = row_name(spec, r - len(spec.header))
    row = name if name.startswith("row ") else f"row '{name}'"  # by name: stays true when other rows move
    return f"{row}, column '{column_name(spec, c)}'"
