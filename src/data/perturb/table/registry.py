"""The table perturbation kinds by name and the category each labels: the tables synthesis draws from, in one place so
the order of kinds (which seeded draws depend on) is fixed here."""

from __future__ import annotations

from src.data.perturb.base import PerturbFn
from src.data.perturb.table.numeric import numeric_value
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
# (9 of 13 kinds are layout and 1 is numeric, so a uniform draw over kinds would make numeric labels rare).
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
