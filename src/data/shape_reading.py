"""A critic's reading of a plain-shape pair, one line per shape and its counterpart (``paired_reading``).

A critic that writes the code of both images before its critique still has to match the shapes of two code blocks
a hundred tokens apart before it can compare them. Written as pairs — each reference shape beside the answer shape
that stands for it, in the order the critique names their differences — every discrepancy can be read off one line.
The pairing is ``shape_diff.counterparts``, so the reading, the critique and the labels agree.

    circle 28,28 14 #eb5757 -> circle 64,28 14 #eb5757
    square 100,100 22 #2d9cdb -> none
    none -> circle 28,100 22 #f2c94c
"""

from __future__ import annotations

import re

from src.data.shape_diff import Shape, UnlabelableAnswer, counterparts, parse_shapes

ABSENT = "none"
_NUMBER = r"-?\d+(?:\.\d+)?"
_SHAPE = re.compile(
    rf"(circle|square|rectangle|ellipse) ({_NUMBER}),({_NUMBER}) ({_NUMBER})(?:x({_NUMBER}))? (#[0-9a-f]{{6}})"
)


def shape_words(shape: Shape) -> str:
    """``kind cx,cy half fill``; the half-size is ``hx`` x ``hy`` for a shape that is not round or square."""
    size = f"{shape.hx:g}" if shape.hx == shape.hy else f"{shape.hx:g}x{shape.hy:g}"
    return f"{shape.kind} {shape.cx:g},{shape.cy:g} {size} {shape.fill}"


def paired_reading(reference_svg: str, answer_svg: str) -> str:
    """Both pictures' shapes, a line per reference shape and its counterpart (``none`` where one has no partner)."""
    _, reference = parse_shapes(reference_svg)
    _, answer = parse_shapes(answer_svg)
    lines = []
    for i, j in counterparts(reference, answer):
        left = shape_words(reference[i]) if i is not None else ABSENT
        right = shape_words(answer[j]) if j is not None else ABSENT
        lines.append(f"{left} -> {right}")
    return "\n".join(lines)


def _shape(words: str, line: int) -> Shape | None:
    if words == ABSENT:
        return None
    match = _SHAPE.fullmatch(words)
    if match is None:
        raise UnlabelableAnswer("reading not a shape", f"line {line}: {words!r}")
    kind, cx, cy, hx, hy, fill = match.groups()
    return Shape(kind, float(cx), float(cy), float(hx), float(hy if hy is not None else hx), fill)


def read_pairs(reading: str) -> tuple[tuple[Shape, ...], tuple[Shape, ...]]:
    """The reference's and the answer's shapes a paired reading names, each in line order."""
    reference: list[Shape] = []
    answer: list[Shape] = []
    for n, line in enumerate(reading.strip().splitlines(), 1):
        left, sep, right = line.strip().partition(" -> ")
        if not sep:
            raise UnlabelableAnswer("reading line without ' -> '", f"line {n}: {line!r}")
        for side, shapes in ((left, reference), (right, answer)):
            shape = _shape(side.strip(), n)
            if shape is not None:
                shapes.append(shape)
    return tuple(reference), tuple(answer)
