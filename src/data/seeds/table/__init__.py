"""Table seeds: structured specs of realistic tables and the HTML / Markdown source they emit.

A table is kept as a spec (rows of cells with spans, per-column alignment, a style) rather than as a string, so a
perturbation edits one cell or one column and knows exactly what it changed. The contents follow what table-parsing
benchmarks contain: financial statements with thousands separators and parenthesised negatives, experiment results
with mean ± std under multi-level headers ("Validation | Test"), schedules with rowspan day groups, product
specifications with units, dataset statistics, and regional sales with rowspan groups and totals.

Markdown cannot express spans, captions or CSS, so Markdown seeds are single-header pipe tables without them.
"""

from src.data.seeds.table.code import table_source
from src.data.seeds.table.content import format_number
from src.data.seeds.table.html import HtmlVariant, escape_text, html_source, table_css
from src.data.seeds.table.locations import cell_location, cell_origins, column_name, row_name
from src.data.seeds.table.markdown import markdown_cell_text, markdown_delimiter, markdown_source
from src.data.seeds.table.sampler import make_table_seed
from src.data.seeds.table.spec import Align, BorderScheme, TableCell, TableFormat, TableSpec, TableStyle, table_grid

__all__ = [
    "Align",
    "BorderScheme",
    "HtmlVariant",
    "TableCell",
    "TableFormat",
    "TableSpec",
    "TableStyle",
    "cell_location",
    "cell_origins",
    "column_name",
    "escape_text",
    "format_number",
    "html_source",
    "make_table_seed",
    "markdown_cell_text",
    "markdown_delimiter",
    "markdown_source",
    "row_name",
    "table_css",
    "table_grid",
    "table_source",
]
