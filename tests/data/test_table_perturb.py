"""Table perturbations: labels are well-formed, compose safely, and hold on the pixels Chromium renders."""

from __future__ import annotations

import io
import random
import re
import shutil
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from src.data.perturb.table import TABLE_EQUIVALENCES, TABLE_PERTURBATIONS, numeric_value
from src.data.schema import CATEGORIES, Critique
from src.data.seeds.table import TableSpec, make_table_seed, row_name, table_source

# Same thresholds as the synthesis pipeline's pixel check (src/data/synthesis.py).
PIXEL_TOLERANCE = 16
VISIBLE_MIN_PIXELS = 12

# ---------------------------------------------------------------------------------------------------------------
# Rendering: the project's pool when it exists, else one Playwright page driving Debian's Chromium.


class _LocalTableRenderer:
    """In-process stand-in for the render pool: Markdown through markdown-it, then a Chromium screenshot."""

    ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._pw = sync_playwright().start()
        self._browser = self._pw.chromium.launch(executable_path=shutil.which("chromium"), args=self.ARGS)
        self._page = self._browser.new_page(viewport={"width": 1024, "height": 200}, java_script_enabled=False)

    def render(self, sources: list[str]) -> list[bytes]:
        from markdown_it import MarkdownIt

        out = []
        for src in sources:
            if "<table" not in src:
                src = "<style>table{border-collapse:collapse}td,th{border:1px solid #888;padding:4px 8px}</style>" + (
                    MarkdownIt("commonmark").enable("table").render(src)
                )
            self._page.set_content(src)
            out.append(self._page.screenshot(full_page=True))
        return out

    def close(self) -> None:
        self._browser.close()
        self._pw.stop()


@pytest.fixture(scope="module")
def render_tables() -> Iterator:
    if shutil.which("chromium") is None:
        pytest.skip("chromium not on PATH")
    try:
        from src.render import RenderJob, RenderPool
    except ImportError:
        renderer = _LocalTableRenderer()
        yield renderer.render
        renderer.close()
        return
    with RenderPool(workers=2) as pool:

        def render(sources: list[str]) -> list[bytes]:
            results = pool.render([RenderJob(domain="table", source=s) for s in sources])
            assert all(r.ok for r in results), [r.message for r in results if not r.ok]
            return [r.png for r in results]  # type: ignore[misc]

        yield render


def changed_pixels(a: bytes, b: bytes) -> int:
    x = np.asarray(Image.open(io.BytesIO(a)).convert("RGB"), dtype=np.int16)
    y = np.asarray(Image.open(io.BytesIO(b)).convert("RGB"), dtype=np.int16)
    if x.shape != y.shape:
        return max(x.shape[0] * x.shape[1], y.shape[0] * y.shape[1])
    return int((np.abs(x - y).max(axis=2) > PIXEL_TOLERANCE).sum())


def applied_cases(kind: str, n: int, start: int = 0) -> list[tuple[TableSpec, TableSpec]]:
    """(reference, perturbed) for the first ``n`` seeds where ``kind`` applies, alternating HTML and Markdown."""
    cases = []
    seed = start
    while len(cases) < n and seed < start + 400:
        fmt = "markdown" if seed % 3 == 0 else "html"
        spec = make_table_seed(random.Random(seed), fmt=fmt)
        result = TABLE_PERTURBATIONS[kind](spec, random.Random(seed))
        if result is not None:
            cases.append((spec, result.spec))
        seed += 1
    return cases


# ---------------------------------------------------------------------------------------------------------------
# Labels and composition (no browser).


def test_registry_covers_the_contract() -> None:
    assert len(TABLE_PERTURBATIONS) >= 8
    assert len(TABLE_EQUIVALENCES) >= 2
    for kind in ("cell_text", "numeric_value", "missing_row", "extra_row", "swapped_columns", "span_structure"):
        assert kind in TABLE_PERTURBATIONS


@pytest.mark.parametrize("kind", sorted(TABLE_PERTURBATIONS))
def test_each_kind_applies_with_valid_labels(kind: str) -> None:
    cases = 0
    for seed in range(80):
        spec = make_table_seed(random.Random(seed))
        result = TABLE_PERTURBATIONS[kind](spec, random.Random(seed))
        if result is None:
            continue
        cases += 1
        assert result.kind == kind
        assert result.errors, "a perturbation must carry at least one discrepancy"
        for err in result.errors:
            assert err.category in CATEGORIES["table"]
            assert err.location and err.description
        assert table_source(result.spec) != table_source(spec)
        assert result.spec.touched >= spec.touched
    assert cases >= 4, f"{kind} applied to only {cases} of 80 seeds"


def test_composition_keeps_labels_about_existing_elements() -> None:
    """Chains of up to four kinds: every cell a label is about still exists, nothing is edited twice."""
    for seed in range(150):
        rng = random.Random(seed)
        spec = make_table_seed(rng)
        kinds = sorted(TABLE_PERTURBATIONS)
        rng.shuffle(kinds)
        errors = []
        labelled_cells: set[str] = set()
        for kind in kinds[: rng.randint(1, 4)]:
            before_ids = {c.id for c in spec.cells()}
            result = TABLE_PERTURBATIONS[kind](spec, rng)
            if result is None:
                continue
            new_touched = result.spec.touched - spec.touched
            assert not (new_touched & spec.touched)
            labelled_cells |= new_touched & before_ids
            spec = result.spec
            errors.extend(result.errors)
        final_ids = {c.id for c in spec.cells()}
        assert labelled_cells <= final_ids, f"seed {seed}: a label is about a removed cell"
        Critique("table", tuple(errors))  # schema-valid
        table_source(spec)


