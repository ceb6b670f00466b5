"""A critic's side-by-side reading of a plain-shape pair: each reference shape on one line with the answer shape
standing for it, in the critique's order, and read back to the same labels."""

from __future__ import annotations

import random

import pytest

from src.data.perturb.mini_svg import grid_edit
from src.data.seeds.svg import make_mini_svg_seed, svg_source
from src.data.shape_diff import UnlabelableAnswer, diff_shape_sets, diff_shapes, parse_shapes
from src.data.shape_reading import paired_reading, read_pairs

HEAD = '<svg xmlns="http://www.w3.org/2000/svg" width="128" height="128" viewBox="0 0 128 128">'
RED_CIRCLE = '<circle cx="28" cy="28" r="14" fill="#eb5757"/>'
BLUE_SQUARE = '<rect x="78" y="78" width="44" height="44" fill="#2f80ed"/>'


def svg(*shapes: str) -> str:
    return HEAD + "".join(shapes) + "</svg>"


def test_each_shape_sits_beside_its_counterpart_in_the_order_the_critique_names_them() -> None:
    moved_green = '<circle cx="100" cy="28" r="14" fill="#27ae60"/>'  # the red circle, moved and recoloured
    extra = '<rect x="6" y="78" width="44" height="44" fill="#f2994a"/>'
    reading = paired_reading(svg(RED_CIRCLE, BLUE_SQUARE), svg(moved_green, extra))
    # the square left over pairs with the extra one as a move (nearest), as diff_shapes pairs them
    assert reading.splitlines() == [
        "circle 28,28 14 #eb5757 -> circle 100,28 14 #27ae60",
        "square 100,100 22 #2f80ed -> square 28,100 22 #f2994a",
    ]
    assert paired_reading(svg(RED_CIRCLE, BLUE_SQUARE), svg(BLUE_SQUARE)).splitlines() == [
        "square 100,100 22 #2f80ed -> square 100,100 22 #2f80ed",
        "circle 28,28 14 #eb5757 -> none",
    ]
    assert paired_reading(svg(RED_CIRCLE), svg(RED_CIRCLE, BLUE_SQUARE)).splitlines()[-1] == (
        "none -> square 100,100 22 #2f80ed"
    )
    critique = diff_shapes(svg(RED_CIRCLE, BLUE_SQUARE), svg(BLUE_SQUARE))
    assert [e.description for e in critique.errors] == ["the circle is missing"]  # the line with "none", last


def test_a_reading_reads_back_to_the_labels_of_the_pair_it_was_written_for() -> None:
    rng = random.Random(0)
    checked = 0
    for _ in range(300):
        spec = make_mini_svg_seed(rng)
        edit = grid_edit(spec, rng)
        if edit is None:
            continue
        reference, candidate = svg_source(spec), svg_source(edit.spec)
        shapes = read_pairs(paired_reading(reference, candidate))
        box = parse_shapes(reference)[0]
        assert diff_shape_sets(box, *shapes) == diff_shapes(reference, candidate)
        checked += 1
    assert checked > 250


@pytest.mark.parametrize(
    "reading, reason",
    [
        ("circle 28,28 14 #eb5757", "reading line without ' -> '"),
        ("a red circle -> none", "reading not a shape"),
        ("circle 28,28 14 red -> none", "reading not a shape"),
    ],
)
def test_a_line_that_names_no_shape_is_refused_with_its_reason(reading: str, reason: str) -> None:
    with pytest.raises(UnlabelableAnswer) as error:
        read_pairs(reading)
    assert error.value.reason == reason


def test_shapes_that_are_not_round_or_square_keep_both_half_sizes() -> None:
    ellipse = '<ellipse cx="64" cy="64" rx="20" ry="10" fill="#2d9cdb"/>'
    reading = paired_reading(svg(ellipse), svg(ellipse))
    assert reading == "ellipse 64,64 20x10 #2d9cdb -> ellipse 64,64 20x10 #2d9cdb"
    assert read_pairs(reading)[0][0].hy == 10
