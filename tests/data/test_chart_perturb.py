"""Chart perturbations: labels are valid, compose safely and hold on the pixels; equivalences render identically."""

from __future__ import annotations

import ast
import io
import random
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from src.data.perturb.base import Perturbation
from src.data.perturb.chart import CHART_EQUIVALENCES, CHART_PERTURBATIONS, make_typo
from src.data.schema import CATEGORIES, Critique
from src.data.seeds.chart import ChartSpec, chart_source, make_chart_seed
from src.render import RenderJob, RenderPool

SEEDS = range(40)
# Rendered per kind in the default run; the slow test renders many more.
PAIRS_PER_KIND = 2
EQUIVALENCE_SEEDS = range(3)


@pytest.fixture(scope="module")
def pool():
    with RenderPool(workers=2, timeout_s=15) as p:
        yield p


@pytest.fixture(scope="module")
def pixel_cases(pool: RenderPool) -> dict[str, list[tuple[bytes, bytes, str]]]:
    """Every (reference, candidate) pair of the default pixel tests, rendered in one batch so both workers stay busy.

    Keys: a perturbation kind or ``equiv:<name>``; values: (reference png, candidate png, what it was).
    """
    cases: dict[str, list[tuple[str, str, str]]] = {}
    for kind in CHART_PERTURBATIONS:
        applied = _applied(kind, range(200))[:PAIRS_PER_KIND]
        cases[kind] = [(chart_source(s), chart_source(r.spec), f"{s.kind}: {r.errors}") for s, r in applied]
    for name, fn in CHART_EQUIVALENCES.items():
        specs = [(seed, make_chart_seed(random.Random(seed))) for seed in EQUIVALENCE_SEEDS]
        cases[f"equiv:{name}"] = [(chart_source(s), fn(s, random.Random(seed)), s.kind) for seed, s in specs]
    cases["composed"] = []
    for seed in range(3):
        spec = final = make_chart_seed(random.Random(seed))
        errors = []
        for kind in ("data_value", "text", "color", "legend_position", "missing_element"):
            result = CHART_PERTURBATIONS[kind](final, random.Random(seed))
            if result is not None:
                final, errors = result.spec, [*errors, *result.errors]
        cases["composed"].append((chart_source(spec), chart_source(final), f"{spec.kind}: {errors}"))
    sources = sorted({src for pairs in cases.values() for a, b, _ in pairs for src in (a, b)})
    results = pool.render([RenderJob(domain="chart", source=src) for src in sources])
    bad = [(r.error_kind, r.message[:300]) for r in results if not r.ok]
    assert not bad, bad
    png = {src: r.png for src, r in zip(sources, results, strict=True)}
    return {key: [(png[a], png[b], what) for a, b, what in pairs] for key, pairs in cases.items()}


def _applied(kind: str, seeds: range | list[int]) -> list[tuple[ChartSpec, Perturbation]]:
    out = []
    for seed in seeds:
        spec = make_chart_seed(random.Random(seed))
        result = CHART_PERTURBATIONS[kind](spec, random.Random(1000 + seed))
        if result is not None:
            out.append((spec, result))
    return out


