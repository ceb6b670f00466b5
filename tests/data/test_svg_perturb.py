"""SVG perturbations: labels are well-formed, compose safely, and hold on the pixels cairosvg renders."""

from __future__ import annotations

import io
import random

import cairosvg
import numpy as np
import pytest
from PIL import Image

from src.data.perturb.svg import SVG_EQUIVALENCES, SVG_PERTURBATIONS
from src.data.schema import CATEGORIES, Critique
from src.data.seeds.svg import SvgSpec, make_mini_svg_seed, make_svg_seed, svg_source

PIXEL_TOLERANCE = 16  # as the synthesis pipeline's pixel check
VISIBLE_MIN_PIXELS = 12


def render(source: str) -> np.ndarray:
    """What the pool does for SVG (paper: cairosvg, 336×336 on white)."""
    png = cairosvg.svg2png(bytestring=source.encode(), output_width=336, output_height=336, background_color="white")
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def changed_pixels(a: np.ndarray, b: np.ndarray) -> int:
    return int((np.abs(a - b).max(axis=2) > PIXEL_TOLERANCE).sum())


def seed_for(kind: str, seed: int) -> SvgSpec:
    """A picture of the family the kind edits: ``grid_edit`` keeps the miniature's pictures in their family."""
    return (make_mini_svg_seed if kind == "grid_edit" else make_svg_seed)(random.Random(seed))


def applied_cases(kind: str, n: int, start: int = 0) -> list[tuple[SvgSpec, SvgSpec]]:
    cases = []
    for seed in range(start, start + 600):
        if len(cases) == n:
            break
        spec = seed_for(kind, seed)
        result = SVG_PERTURBATIONS[kind](spec, random.Random(seed))
        if result is not None:
            cases.append((spec, result.spec))
    return cases


def test_registry_covers_the_contract() -> None:
    assert len(SVG_PERTURBATIONS) >= 8 and len(SVG_EQUIVALENCES) >= 2
    cats = set()
    for seed in range(60):
        spec = make_svg_seed(random.Random(seed))
        for fn in SVG_PERTURBATIONS.values():
            result = fn(spec, random.Random(seed))
            if result:
                cats |= {e.category for e in result.errors}
    assert cats == set(CATEGORIES["svg"])


@pytest.mark.parametrize("kind", sorted(SVG_PERTURBATIONS))
def test_each_kind_changes_pixels_with_valid_labels(kind: str) -> None:
    cases = applied_cases(kind, 4)
    assert len(cases) == 4, f"{kind} applies to too few seeds"
    for ref, pert in cases:
        result_spec_source = svg_source(pert)
        assert result_spec_source != svg_source(ref)
        changed = changed_pixels(render(svg_source(ref)), render(result_spec_source))
        assert changed >= VISIBLE_MIN_PIXELS, f"{kind} on {ref.name}: only {changed} pixels changed"
    spec = cases[0][0]
    seed = next(s for s in range(600) if SVG_PERTURBATIONS[kind](seed_for(kind, s), random.Random(s)))
    result = SVG_PERTURBATIONS[kind](seed_for(kind, seed), random.Random(seed))
    assert result is not None and result.kind == kind and result.errors
    for err in result.errors:
        assert err.category in CATEGORIES["svg"] and err.location and err.description
    del spec


def test_composition_keeps_labels_about_existing_elements() -> None:
    for seed in range(150):
        rng = random.Random(seed)
        spec = make_svg_seed(rng)
        kinds = sorted(SVG_PERTURBATIONS)
        rng.shuffle(kinds)
        errors = []
        labelled: set[str] = set()
        for kind in kinds[: rng.randint(1, 4)]:
            before = {e.id for e in spec.all_elements()}
            result = SVG_PERTURBATIONS[kind](spec, rng)
            if result is None:
                continue
            labelled |= (result.spec.touched - spec.touched) & before
            spec = result.spec
            errors.extend(result.errors)
        assert labelled <= {e.id for e in spec.all_elements()}, f"seed {seed}: a label is about a removed element"
        Critique("svg", tuple(errors))
        svg_source(spec)


def test_touched_elements_are_left_alone() -> None:
    for seed in range(20):
        spec = make_svg_seed(random.Random(seed))
        frozen = SvgSpec(**{**spec.__dict__, "touched": frozenset(e.id for e in spec.all_elements()) | {"gradients"}})
        for kind, fn in SVG_PERTURBATIONS.items():
            if kind != "extra_element":  # adds a new element, touches nothing existing
                assert fn(frozen, random.Random(seed)) is None, kind


def test_position_severity_grows_with_distance() -> None:
    seen = {}
    for seed in range(80):
        result = SVG_PERTURBATIONS["position"](make_svg_seed(random.Random(seed)), random.Random(seed))
        assert result is not None
        share = int(result.errors[0].description.split("about ")[1].split("%")[0])
        seen[share] = result.errors[0].severity
    assert seen[3] == 1 and seen[7] == 2 and seen[15] == 3


def test_equivalences_render_identically() -> None:
    for seed in range(16):
        spec = make_svg_seed(random.Random(seed))
        reference = render(svg_source(spec))
        for name, fn in SVG_EQUIVALENCES.items():
            source = fn(spec, random.Random(seed))
            assert source != svg_source(spec), name
            assert changed_pixels(reference, render(source)) == 0, (name, spec.name)


@pytest.mark.slow
def test_every_kind_changes_pixels_over_many_seeds() -> None:
    invisible = []
    for kind in sorted(SVG_PERTURBATIONS):
        for ref, pert in applied_cases(kind, 40, 1000):
            if changed_pixels(render(svg_source(ref)), render(svg_source(pert))) < VISIBLE_MIN_PIXELS:
                invisible.append((kind, ref.name))
    assert not invisible
