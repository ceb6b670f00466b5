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

from src.data.perturb.table.equivalences import (
    TABLE_EQUIVALENCES,
    character_references,
    css_colour_notation,
    explicit_default_style,
    markup_variant,
    whitespace,
)
from src.data.perturb.table.numeric import numeric_value
from src.data.perturb.table.registry import TABLE_KIND_CATEGORY, TABLE_PERTURBATIONS
from src.data.perturb.table.structure import (
    extra_row,
    missing_column,
    missing_row,
    span_structure,
    swapped_columns,
    swapped_rows,
)
from src.data.perturb.table.style import alignment, emphasis, table_style
from src.data.perturb.table.text import caption, cell_text, header_text

__all__ = [
    "TABLE_EQUIVALENCES",
    "TABLE_KIND_CATEGORY",
    "TABLE_PERTURBATIONS",
    "alignment",
    "caption",
    "cell_text",
    "character_references",
    "css_colour_notation",
    "emphasis",
    "explicit_default_style",
    "extra_row",
    "header_text",
    "markup_variant",
    "missing_column",
    "missing_row",
    "numeric_value",
    "span_structure",
    "swapped_columns",
    "swapped_rows",
    "table_style",
    "whitespace",
]
