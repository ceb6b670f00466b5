"""Markdown emission: a spec as a GFM pipe table (``markdown_source``); no spans, captions or CSS."""

from __future__ import annotations

from src.data.seeds.table.spec import Align, TableCell, TableSpec


def markdown_cell_text(cell: TableCell) -> str:
    text = cell.text.replace("|", "\\|")
    if not text.strip():
        return ""
    if cell.bold and cell.italic:
        return f"***{text}***"
    if cell.bold:
        return f"**{text}**"
    if cell.italic:
        return f"*{text}*"
    return text


def markdown_delimiter(align: Align, width: int) -> str:
    width = max(width, 3)
    if align == "left":
        return ":" + "-" * (width - 1)
    if align == "right":
        return "-" * (width - 1) + ":"
    return ":" + "-" * (width - 2) + ":"


def markdown_source(spec: TableSpec, pad: bool = True, outer_pipes: bool = True) -> str:
    """A GFM pipe table; ``pad`` aligns the pipes in columns (whitespace only, no effect on the render).

    ``outer_pipes=False`` is ignored when a row starts or ends with an empty cell: without the outer pipe GFM reads
    `` | FY2021 | FY2022`` as a row with one cell fewer.
    """
    rows = [[markdown_cell_text(c) for c in row] for row in spec.all_rows]
    if any(not r[0].strip() or not r[-1].strip() for r in rows):
        outer_pipes = True
    widths = [max(3, *(len(r[c]) for r in rows)) if pad else 3 for c in range(spec.n_cols)]
    delims = [markdown_delimiter(a, w) for a, w in zip(spec.align, widths, strict=True)]

    def line(cells: list[str]) -> str:
        body = " | ".join(cell.ljust(w) if pad else cell for cell, w in zip(cells, widths, strict=True))
        return f"| {body} |" if outer_pipes else body

    lines = [line(rows[0]), line(delims)] + [line(r) for r in rows[1:]]
    return "\n".join(lines) + "\n"
