"""Table seeds: structured specs of realistic tables and the HTML / Markdown source they emit.

A table is kept as a spec (rows of cells with spans, per-column alignment, a style) rather than as a string, so a
perturbation edits one cell or one column and knows exactly what it changed. The contents follow what table-parsing
benchmarks contain: financial statements with thousands separators and parenthesised negatives, experiment results
with mean ± std under multi-level headers ("Validation | Test"), schedules with rowspan day groups, product
specifications with units, dataset statistics, and regional sales with rowspan groups and totals.

Markdown cannot express spans, captions or CSS, so Markdown seeds are single-header pipe tables without them.
"""

from __future__ import annotations

import html
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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


# ---------------------------------------------------------------------------------------------------------------
# Grid geometry: where every written cell lands once spans are applied.


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


# ---------------------------------------------------------------------------------------------------------------
# Source emission.

_BORDER_CSS: dict[str, str] = {
    "grid": "table.t th, table.t td {{ border: 1px solid {c}; }}",
    "horizontal": "table.t th, table.t td {{ border-top: 1px solid {c}; border-bottom: 1px solid {c}; }}",
    # booktabs: heavy top/bottom rules, a light rule under the header, and cmidrules under column groups.
    "booktabs": (
        "table.t {{ border-top: 2px solid {c}; border-bottom: 2px solid {c}; }}\n"
        "table.t thead tr:last-child th {{ border-bottom: 1px solid {c}; }}\n"
        "table.t th[colspan] {{ border-bottom: 1px solid {c}; }}"
    ),
    "outer": "table.t {{ border: 2px solid {c}; }}\ntable.t thead th {{ border-bottom: 2px solid {c}; }}",
}


@dataclass(frozen=True)
class HtmlVariant:
    """Ways to write the same table that render identically; the defaults are the canonical source.

    Equivalence transforms (``src.data.perturb.table``) pick non-default values; keeping the knobs next to the one
    emitter means the canonical and the equivalent sources cannot drift apart.
    """

    indent: str = "  "  # "" writes each row on one line with no indentation
    cell_per_line: bool = False
    style_first: bool = False  # put style="" before rowspan/colspan
    quote: str = '"'
    close_cells: bool = True  # </td>, </th> and </tr> are optional in HTML
    escape_chars: bool = False  # write non-ASCII and some punctuation as character references
    colour: Callable[[str], str] = lambda hex_colour: hex_colour
    explicit_defaults: bool = False  # repeat the stylesheet's th/td defaults as inline styles


_NAMED_REFS = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    "±": "&plusmn;",
    "×": "&times;",
    "–": "&ndash;",
    "—": "&mdash;",
    "€": "&euro;",
    "$": "&#36;",
    "%": "&#37;",
    "é": "&eacute;",
    "\u00a0": "&nbsp;",
}


def escape_text(text: str, references: bool = False) -> str:
    """HTML-escape cell text; with ``references`` also spell special characters as entity / numeric references."""
    if not references:
        return html.escape(text, quote=False)
    out = []
    for ch in text:
        if ch in _NAMED_REFS:
            out.append(_NAMED_REFS[ch])
        elif ord(ch) > 127 or ch in ",():":
            out.append(f"&#{ord(ch)};")
        elif ch.isupper():  # hexadecimal references too, so every table with a capital letter changes
            out.append(f"&#x{ord(ch):X};")
        else:
            out.append(ch)
    return "".join(out)


def table_css(style: TableStyle, colour: Callable[[str], str] = lambda c: c) -> str:
    """The inline stylesheet; every rule is explicit so the render does not depend on browser defaults."""
    lines = [
        f"table.t {{ border-collapse: collapse; font-family: {style.font_family}; "
        f"font-size: {style.font_size_px}px; color: {colour(style.text_color)}; }}",
        "table.t caption { caption-side: top; font-weight: bold; padding: 6px 0; }",
        "table.t th, table.t td { padding: 5px 12px; vertical-align: middle; }",
        "table.t th { font-weight: bold; text-align: center; }",
        _BORDER_CSS[style.border].format(c=colour(style.border_color)),
        f"p.note {{ font-family: {style.font_family}; font-size: {style.font_size_px - 2}px; "
        f"color: {colour(style.text_color)}; margin: 6px 0; }}",
    ]
    if style.header_bg:
        lines.append(f"table.t thead th {{ background: {colour(style.header_bg)}; }}")
    if style.stripe_bg:
        lines.append(f"table.t tbody tr:nth-child(even) td {{ background: {colour(style.stripe_bg)}; }}")
    return "\n".join(lines)


