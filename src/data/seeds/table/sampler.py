"""Seed generation: a realistic ``TableSpec`` with a drawn format, content and style (``make_table_seed``)."""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.seeds.table.content import _GENERATORS, _Cells
from src.data.seeds.table.spec import TableFormat, TableSpec, TableStyle

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
