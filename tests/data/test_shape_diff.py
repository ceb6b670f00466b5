"""Labels from diffing a policy's plain-shape answer with its reference: the perturbations' vocabulary, exact
categories and severities, and a typed refusal for anything that is not plain shapes."""

from __future__ import annotations

import random

import pytest

from src.data.perturb.svg import fill_colour, shape_kind
from src.data.seeds.svg import make_mini_svg_seed, svg_source
from src.data.shape_diff import UnlabelableAnswer, diff_shapes, is_shade, label_shape_answer

HEAD = '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">'
RED_CIRCLE = '<circle cx="28" cy="28" r="14" fill="#eb5757"/>'
BLUE_SQUARE = '<rect x="78" y="78" width="44" height="44" fill="#2f80ed"/>'


def svg(*shapes: str) -> str:
    return HEAD + "".join(shapes) + "</svg>"


def labels(reference: str, answer: str) -> list[tuple[str, int]]:
    return sorted((e.category, e.severity) for e in diff_shapes(reference, answer).errors)


def test_the_reference_itself_has_no_discrepancy_whatever_the_order_or_fence() -> None:
    reference = svg(RED_CIRCLE, BLUE_SQUARE)
    assert labels(reference, svg(BLUE_SQUARE, RED_CIRCLE)) == []
    assert label_shape_answer(reference, f"Here it is:\n```svg\n{reference}\n```").errors == ()


@pytest.mark.parametrize("perturb", [fill_colour, shape_kind])
def test_labels_agree_with_the_perturbation_that_made_the_candidate(perturb) -> None:
    rng = random.Random(0)
    checked = 0
    for _ in range(200):
        spec = make_mini_svg_seed(rng)
        edit = perturb(spec, rng)
        if edit is None:
            continue
        found = diff_shapes(svg_source(spec), svg_source(edit.spec)).errors
        assert [(e.category, e.severity) for e in found] == [(e.category, e.severity) for e in edit.errors]
        assert found[0].location == edit.errors[0].location  # same role and region words
        checked += 1
    assert checked > 150


def test_a_shape_in_another_cell_is_one_severe_shift() -> None:
    moved = '<circle cx="100" cy="28" r="14" fill="#eb5757"/>'
    (error,) = diff_shapes(svg(RED_CIRCLE, BLUE_SQUARE), svg(moved, BLUE_SQUARE)).errors
    assert (error.category, error.severity) == ("shape", 3)
    assert error.description == "shifted right by about 56% of the canvas"
    assert error.location == "circle, top left"  # where the reference has it


def test_missing_and_extra_shapes_are_structure_errors() -> None:
    assert labels(svg(RED_CIRCLE, BLUE_SQUARE), svg(BLUE_SQUARE)) == [("structure", 3)]
    (extra,) = diff_shapes(svg(BLUE_SQUARE), svg(BLUE_SQUARE, RED_CIRCLE)).errors
    assert (extra.category, extra.severity, extra.location) == ("structure", 2, "circle, top left")


def test_every_change_to_one_shape_is_named_and_more_change_weighs_more() -> None:
    reference = svg(RED_CIRCLE)
    recoloured = svg('<circle cx="28" cy="28" r="14" fill="#27ae60"/>')
    everything = svg('<rect x="42" y="6" width="44" height="44" fill="#27ae60"/>')  # square, green, larger, moved
    assert labels(reference, recoloured) == [("style", 2)]
    assert labels(reference, everything) == [("shape", 2), ("shape", 3), ("shape", 3), ("style", 2)]
    totals = [diff_shapes(reference, a).severity_sum for a in (reference, recoloured, everything)]
    assert totals == sorted(totals) and len(set(totals)) == 3


def test_shades_keep_the_hue_and_palette_colours_do_not() -> None:
    assert is_shade("#eb5757", "#f39a9a") and is_shade("#333333", "#808080")
    assert not is_shade("#eb5757", "#f2994a") and not is_shade("#333333", "#2f80ed")


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("no code at all", "no SVG markup"),
        (svg('<path d="M0 0L9 9" fill="#eb5757"/>'), "not a plain shape"),
        (svg('<circle cx="28" cy="28" r="14" fill="#eb5757" transform="scale(2)"/>'), "a transform or children"),
        (svg('<circle cx="28" cy="28" r="14" fill="red"/>'), "fill not a #rrggbb colour"),
        (svg('<circle cx="28" cy="nan" r="14" fill="#eb5757"/>'), "geometry not a finite number"),
        (svg('<circle cx="28" cy="28" fill="#eb5757"/>'), "geometry not a finite number"),
        (HEAD + "<circle", "markup does not parse"),
        (svg(RED_CIRCLE).replace("0 0 128 128", "0 0 64 64"), "another viewBox"),
    ],
)
def test_anything_but_plain_solid_shapes_is_refused_with_its_reason(answer: str, reason: str) -> None:
    with pytest.raises(UnlabelableAnswer) as caught:
        label_shape_answer(svg(RED_CIRCLE), answer)
    assert caught.value.reason == reason


def test_grid_edits_stay_in_the_family_so_only_a_comparison_tells_them() -> None:
    from src.data.perturb.mini_svg import grid_edit
    from src.data.seeds.svg import MINI_CELLS, MINI_COLOURS, MINI_RADII, make_svg_seed
    from src.data.shape_diff import parse_shapes

    rng = random.Random(1)
    words = set()
    for _ in range(300):
        spec = make_mini_svg_seed(rng)
        edit = grid_edit(spec, rng)
        assert edit is not None  # every miniature picture offers an edit
        _, shapes = parse_shapes(svg_source(edit.spec))
        for s in shapes:  # a picture make_mini_svg_seed could have drawn (up to three shapes)
            assert (s.cx, s.cy) in MINI_CELLS and s.hx in MINI_RADII and s.fill in MINI_COLOURS, s
            assert s.kind in ("circle", "square")
        assert [(e.category, e.severity, e.description) for e in edit.errors] == [
            (e.category, e.severity, e.description) for e in diff_shapes(svg_source(spec), svg_source(edit.spec)).errors
        ]
        words |= {e.description.split()[0] for e in edit.errors}
    assert words >= {"filled", "larger", "smaller", "drawn", "shifted", "the", "an"}  # all six edits occur
    assert grid_edit(make_svg_seed(random.Random(0)), rng) is None  # not a miniature picture
