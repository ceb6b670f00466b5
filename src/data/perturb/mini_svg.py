"""Edits of a miniature picture that keep it in its family (``grid_edit``), labelled by diffing the two pictures.

The general SVG perturbations shift by a few pixels, scale by odd factors, draw ellipses and light shades, and add
badge dots in corners: on the miniature family (``make_mini_svg_seed``: circles and squares of two sizes, six
colours, on a 3×3 grid of centres) each of them makes a candidate that no reference could be, and a critic can name
the discrepancy from the candidate alone, without comparing. A policy's wrong answers are members of the family: the
right shapes in the wrong cell, another palette colour, the other size, a circle for a square, one shape left out or
one too many. ``grid_edit`` makes exactly those, one to three at a time, so that only a comparison with the reference
tells the candidate is wrong; its labels come from ``src.data.shape_diff``, the same words a policy's answer is
labelled with.
"""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.perturb.base import Perturbation
from src.data.seeds.svg import MINI_CELLS, MINI_COLOURS, MINI_RADII, SvgSpec, svg_source
from src.data.shape_diff import Shape, UnlabelableAnswer, diff_shapes, parse_shapes, shapes_spec

EDITS = ("recolour", "resize", "reshape", "move", "remove", "add")
MAX_SHAPES = 3


def _edit(shapes: list[Shape], edit: str, rng: random.Random, changed: set[int], vacated: set[tuple]) -> bool:
    """Apply one edit in place; False when this picture offers nothing it can change."""
    free = [c for c in MINI_CELLS if c not in {(s.cx, s.cy) for s in shapes} and c not in vacated]
    if edit == "add":
        if len(shapes) >= MAX_SHAPES or not free:
            return False
        cx, cy = rng.choice(free)
        half = rng.choice(MINI_RADII)
        shapes.append(Shape(rng.choice(("circle", "square")), cx, cy, half, half, rng.choice(MINI_COLOURS)))
        changed.add(len(shapes) - 1)
        return True
    options = [i for i in range(len(shapes)) if i not in changed]
    if edit == "remove" and len(shapes) < 2:
        return False
    if not options or (edit == "move" and not free):
        return False
    i = rng.choice(options)
    s = shapes[i]
    if edit == "recolour":
        new = replace(s, fill=rng.choice([c for c in MINI_COLOURS if c != s.fill]))
    elif edit == "resize":
        half = next(r for r in MINI_RADII if r != s.hx)
        new = replace(s, hx=half, hy=half)
    elif edit == "reshape":
        new = replace(s, kind="square" if s.kind == "circle" else "circle")
    elif edit == "move":
        vacated.add((s.cx, s.cy))
        cx, cy = rng.choice(free)
        new = replace(s, cx=cx, cy=cy)
    else:  # remove
        del shapes[i]
        changed.clear()  # indices moved; at most two shapes were there, and the other one may still be edited
        return True
    shapes[i] = new
    changed.add(i)
    return True


def grid_edit(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """One to three in-family edits of a miniature picture (recolour, resize, reshape, move to a free cell, remove,
    add), labelled by diffing the result with the picture; ``None`` for a picture outside the family or one already
    edited (its labels would describe the first edit's result, not the reference)."""
    if spec.touched:
        return None
    try:
        box, before = parse_shapes(svg_source(spec))
    except UnlabelableAnswer:
        return None
    if any(
        (s.cx, s.cy) not in MINI_CELLS or s.hx not in MINI_RADII or s.kind not in ("circle", "square") for s in before
    ):
        return None
    shapes, changed, vacated = list(before), set[int](), set[tuple]()
    wanted = rng.choices((1, 2, 3), weights=(0.5, 0.35, 0.15))[0]
    done = 0
    for edit in rng.sample(EDITS, len(EDITS)):
        if done == wanted:
            break
        done += _edit(shapes, edit, rng, changed, vacated)
    after = shapes_spec(box, tuple(shapes))
    errors = diff_shapes(svg_source(spec), svg_source(after)).errors
    if not errors:
        return None
    return Perturbation(
        "grid_edit", replace(after, name=spec.name, touched=frozenset(e.id for e in after.elements)), errors
    )