def _image(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def _changed_pixels(a: bytes, b: bytes) -> int:
    """How many pixels differ by more than a rounding step; a different image size counts as all of them."""
    x, y = _image(a), _image(b)
    if x.shape != y.shape:
        return max(x.shape[0] * x.shape[1], y.shape[0] * y.shape[1])
    return int((np.abs(x - y).max(axis=2) > 8).sum())


def _render_pairs(pool: RenderPool, pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    jobs = [RenderJob(domain="chart", source=src) for pair in pairs for src in pair]
    results = pool.render(jobs)
    bad = [(r.error_kind, r.message[:300]) for r in results if not r.ok]
    assert not bad, bad
    pngs = [r.png for r in results]
    return list(zip(pngs[::2], pngs[1::2], strict=True))


def test_registry_covers_the_required_kinds() -> None:
    assert len(CHART_PERTURBATIONS) >= 8
    assert len(CHART_EQUIVALENCES) >= 3
    for needed in ("data_value", "chart_type", "color", "text", "missing_series", "extra_series"):
        assert needed in CHART_PERTURBATIONS
    assert {"axis_range", "axis_scale", "legend_position", "subplot_layout", "marker_style"} <= set(CHART_PERTURBATIONS)


@pytest.mark.parametrize("kind", sorted(CHART_PERTURBATIONS))
def test_labels_are_valid_and_the_spec_records_what_it_touched(kind: str) -> None:
    applied = _applied(kind, SEEDS)
    assert applied, f"{kind} applied to none of {len(SEEDS)} seeds"
    for spec, result in applied:
        assert result.kind == kind
        assert result.spec != spec
        assert chart_source(result.spec) != chart_source(spec)
        ast.parse(chart_source(result.spec))
        assert result.errors
        new_ids = result.spec.touched - spec.touched
        assert new_ids and spec.touched <= result.spec.touched
        for err in result.errors:
            assert err.category in CATEGORIES["chart"]
            assert err.severity in (1, 2, 3)
            assert err.location and err.description
        Critique("chart", result.errors).to_json()  # the official format accepts every label


def test_kinds_refuse_specs_they_cannot_change() -> None:
    single = next(s for s in (make_chart_seed(random.Random(n)) for n in range(200)) if s.kind == "heatmap")
    assert CHART_PERTURBATIONS["subplot_layout"](single, random.Random(0)) is None
    assert CHART_PERTURBATIONS["marker_style"](single, random.Random(0)) is None
    assert CHART_PERTURBATIONS["axis_scale"](single, random.Random(0)) is None


def test_a_touched_element_is_not_changed_again() -> None:
    for seed in SEEDS:
        spec = make_chart_seed(random.Random(seed))
        first = CHART_PERTURBATIONS["chart_type"](spec, random.Random(seed))
        if first is None or len(first.spec.panels) > 1:
            continue
        # The plot is redrawn as another type: nothing drawn in it may be relabelled by a later perturbation...
        for kind in ("data_value", "color", "marker_style", "axis_range", "axis_scale", "chart_type"):
            assert CHART_PERTURBATIONS[kind](first.spec, random.Random(seed)) is None, kind
        # ...while its title and labels are still fair game.
        later = CHART_PERTURBATIONS["text"](first.spec, random.Random(seed))
        assert later is not None and not later.errors[0].location.startswith(("x-axis tick", "y-axis tick"))
        return
    pytest.fail("no seed took a chart-type change")


def test_data_value_severity_follows_the_size_of_the_change() -> None:
    seen: Counter[int] = Counter()
    for _, result in _applied("data_value", range(120)):
        (err,) = result.errors
        pct = float(err.description.rsplit("(", 1)[1].strip("+-%)"))
        assert pct >= 4, "a change below 4% may not move a pixel"
        expected = 1 if pct < 10 else (2 if pct < 30 else 3)
        assert err.severity == expected, err
        seen[err.severity] += 1
    assert set(seen) == {1, 2, 3}


def test_colour_severity_grades_shade_hue_and_swap() -> None:
    by_severity: dict[int, list[str]] = {}
    for _, result in _applied("color", range(120)):
        for err in result.errors:
            by_severity.setdefault(err.severity, []).append(err.description)
    assert all("shade" in d for d in by_severity[1])
    assert all("swapped" in d for d in by_severity[3])
    assert set(by_severity) == {1, 2, 3}


def test_make_typo_changes_one_word_slightly() -> None:
    rng = random.Random(0)
    for text in ("Quarterly Revenue by Region", "Accuracy (%)", "Smartphone Shipments"):
        typo = make_typo(text, rng)
        assert typo and typo != text
        assert len(typo.split(" ")) == len(text.split(" "))
        assert sum(a != b for a, b in zip(typo.split(" "), text.split(" "), strict=True)) == 1
    assert make_typo("Q1 Q2", rng) is None


def _element_exists(spec: ChartSpec, eid: str) -> bool:
    """Does the element an id names still exist in ``spec``? (ids as in the module docstring)"""
    if eid.startswith("fig."):
        return True
    head, _, rest = eid.partition(".")
    panel = spec.panels[int(head[1:])]
    rest = rest.removeprefix("plot").lstrip(".")
    if not rest:
        return True
    first = rest.split(".")[0]
    if first.startswith("s") and first[1:].isdigit():
        return any(s.sid == int(first[1:]) for s in panel.series)
    if first.startswith("annot"):
        return int(first[5:]) < len(panel.annotations)
    if first == "legend":
        return panel.legend_loc is not None
    return True


@pytest.mark.parametrize("seed", SEEDS)
def test_composed_perturbations_keep_every_label_true(seed: int) -> None:
    rng = random.Random(seed)
    spec = make_chart_seed(rng)
    kinds = list(CHART_PERTURBATIONS)
    rng.shuffle(kinds)
    wanted = rng.randint(2, 4)
    steps: list[Perturbation] = []
    touched_by_step: list[frozenset[str]] = []
    for kind in kinds:
        if len(steps) == wanted:
            break
        before = spec
        result = CHART_PERTURBATIONS[kind](spec, rng)
        if result is None:
            continue
        new_ids = result.spec.touched - before.touched
        # Every newly touched id is unrelated to all earlier ones (not equal, ancestor or descendant).
        for old in before.touched:
            for new in new_ids:
                assert not (old == new or old.startswith(new + ".") or new.startswith(old + ".")), (old, new)
        steps.append(result)
        touched_by_step.append(new_ids)
        spec = result.spec
    # A chart-type change claims its whole panel, so on a single-panel chart it may be the only step.
    assert len(steps) >= 2 or steps[0].kind == "chart_type"
    ast.parse(chart_source(spec))
    removals = {"missing_series", "missing_element"}
    for step, ids in zip(steps, touched_by_step, strict=True):
        if step.kind in removals:
            continue
        for eid in ids:
            assert _element_exists(spec, eid), f"{step.kind} labelled {eid}, which a later step removed"
    Critique("chart", tuple(e for s in steps for e in s.errors))


@pytest.mark.browser
@pytest.mark.parametrize("kind", sorted(CHART_PERTURBATIONS))
def test_every_perturbation_changes_the_pixels(kind: str, pixel_cases: dict) -> None:
    assert pixel_cases[kind], f"{kind} applied to none of 200 seeds"
    for ref, cand, what in pixel_cases[kind]:
        assert _changed_pixels(ref, cand) >= 20, what


@pytest.mark.browser
def test_composed_perturbations_change_the_pixels(pixel_cases: dict) -> None:
    for ref, cand, what in pixel_cases["composed"]:
        assert _changed_pixels(ref, cand) >= 20, what


def _pixel_region(png_ref: bytes, png_cand: bytes) -> tuple[float, float]:
    """Centre (as fractions of width and height) of the pixels that changed."""
    x, y = _image(png_ref), _image(png_cand)
    rows, cols = np.nonzero(np.abs(x - y).max(axis=2) > 8)
    return cols.mean() / x.shape[1], rows.mean() / x.shape[0]


@pytest.mark.browser
def test_changes_land_where_the_label_says(pool: RenderPool) -> None:
    title_typos, legend_moves = [], []
    for seed in range(300):
        spec = make_chart_seed(random.Random(seed))
        if len(spec.panels) != 1 or spec.panels[0].kind in ("pie", "donut"):
            continue
        r = CHART_PERTURBATIONS["text"](spec, random.Random(seed))
        if r and r.errors[0].location == "title" and len(title_typos) < 2:
            title_typos.append((spec, r))
        r = CHART_PERTURBATIONS["legend_position"](spec, random.Random(seed))
        if r and "upper" in r.errors[0].location and "lower" in r.errors[0].description and len(legend_moves) < 2:
            legend_moves.append((spec, r))
    assert title_typos and legend_moves
    pairs = _render_pairs(pool, [(chart_source(s), chart_source(r.spec)) for s, r in title_typos + legend_moves])
    for ref, cand in pairs[: len(title_typos)]:
        _, cy = _pixel_region(ref, cand)
        assert cy < 0.15, "a title change should only touch the top of the image"
    for _, (ref, cand) in zip(legend_moves, pairs[len(title_typos) :], strict=True):
        # Old legend (top) vanishes and new (bottom) appears: the changes span both halves.
        x, y = _image(ref), _image(cand)
        rows = np.nonzero(np.abs(x - y).max(axis=2) > 8)[0] / x.shape[0]
        assert rows.min() < 0.4 and rows.max() > 0.6


@pytest.mark.browser
@pytest.mark.parametrize("name", sorted(CHART_EQUIVALENCES))
def test_equivalent_code_renders_identical_pixels(name: str, pixel_cases: dict) -> None:
    for seed in EQUIVALENCE_SEEDS:
        spec = make_chart_seed(random.Random(seed))
        assert CHART_EQUIVALENCES[name](spec, random.Random(seed)) != chart_source(spec)
    for ref, cand, what in pixel_cases[f"equiv:{name}"]:
        assert _changed_pixels(ref, cand) == 0, what


@pytest.mark.slow
@pytest.mark.browser
def test_many_seeds_all_kinds_change_pixels_and_equivalences_hold(pool: RenderPool) -> None:
    pairs_src: list[tuple[str, str]] = []
    meta: list[tuple[str, str]] = []
    for kind in sorted(CHART_PERTURBATIONS):
        for spec, r in _applied(kind, range(60))[:15]:
            pairs_src.append((chart_source(spec), chart_source(r.spec)))
            meta.append(("perturb", f"{kind} on {spec.kind}: {r.errors}"))
    for name, fn in CHART_EQUIVALENCES.items():
        for seed in range(30):
            spec = make_chart_seed(random.Random(seed))
            pairs_src.append((chart_source(spec), fn(spec, random.Random(seed))))
            meta.append(("equiv", f"{name} on {spec.kind} (seed {seed})"))
    pairs = _render_pairs(pool, pairs_src)
    unchanged = [
        m for (what, m), (a, b) in zip(meta, pairs, strict=True) if what == "perturb" and _changed_pixels(a, b) < 20
    ]
    different = [m for (what, m), (a, b) in zip(meta, pairs, strict=True) if what == "equiv" and _changed_pixels(a, b)]
    assert not unchanged
    assert not different
