"""The miniature's data: the plain-shape seed family, restricted perturbation kinds, and a cap on perturbations."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from src.data.seeds import seed_functions
from src.data.seeds.svg import MINI_CANVAS, make_mini_svg_seed, svg_source
from src.data.synthesis import SynthesisConfig, plan_candidate, reference_spec, summarize, synthesize


def test_mini_seeds_are_one_or_two_shapes_in_separate_cells() -> None:
    counts = set()
    for k in range(200):
        spec = make_mini_svg_seed(random.Random(k))
        assert (spec.width, spec.height) == (MINI_CANVAS, MINI_CANVAS)
        kinds = [e.kind for e in spec.elements]
        counts.add(len(kinds))
        assert set(kinds) <= {"rect", "circle"}
        assert svg_source(spec) == svg_source(make_mini_svg_seed(random.Random(k)))  # a pure function of the rng
    assert counts == {1, 2}


def test_the_mini_family_exists_for_svg_only() -> None:
    assert seed_functions("svg", "mini").make_seed is make_mini_svg_seed
    with pytest.raises(ValueError, match="svg only"):
        SynthesisConfig(domains=("chart",), seed_family="mini")


def test_perturbations_are_drawn_from_the_kinds_asked_for_and_capped() -> None:
    config = SynthesisConfig(
        domains=("svg",), seed_family="mini", perturbation_kinds=("fill_colour", "position"), max_perturbations=1
    )
    applied = set()
    for index in range(60):
        spec = reference_spec(0, "svg", index, "mini")
        plan = plan_candidate(config, "svg", index, spec, svg_source(spec))
        if getattr(plan, "kind", None) == "perturbed":
            assert len(plan.perturbations) == 1 and len(plan.errors) >= 1
            applied.update(plan.perturbations)
    assert applied == {"fill_colour", "position"}
    with pytest.raises(ValueError, match="perturbation_kinds"):
        SynthesisConfig(domains=("svg",), perturbation_kinds=("no_such_kind",))
    with pytest.raises(ValueError, match="max_perturbations"):
        SynthesisConfig(domains=("svg",), max_perturbations=0)


def test_a_small_mini_synthesis_renders_its_pairs(tmp_path: Path) -> None:
    config = SynthesisConfig(domains=("svg",), n_per_domain=12, seed_family="mini", workers=1, max_perturbations=2)
    synthesize(tmp_path, config, progress=False)
    summary = summarize(tmp_path)
    assert summary["kept"] == 12