def _cell_html(cell: TableCell, tag: str, col_align: Align | None, v: HtmlVariant) -> str:
    spans: list[tuple[str, str]] = []
    if cell.rowspan > 1:
        spans.append(("rowspan", str(cell.rowspan)))
    if cell.colspan > 1:
        spans.append(("colspan", str(cell.colspan)))
    styles: list[str] = []
    align = cell.align or col_align
    if v.explicit_defaults and tag == "th":
        styles.append("font-weight: bold")
        if not align:
            styles.append("text-align: center")
    if v.explicit_defaults and tag == "td":
        styles.append("vertical-align: middle")
    if align:
        styles.append(f"text-align: {align}")
    attrs = ([("style", "; ".join(styles))] if styles else []) + spans
    if not v.style_first:
        attrs = spans + attrs[: len(attrs) - len(spans)]
    text = escape_text(cell.text, v.escape_chars)
    if cell.bold and tag == "td":
        text = f"<b>{text}</b>"
    if cell.italic:
        text = f"<i>{text}</i>"
    q = v.quote
    attr_text = "".join(f" {k}={q}{val}{q}" for k, val in attrs)
    return f"<{tag}{attr_text}>{text}" + (f"</{tag}>" if v.close_cells else "")


def html_source(spec: TableSpec, v: HtmlVariant | None = None) -> str:
    """The HTML source of ``spec`` written in variant ``v`` (canonical when None)."""
    v = v or HtmlVariant()
    origins = cell_origins(spec)
    ind = v.indent
    end_tr = "</tr>" if v.close_cells else ""

    def row_markup(cells: list[str]) -> str:
        if v.cell_per_line:
            return (
                f"{ind * 2}<tr>\n"
                + "".join(f"{ind * 3}{c}\n" for c in cells)
                + (f"{ind * 2}{end_tr}" if end_tr else "")
            )
        return f"{ind * 2}<tr>" + "".join(cells) + end_tr

    q = v.quote
    out = [f"<style>\n{table_css(spec.style, v.colour)}\n</style>", f"<table class={q}t{q}>"]
    if spec.caption:
        out.append(f"{ind}<caption>{escape_text(spec.caption, v.escape_chars)}</caption>")
    out.append(f"{ind}<thead>")
    out += [row_markup([_cell_html(c, "th", None, v) for c in row]) for row in spec.header]
    out += [f"{ind}</thead>", f"{ind}<tbody>"]
    out += [row_markup([_cell_html(c, "td", spec.align[origins[c.id][1]], v) for c in row]) for row in spec.body]
    out += [f"{ind}</tbody>", "</table>"]
    if spec.footnote:
        out.append(f"<p class={q}note{q}>{escape_text(spec.footnote, v.escape_chars)}</p>")
    fragment = "\n".join(out)
    if not spec.full_document:
        return fragment + "\n"
    return f'<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8">\n</head>\n<body>\n{fragment}\n</body>\n</html>\n'


def table_source(spec: TableSpec) -> str:
    """The spec as source code: an HTML fragment / document with inline CSS, or a Markdown pipe table."""
    return markdown_source(spec) if spec.fmt == "markdown" else html_source(spec)


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
    `` | FY2021 | FY2022`` as a row with one cell fewer (4 synthesized "equivalent" pairs in 300 rendered narrower).
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


# ---------------------------------------------------------------------------------------------------------------
# Content generators. Each returns (caption, header rows, body rows, alignments, footnote) with spans only when
# ``spans`` is true; cells are created through ``_Cells`` so ids are unique within the table.


class _Cells:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, text: str, kind: Literal["text", "number"] = "text", **kw: object) -> TableCell:
        self.n += 1
        return TableCell(id=f"c{self.n}", text=text, kind=kind, **kw)  # type: ignore[arg-type]


def format_number(value: float, decimals: int, thousands: bool, paren_negative: bool = False) -> str:
    """Number text as financial and scientific tables write it: ``1,234.5`` or ``(1,234)`` for negatives."""
    spec = f"{',' if thousands else ''}.{decimals}f"
    text = format(abs(value), spec)
    if value < 0:
        return f"({text})" if paren_negative else f"-{text}"
    return text


_Content = tuple[str | None, list[list[TableCell]], list[list[TableCell]], list[Align], str | None]


