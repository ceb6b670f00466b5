"""Table seeds: valid HTML / Markdown, reproducible, realistic content, grid helpers that respect spans."""

from __future__ import annotations

import random
import re
from html.parser import HTMLParser

import pytest

from src.data.seeds.table import TableCell, TableSpec, column_name, make_table_seed, row_name, table_source

VOID = {"meta", "br"}


class _TagBalance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:  # type: ignore[no-untyped-def]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag) -> None:  # type: ignore[no-untyped-def]
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_html_sources_are_balanced_and_reproducible() -> None:
    for seed in range(150):
        spec = make_table_seed(random.Random(seed), fmt="html")
        source = table_source(spec)
        assert source == table_source(make_table_seed(random.Random(seed), fmt="html"))
        parser = _TagBalance()
        parser.feed(source)
        assert not parser.errors and not parser.stack, (seed, parser.errors, parser.stack)
        assert source.count("<tr>") == len(spec.header) + len(spec.body)


def test_markdown_sources_are_rectangular_pipe_tables() -> None:
    for seed in range(60):
        spec = make_table_seed(random.Random(seed), fmt="markdown")
        lines = table_source(spec).strip().splitlines()
        counts = {len(re.split(r"(?<!\\)\|", line)) for line in lines}
        assert len(counts) == 1, lines
        assert re.fullmatch(r"\|( :?-+:? \|)+", lines[1]), lines[1]


def test_content_looks_like_table_benchmarks() -> None:
    sources = [table_source(make_table_seed(random.Random(s))) for s in range(200)]
    text = "\n".join(sources)
    for marker in ("colspan=", "rowspan=", "±", "<caption>", "Net income", "$",
                   "| :", "<b>", "<i>", "note"):  # fmt: skip
        assert marker in text, marker
    assert re.search(r"\d{1,3},\d{3}", text)  # thousands separators
    assert sum(s.startswith("|") for s in sources) > 20  # Markdown share


def test_multilevel_headers_name_columns_through_their_groups() -> None:
    for seed in range(200):
        spec = make_table_seed(random.Random(seed), fmt="html")
        if any(c.text == "Validation" and c.colspan > 1 for c in spec.header[0]):
            names = [column_name(spec, c) for c in range(spec.n_cols)]
            assert any(n.startswith("Validation / ") for n in names) and any(n.startswith("Test / ") for n in names)
            assert row_name(spec, 0) == spec.body[0][0].text
            return
    pytest.fail("no results table with a Validation/Test column group in 200 seeds")


def test_bad_specs_are_rejected_with_a_clear_error() -> None:
    a, b = TableCell("a", "A"), TableCell("b", "B", colspan=2)
    with pytest.raises(ValueError, match="spans past the table edge"):
        TableSpec(header=((a, b),), body=((TableCell("c", "1"), TableCell("d", "2")),), align=("left", "left"),
                  col_ids=("c0", "c1"))  # fmt: skip
    with pytest.raises(ValueError, match="markdown"):
        TableSpec(header=((TableCell("a", "A", colspan=2),),), body=((TableCell("c", "1"), TableCell("d", "2")),),
                  align=("left", "left"), col_ids=("c0", "c1"), fmt="markdown")  # fmt: skip


def test_markdown_variants_parse_to_the_same_table() -> None:
    """Padding and outer pipes are presentation only: the renderer must read every variant as the same table
    (an empty first header cell without its outer pipe used to lose a column)."""
    from src.data.seeds.table import markdown_source
    from src.render.table import markdown_to_html

    checked = 0
    for seed in range(60):
        spec = make_table_seed(random.Random(seed), fmt="markdown")
        reference = markdown_to_html(markdown_source(spec))
        for pad in (True, False):
            for outer in (True, False):
                assert markdown_to_html(markdown_source(spec, pad=pad, outer_pipes=outer)) == reference, (
                    seed,
                    pad,
                    outer,
                )
        checked += 1
    assert checked == 60
