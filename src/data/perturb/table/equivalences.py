"""Equivalences: other source for the same pixels (whitespace, markup spelling, character references, colour notation,
explicit default styles). Markdown has no attributes or CSS, so the HTML-only rewrites fall back to a Markdown
spelling variant (padding, outer pipes) there."""

from __future__ import annotations

import random
from collections.abc import Callable

from src.data.perturb.base import EquivalenceFn
from src.data.seeds.table import HtmlVariant, TableSpec, html_source, markdown_source


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