def _financial(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    company = rng.choice(["Northwind Holdings", "Acme Corp.", "Helios Energy", "Bluefin Logistics", "Vireo Health"])
    periods = rng.choice(
        [["FY2021", "FY2022", "FY2023"], ["Q1 2024", "Q2 2024", "Q3 2024", "Q4 2024"], ["2020", "2021", "2022", "2023"]]
    )
    unit = rng.choice(["in thousands of USD", "in millions of EUR", "USD, thousands"])
    scale = rng.choice([1.0, 10.0, 100.0])
    revenue = [rng.uniform(800, 9000) * scale for _ in periods]
    growth = rng.uniform(0.9, 1.25)
    revenue = [v * growth**i for i, v in enumerate(revenue)]
    cogs = [v * rng.uniform(0.45, 0.7) for v in revenue]
    rnd = [v * rng.uniform(0.05, 0.15) for v in revenue]
    sga = [v * rng.uniform(0.08, 0.2) for v in revenue]
    gross = [a - b for a, b in zip(revenue, cogs, strict=True)]
    op_inc = [g - a - b for g, a, b in zip(gross, rnd, sga, strict=True)]
    tax = [max(0.0, o * 0.21) for o in op_inc]
    net = [o - t for o, t in zip(op_inc, tax, strict=True)]

    def nums(values: list[float], bold: bool = False) -> list[TableCell]:
        return [cell(format_number(v, 0, True, paren_negative=True), "number", bold=bold) for v in values]

    header = [[cell("")] + [cell(p) for p in periods]]
    body: list[list[TableCell]] = [
        [cell("Revenue")] + nums(revenue),
        [cell("Cost of revenue")] + nums(cogs),
        [cell("Gross profit", bold=True)] + nums(gross, bold=True),
    ]
    if spans:
        header = [
            [cell("", rowspan=2), cell(f"Fiscal period ({unit})", colspan=len(periods))],
            [cell(p) for p in periods],
        ]
        body += [
            [cell("Operating expenses", colspan=len(periods) + 1, italic=True, align="left")],
            [cell("Research and development")] + nums(rnd),
            [cell("Selling, general and administrative")] + nums(sga),
        ]
    else:
        body += [[cell("Research and development")] + nums(rnd), [cell("Selling, general & admin.")] + nums(sga)]
    body += [
        [cell("Operating income", bold=True)] + nums(op_inc, bold=True),
        [cell("Income tax")] + nums(tax),
        [cell("Net income", bold=True)] + nums(net, bold=True),
    ]
    caption = (
        f"{company}: consolidated statement of operations ({unit})" if not spans else f"{company}: income statement"
    )
    footnote = rng.choice([None, "Figures are unaudited. Negative values shown in parentheses."])
    align: list[Align] = ["left"]
    align += ["right"] * len(periods)  # `+=`, not `+`: a concatenation would lose the Literal type
    return caption, header, body, align, footnote


def _results(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    metrics = rng.choice([["Acc", "F1"], ["mAP", "AP50"], ["BLEU", "chrF"], ["EM", "F1"]])
    models = rng.sample(
        [
            "ResNet-50",
            "ViT-B/16",
            "ConvNeXt-T",
            "Swin-T",
            "EfficientNet-B3",
            "DeiT-S",
            "BERT-base",
            "RoBERTa-large",
            "T5-small",
            "Ours",
        ],
        k=rng.randint(4, 6),
    )
    if "Ours" not in models:
        models[-1] = "Ours"
    splits = ["Validation", "Test"]
    rows_values = []
    for _ in models:
        base = rng.uniform(55, 90)
        rows_values.append([(base + rng.uniform(-4, 4), rng.uniform(0.1, 1.5)) for _ in splits for _ in metrics])
    # For each numeric column, the row of the best mean.
    best = [
        max(range(len(models)), key=[row[j][0] for row in rows_values].__getitem__)
        for j in range(len(splits) * len(metrics))
    ]
    with_params = rng.random() < 0.6
    header: list[list[TableCell]]
    if spans:
        first = [cell("Model", rowspan=2)] + ([cell("Params (M)", rowspan=2)] if with_params else [])
        header = [first + [cell(s, colspan=len(metrics)) for s in splits], [cell(m) for _ in splits for m in metrics]]
    else:
        header = [
            [cell("Model")]
            + ([cell("Params (M)")] if with_params else [])
            + [cell(f"{s} {m}") for s in splits for m in metrics]
        ]
    body = []
    for i, name in enumerate(models):
        row = [cell(name, bold=name == "Ours")]
        if with_params:
            row.append(cell(f"{rng.uniform(5, 350):.1f}", "number"))
        for j, (mean, std) in enumerate(rows_values[i]):
            row.append(cell(f"{mean:.1f} ± {std:.1f}", "number", bold=best[j] == i))
        body.append(row)
    caption = rng.choice(
        [f"Results on the benchmark ({', '.join(metrics)}, mean ± std over 3 seeds)", "Main results", None]
    )
    footnote = rng.choice([None, "Best results in bold. Std over three random seeds."])
    n_num = len(splits) * len(metrics) + (1 if with_params else 0)
    numeric_align: Align = rng.choice(["center", "right"])
    align: list[Align] = ["left"]
    align += [numeric_align] * n_num
    return caption, header, body, align, footnote


def _schedule(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    days = rng.sample(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"], k=rng.randint(2, 3))
    days.sort(key=["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"].index)
    sessions = [
        "Keynote",
        "Poster session",
        "Tutorial: Diffusion models",
        "Panel discussion",
        "Lunch break",
        "Oral session A",
        "Workshop on robustness",
        "Coffee break",
        "Invited talk",
        "Closing remarks",
    ]
    rooms = ["Hall A", "Room 101", "Room 204", "Auditorium", "Foyer"]
    speakers = ["Dr. A. Chen", "Prof. M. Rossi", "J. Okafor", "Dr. L. Novak", "S. Tanaka", "—", "Prof. K. Larsen"]
    header = [[cell("Day"), cell("Time"), cell("Session"), cell("Room"), cell("Speaker")]]
    body: list[list[TableCell]] = []
    for day in days:
        n = rng.randint(2, 3)
        hour = rng.choice([8, 9])
        for k in range(n):
            minutes = rng.choice([0, 30])
            time = f"{hour:02d}:{minutes:02d}–{hour + 1:02d}:{minutes:02d}"
            hour += rng.choice([1, 2])
            row = []
            if spans and k == 0:
                row.append(cell(day, rowspan=n, bold=True))
            elif not spans:
                row.append(cell(day))
            row += [cell(time), cell(rng.choice(sessions)), cell(rng.choice(rooms)), cell(rng.choice(speakers))]
            body.append(row)
    caption = rng.choice(["Conference programme", "Workshop schedule (all times CET)", None])
    return caption, header, body, ["left", "center", "left", "left", "left"], None


def _product_specs(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    brand = rng.choice(["Nimbus", "Orion", "Pixelon", "Vertex"])
    products = [f"{brand} {m}" for m in rng.sample(["S", "Pro", "Max", "Lite", "Ultra", "Mini"], k=3)]
    specs = [
        ("Display", lambda: f"{rng.uniform(5.4, 6.9):.1f} in"),
        ("Resolution", lambda: rng.choice(["1080 × 2400", "1170 × 2532", "1440 × 3200", "720 × 1600"])),
        ("Weight", lambda: f"{rng.randint(140, 240)} g"),
        ("Battery", lambda: f"{rng.randint(2800, 5500):,} mAh"),
        ("Storage", lambda: rng.choice(["64 GB", "128 GB", "256 GB", "512 GB"])),
        ("Refresh rate", lambda: f"{rng.choice([60, 90, 120, 144])} Hz"),
        ("Price", lambda: f"${rng.randint(199, 1299):,}"),
    ]
    chosen = [specs[0]] + rng.sample(specs[1:-1], k=rng.randint(3, 5)) + [specs[-1]]
    header = [[cell("Specification")] + [cell(p) for p in products]]
    body = []
    for name, value in chosen:
        kind: Literal["text", "number"] = "text" if name in ("Resolution",) else "number"
        body.append([cell(name, bold=rng.random() < 0.3)] + [cell(value(), kind) for _ in products])
    if spans:
        header = [
            [cell("Specification", rowspan=2), cell(f"{brand} line-up", colspan=len(products))],
            [cell(p) for p in products],
        ]
    footnote = rng.choice([None, "Prices are launch prices in USD.", "Battery capacity is typical, not rated."])
    align: list[Align] = ["left"]
    align += ["center"] * 3
    return rng.choice([f"{brand} smartphone comparison", None]), header, body, align, footnote


def _dataset_stats(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    datasets = rng.sample(
        [
            ("CIFAR-10", "Images", 10),
            ("ImageNet-1k", "Images", 1000),
            ("SST-2", "Text", 2),
            ("MNLI", "Text", 3),
            ("COCO", "Images", 80),
            ("LibriSpeech", "Audio", 0),
            ("SQuAD 2.0", "Text", 0),
            ("Cityscapes", "Images", 30),
        ],
        k=rng.randint(4, 6),
    )
    if spans:
        header = [
            [
                cell("Dataset", rowspan=2),
                cell("Modality", rowspan=2),
                cell("Examples", colspan=3),
                cell("Classes", rowspan=2),
            ],
            [cell("Train"), cell("Val"), cell("Test")],
        ]
    else:
        header = [[cell("Dataset"), cell("Modality"), cell("# Train"), cell("# Val"), cell("# Test"), cell("Classes")]]
    body = []
    for name, modality, classes in datasets:
        train = rng.randint(5_000, 1_300_000)
        body.append(
            [
                cell(name),
                cell(modality, italic=rng.random() < 0.2),
                cell(f"{train:,}", "number"),
                cell(f"{int(train * rng.uniform(0.05, 0.2)):,}", "number"),
                cell(f"{int(train * rng.uniform(0.05, 0.2)):,}", "number"),
                cell(str(classes) if classes else "–", "number" if classes else "text"),
            ]
        )
    return (
        rng.choice(["Dataset statistics", "Table 1: Datasets used in our experiments", None]),
        header,
        body,
        ["left", "left", "right", "right", "right", "center"],
        rng.choice([None, "–: not a classification task."]),
    )


def _regional_sales(rng: random.Random, cell: _Cells, spans: bool) -> _Content:
    regions = rng.sample(["North America", "Europe", "Asia-Pacific", "Latin America"], k=2)
    products = rng.sample(["Widgets", "Gadgets", "Sensors", "Licences", "Services"], k=rng.randint(2, 3))
    quarters = ["Q1", "Q2", "Q3", "Q4"]
    currency = rng.choice(["$", "€", ""])
    header = [[cell("Region"), cell("Product")] + [cell(q) for q in quarters] + [cell("Total")]]
    body = []
    for region in regions:
        for k, product in enumerate(products):
            values = [rng.randint(1_000, 95_000) for _ in quarters]
            row = []
            if spans and k == 0:
                row.append(cell(region, rowspan=len(products), bold=True))
            elif not spans:
                row.append(cell(region))
            row += [cell(product)] + [cell(f"{currency}{v:,}", "number") for v in values]
            row.append(cell(f"{currency}{sum(values):,}", "number", bold=True))
            body.append(row)
    caption = rng.choice([f"Quarterly sales by region ({currency or 'units'})", "Sales report 2023", None])
    align: list[Align] = ["left", "left"]
    align += ["right"] * 5
    return caption, header, body, align, None


_GENERATORS = (_financial, _results, _schedule, _product_specs, _dataset_stats, _regional_sales)

_PALETTES = [
    # (header background, stripe background, border colour)
    ("#e8eef7", None, "#999999"),
    ("#f2f2f2", "#fafafa", "#bbbbbb"),
    ("#dbe9d8", "#f4f9f3", "#7a9a73"),
    ("#fde9d9", None, "#cc8844"),
    (None, None, "#333333"),
    ("#d9e2f3", "#eef3fb", "#5b7bb5"),
]
_FONTS = [
    "Arial, Helvetica, sans-serif",
    "'DejaVu Sans', sans-serif",
    "Georgia, 'Times New Roman', serif",
    "'Liberation Serif', serif",
    "Verdana, sans-serif",
]


def make_table_seed(rng: random.Random, fmt: TableFormat | None = None) -> TableSpec:
    """A realistic table drawn from ``rng``; about one in four is Markdown unless ``fmt`` is given."""
    if fmt is None:
        fmt = "markdown" if rng.random() < 0.25 else "html"
    cell = _Cells()
    generator = rng.choice(_GENERATORS)
    spans = fmt == "html" and rng.random() < 0.65
    caption, header, body, align, footnote = generator(rng, cell, spans)
    header_bg, stripe_bg, border_color = rng.choice(_PALETTES)
    style = TableStyle(
        border=rng.choice(["grid", "grid", "horizontal", "booktabs", "outer"]),
        border_color=border_color,
        header_bg=header_bg,
        stripe_bg=stripe_bg,
        font_family=rng.choice(_FONTS),
        font_size_px=rng.choice([13, 14, 15, 16]),
        text_color=rng.choice(["#222222", "#000000", "#333333"]),
    )
    spec = TableSpec(
        header=tuple(tuple(r) for r in header),
        body=tuple(tuple(r) for r in body),
        align=tuple(align),
        col_ids=tuple(f"col{i}" for i in range(len(align))),
        caption=caption if fmt == "html" else None,
        footnote=footnote if fmt == "html" else None,
        style=style,
        fmt=fmt,
        full_document=fmt == "html" and rng.random() < 0.4,
    )
    if fmt == "markdown":  # Markdown has no per-cell alignment override
        spec = replace(
            spec,
            header=tuple(tuple(replace(c, align=None) for c in r) for r in spec.header),
            body=tuple(tuple(replace(c, align=None) for c in r) for r in spec.body),
        )
    return spec
