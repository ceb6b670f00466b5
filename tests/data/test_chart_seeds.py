"""Chart seeds: reproducible specs, realistic scripts, every kind renders through the real pool."""

from __future__ import annotations

import ast
import random
from collections import Counter
from dataclasses import replace

import pytest

from src.data.seeds.chart import (
    CHART_KINDS,
    ChartSpec,
    chart_source,
    color_literal,
    make_chart_seed,
)
from src.render import RenderJob, RenderPool


@pytest.fixture(scope="module")
def pool():
    with RenderPool(workers=2, timeout_s=15) as p:
        yield p


def _seed_of_each_kind(limit: int = 400) -> dict[str, ChartSpec]:
    found: dict[str, ChartSpec] = {}
    for seed in range(limit):
        spec = make_chart_seed(random.Random(seed))
        found.setdefault(spec.kind, spec)
        if len(found) == len(CHART_KINDS):
            break
    return found


def test_same_seed_gives_same_spec_and_source() -> None:
    a, b = make_chart_seed(random.Random(7)), make_chart_seed(random.Random(7))
    assert a == b
    assert chart_source(a) == chart_source(b)
    assert chart_source(make_chart_seed(random.Random(8))) != chart_source(a)


def test_every_kind_is_generated_in_plausible_proportions() -> None:
    kinds = Counter(make_chart_seed(random.Random(seed)).kind for seed in range(600))
    assert set(kinds) == set(CHART_KINDS)
    assert len(CHART_KINDS) >= 12
    # Uniform over 15 kinds: 40 expected each; none may be starved.
    assert min(kinds.values()) >= 20


@pytest.mark.parametrize("seed", range(40))
def test_source_is_a_realistic_standalone_script(seed: int) -> None:
    spec = make_chart_seed(random.Random(seed))
    source = chart_source(spec)
    tree = ast.parse(source)
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "matplotlib.pyplot" in imports
    assert "plt.subplots(" in source
    assert "plt.tight_layout()" in source
    assert source.rstrip().endswith(("plt.show()", "'output.png')", "'chart.png')", "'figure.png')"))
    assert "random" not in source, "render-time randomness would make the image irreproducible"
    for panel in spec.panels:
        if panel.title:
            assert repr(panel.title) in source


def test_subplot_grid_and_single_panels_are_both_produced() -> None:
    specs = [make_chart_seed(random.Random(seed)) for seed in range(200)]
    grids = [s for s in specs if s.kind == "subplots"]
    assert grids and all(len(s.panels) == s.nrows * s.ncols >= 2 for s in grids)
    assert all(len(s.panels) == 1 for s in specs if s.kind != "subplots")


def test_titles_axis_labels_and_units_look_like_real_charts() -> None:
    specs = [make_chart_seed(random.Random(seed)) for seed in range(100)]
    titles = {p.title for s in specs for p in s.panels}
    assert len(titles) >= 20
    ylabels = [p.ylabel for s in specs for p in s.panels if p.ylabel]
    assert sum("(" in y for y in ylabels) / len(ylabels) > 0.5, "most value axes should name their unit"


def test_bad_spec_is_rejected_with_the_field_named() -> None:
    spec = make_chart_seed(random.Random(0))
    with pytest.raises(ValueError, match="kind"):
        ChartSpec("sunburst", spec.figsize, spec.panels)
    with pytest.raises(ValueError, match="grid"):
        ChartSpec(spec.kind, spec.figsize, spec.panels, nrows=2, ncols=2)
    with pytest.raises(ValueError, match="style"):
        ChartSpec(spec.kind, spec.figsize, spec.panels, style="no-such-style")
    panel = spec.panels[0]
    with pytest.raises(ValueError, match="legend_loc"):
        replace(panel, legend_loc="top middle")
    with pytest.raises(ValueError, match="value_scale"):
        replace(panel, value_scale="symlog-ish")
    with pytest.raises(ValueError, match="series"):
        replace(panel, series=())
    with pytest.raises(TypeError, match="random.Random"):
        make_chart_seed(0)  # type: ignore[arg-type]


def test_series_length_must_match_the_categories() -> None:
    spec = next(s for s in (make_chart_seed(random.Random(n)) for n in range(100)) if s.kind == "bar")
    panel = spec.panels[0]
    with pytest.raises(ValueError, match="values"):
        replace(panel, series=(replace(panel.series[0], values=panel.series[0].values[:-1]),))


def test_color_notations_name_the_same_colour() -> None:
    import matplotlib.colors as mcolors

    for hex_color in ("#1f77b4", "#4682b4", "#264653"):
        rgba = {mcolors.to_rgba(eval(color_literal(hex_color, n))) for n in ("hex", "HEX", "name", "rgb")}
        assert len(rgba) == 1


@pytest.mark.browser
def test_every_kind_renders_a_non_blank_image(pool: RenderPool) -> None:
    specs = _seed_of_each_kind()
    assert set(specs) == set(CHART_KINDS)
    results = pool.render([RenderJob(domain="chart", source=chart_source(s), tag=k) for k, s in specs.items()])
    failures = {k: (r.error_kind, r.message[:300]) for k, r in zip(specs, results, strict=True) if not r.ok}
    assert not failures


@pytest.mark.slow
def test_two_hundred_seeds_render(pool: RenderPool) -> None:
    specs = [make_chart_seed(random.Random(seed)) for seed in range(200)]
    results = pool.render([RenderJob(domain="chart", source=chart_source(s)) for s in specs])
    failures = [(s.kind, r.error_kind, r.message[:200]) for s, r in zip(specs, results, strict=True) if not r.ok]
    assert not failures
