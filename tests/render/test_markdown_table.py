"""Markdown pipe tables → HTML: alignment and inline markup kept, cell text escaped."""

from __future__ import annotations

from src.render.markdown_table import markdown_to_html
from tests.render.conftest import MARKDOWN_TABLE


def test_markdown_converter_keeps_alignment_and_inline_markup() -> None:
    html = markdown_to_html(MARKDOWN_TABLE)
    assert html.count("<tr>") == 4 and html.count("</th>") == 4
    assert '<td style="text-align: right">1,204</td>' in html
    assert "<b>+14.4%</b>" in html and "<i>-6.9%</i>" in html
    assert "&lt;script&gt;" in markdown_to_html("| a |\n|---|\n| <script>x</script> |")