def test_numeric_severity_grows_with_the_relative_error() -> None:
    number = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?")
    seen = set()
    for seed in range(200):
        spec = make_table_seed(random.Random(seed))
        result = numeric_value(spec, random.Random(seed))
        if result is None:
            continue
        before = {c.id: c.text for c in spec.cells()}
        (changed,) = [c for c in result.spec.cells() if before.get(c.id, c.text) != c.text]
        old = float(number.search(before[changed.id]).group().replace(",", ""))  # type: ignore[union-attr]
        new = float(number.search(changed.text).group().replace(",", ""))  # type: ignore[union-attr]
        rel = abs(new - old) / abs(old) if old else 1.0
        expected = 1 if rel < 0.05 else 2 if rel <= 0.25 else 3
        assert result.errors[0].severity == expected, (before[changed.id], changed.text)
        seen.add(expected)
    assert seen == {1, 2, 3}


def test_missing_row_label_names_a_row_that_is_gone() -> None:
    for seed in range(40):
        spec = make_table_seed(random.Random(seed), fmt="markdown")
        result = TABLE_PERTURBATIONS["missing_row"](spec, random.Random(seed))
        if result is None:
            continue
        names_after = [row_name(result.spec, b) for b in range(len(result.spec.body))]
        names_before = [row_name(spec, b) for b in range(len(spec.body))]
        assert len(result.spec.body) == len(spec.body) - 1
        gone = [n for n in names_before if names_before.count(n) > names_after.count(n)]
        assert gone and f"'{gone[0]}'" in result.errors[0].location
        assert result.errors[0].severity == 3


def test_touched_cells_are_not_edited_again() -> None:
    spec = make_table_seed(random.Random(7), fmt="html")
    every_cell = frozenset(c.id for c in spec.cells()) | set(spec.col_ids) | {"style", "caption"}
    frozen = TableSpec(**{**spec.__dict__, "touched": every_cell})
    for kind in ("cell_text", "numeric_value", "header_text", "emphasis", "missing_row", "swapped_rows",
                 "swapped_columns", "missing_column", "span_structure", "alignment", "caption", "table_style"):  # fmt: skip
        assert TABLE_PERTURBATIONS[kind](frozen, random.Random(0)) is None, kind


def test_equivalences_change_the_source() -> None:
    for seed in range(30):
        spec = make_table_seed(random.Random(seed))
        for name, fn in TABLE_EQUIVALENCES.items():
            source = fn(spec, random.Random(seed))
            assert source != table_source(spec), (name, spec.fmt)


# ---------------------------------------------------------------------------------------------------------------
# Pixels (Chromium).


@pytest.mark.browser
def test_every_kind_changes_pixels(render_tables) -> None:
    pairs = [(kind, ref, pert) for kind in sorted(TABLE_PERTURBATIONS) for ref, pert in applied_cases(kind, 2)]
    sources = [s for _, ref, pert in pairs for s in (table_source(ref), table_source(pert))]
    pngs = render_tables(sources)
    invisible = [kind for i, (kind, _, _) in enumerate(pairs) if changed_pixels(pngs[2 * i], pngs[2 * i + 1]) < 12]
    assert not invisible, f"perturbations with no visible change: {invisible}"
    assert {kind for kind, _, _ in pairs} == set(TABLE_PERTURBATIONS)


@pytest.mark.browser
def test_equivalences_render_identically(render_tables) -> None:
    specs = [make_table_seed(random.Random(s), fmt="markdown" if s % 4 == 0 else "html") for s in range(6)]
    names = sorted(TABLE_EQUIVALENCES)
    sources = []
    for i, spec in enumerate(specs):
        sources.append(table_source(spec))
        sources += [TABLE_EQUIVALENCES[name](spec, random.Random(i)) for name in names]
    pngs = render_tables(sources)
    stride = len(names) + 1
    differing = [
        (names[j], specs[i].fmt)
        for i in range(len(specs))
        for j in range(len(names))
        if changed_pixels(pngs[i * stride], pngs[i * stride + 1 + j])
    ]
    assert not differing


@pytest.mark.browser
@pytest.mark.slow
def test_every_kind_changes_pixels_over_many_seeds(render_tables) -> None:
    pairs = [(kind, ref, pert) for kind in sorted(TABLE_PERTURBATIONS) for ref, pert in applied_cases(kind, 25, 100)]
    sources = [s for _, ref, pert in pairs for s in (table_source(ref), table_source(pert))]
    pngs = render_tables(sources)
    invisible = [kind for i, (kind, _, _) in enumerate(pairs) if changed_pixels(pngs[2 * i], pngs[2 * i + 1]) < 12]
    assert not invisible, f"{len(invisible)} of {len(pairs)} invisible: {sorted(set(invisible))}"
