"""HTML emission: the inline stylesheet and the table markup (``html_source``), written in an ``HtmlVariant``."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from src.data.seeds.table.locations import cell_origins
from src.data.seeds.table.spec import Align, TableCell, TableSpec, TableStyle

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
