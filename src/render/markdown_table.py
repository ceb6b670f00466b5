"""Markdown pipe tables as HTML ``<table>`` markup: what the table page shows for a Markdown answer, and what the
table metrics compare. Cell text is HTML-escaped, so a cell can never add markup of its own."""

from __future__ import annotations

import html
import re

from src.render.extract import looks_like_markdown_table


def markdown_to_html(text: str) -> str:
    """Pipe tables → ``<table>``; inline ``**bold**``, ``*italic*``, ```code``` kept. Other lines are dropped."""
    lines = text.splitlines()
    tables: list[str] = []
    i = 0
    while i < len(lines) - 1:
        if "|" in lines[i] and looks_like_markdown_table(lines[i] + "\n" + lines[i + 1]):
            header = _split_row(lines[i])
            aligns = [_alignment(cell) for cell in _split_row(lines[i + 1])]
            body: list[list[str]] = []
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                body.append(_split_row(lines[i]))
                i += 1
            tables.append(_table_html(header, aligns, body))
        else:
            i += 1
    return "\n".join(tables)


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)]


def _alignment(separator: str) -> str:
    sep = separator.strip()
    if sep.startswith(":") and sep.endswith(":"):
        return "center"
    if sep.endswith(":"):
        return "right"
    return "left" if sep.startswith(":") else ""


def _inline(cell: str) -> str:
    out = html.escape(cell)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    out = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: f"<b>{m.group(1) or m.group(2)}</b>", out)
    out = re.sub(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?!\*)", r"<i>\1</i>", out)
    return out.replace("&lt;br&gt;", "<br>")


def _table_html(header: list[str], aligns: list[str], body: list[list[str]]) -> str:
    width = len(header)

    def row(cells: list[str], tag: str) -> str:
        cells = (cells + [""] * width)[:width]
        parts = []
        for col, cell in enumerate(cells):
            align = aligns[col] if col < len(aligns) else ""
            style = f' style="text-align: {align}"' if align else ""
            parts.append(f"<{tag}{style}>{_inline(cell)}</{tag}>")
        return "<tr>" + "".join(parts) + "</tr>"

    rows = "".join(row(cells, "td") for cells in body)
    return f"<table><thead>{row(header, 'th')}</thead><tbody>{rows}</tbody></table>"
