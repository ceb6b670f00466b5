"""What a table seed is: cells, a style and the table spec, plus the span grid that checks a spec is well-formed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Align = Literal["left", "center", "right"]
TableFormat = Literal["html", "markdown"]
BorderScheme = Literal["grid", "horizontal", "booktabs", "outer"]


@dataclass(frozen=True)
class TableCell:
    """One cell as written in the source; ``id`` is stable across perturbations so ``touched`` can name it."""

    id: str
    text: str
    kind: Literal["text", "number"] = "text"
    rowspan: int = 1
    colspan: int = 1
    bold: bool = False
    italic: bool = False
    align: Align | None = None  # None: the column's alignment (body) or the header default (centre)

    def __post_init__(self) -> None:
        if self.rowspan < 1 or self.colspan < 1:
            raise ValueError(f"cell {self.id!r}: rowspan and colspan must be >= 1, got {self.rowspan}/{self.colspan}")


@dataclass(frozen=True)
class TableStyle:
    """The CSS knobs a seed varies; colours are lower-case ``#rrggbb`` so equivalences can rewrite them."""

    border: BorderScheme = "grid"
    border_color: str = "#999999"
    header_bg: str | None = "#e8eef7"
    stripe_bg: str | None = None
    font_family: str = "Arial, Helvetica, sans-serif"
    font_size_px: int = 14
    text_color: str = "#222222"


@dataclass(frozen=True)
class TableSpec:
    """A whole table. ``header`` and ``body`` hold rows as written: cells covered by a span are absent."""

    header: tuple[tuple[TableCell, ...], ...]
    body: tuple[tuple[TableCell, ...], ...]
    align: tuple[Align, ...]  # one per grid column
    col_ids: tuple[str, ...]  # stable ids of grid columns, for ``touched``
    caption: str | None = None
    footnote: str | None = None
    style: TableStyle = field(default_factory=TableStyle)
    fmt: TableFormat = "html"
    full_document: bool = False
    touched: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.fmt not in ("html", "markdown"):
            raise ValueError(f"fmt: {self.fmt!r} is not 'html' or 'markdown'")
        if len(self.align) != len(self.col_ids):
            raise ValueError(f"align has {len(self.align)} entries but col_ids has {len(self.col_ids)}")
        grid = table_grid(self)  # raises on rows that do not tile the columns
        if any(len(row) != len(self.align) for row in grid):
            raise ValueError("every grid row must cover exactly len(align) columns")
        spanned = any(c.rowspan > 1 or c.colspan > 1 for row in self.all_rows for c in row)
        if self.fmt == "markdown" and (len(self.header) != 1 or spanned):
            raise ValueError("markdown tables have exactly one header row and no spans")

    @property
    def all_rows(self) -> tuple[tuple[TableCell, ...], ...]:
        return self.header + self.body

    @property
    def n_cols(self) -> int:
        return len(self.align)

    def cells(self) -> list[TableCell]:
        return [c for row in self.all_rows for c in row]


# Grid geometry: where every written cell lands once spans are applied. It lives with the spec because
# ``TableSpec.__post_init__`` validates every spec through it.


def table_grid(spec: TableSpec) -> list[list[TableCell]]:
    """The grid of (header + body) rows: ``grid[r][c]`` is the cell covering that slot.

    Raises ``ValueError`` when spans overlap or a row leaves holes, so a malformed perturbation fails loudly.
    """
    rows = spec.all_rows
    n_cols = len(spec.align)
    grid: list[list[TableCell | None]] = [[None] * n_cols for _ in rows]
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while c < n_cols and grid[r][c] is not None:
                c += 1
            if c + cell.colspan > n_cols or r + cell.rowspan > len(rows):
                raise ValueError(f"cell {cell.id!r} ({cell.text!r}) spans past the table edge")
            for dr in range(cell.rowspan):
                for dc in range(cell.colspan):
                    if grid[r + dr][c + dc] is not None:
                        raise ValueError(f"cell {cell.id!r} overlaps another cell")
                    grid[r + dr][c + dc] = cell
            c += cell.colspan
    for r, row_slots in enumerate(grid):
        if any(slot is None for slot in row_slots):
            raise ValueError(f"row {r} leaves empty grid slots")
    return grid  # type: ignore[return-value]
