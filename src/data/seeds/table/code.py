"""Source emission entry point: a spec as the source of its own format (``table_source``)."""

from __future__ import annotations

from src.data.seeds.table.html import html_source
from src.data.seeds.table.markdown import markdown_source
from src.data.seeds.table.spec import TableSpec


def table_source(spec: TableSpec) -> str:
    """The spec as source code: an HTML fragment / document with inline CSS, or a Markdown pipe table."""
    return markdown_source(spec) if spec.fmt == "markdown" else html_source(spec)
