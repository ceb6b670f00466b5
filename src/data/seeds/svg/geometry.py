"""Geometry of a spec: affine transforms, bounding boxes on the canvas and the location phrases built from them.

Perturbations use these to name where an edit happened ("envelope flap, top centre") and how much of the canvas it
covers.
"""

from __future__ import annotations

import math

from src.data.seeds.svg.spec import SvgElement, SvgSpec, Transform

Matrix = tuple[float, float, float, float, float, float]  # SVG's (a b c d e f)
IDENTITY: Matrix = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)


def _mul(m: Matrix, n: Matrix) -> Matrix:
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return (
        a * a2 + c * b2,
        b * a2 + d * b2,
        a * c2 + c * d2,
        b * c2 + d * d2,
        a * e2 + c * f2 + e,
        b * e2 + d * f2 + f,
    )


def transform_matrix(transform: Transform) -> Matrix:
    m = IDENTITY
    for op, args in transform:
        if op == "translate":
            n: Matrix = (1, 0, 0, 1, args[0], args[1] if len(args) > 1 else 0.0)
        elif op == "scale":
            n = (args[0], 0, 0, args[1] if len(args) > 1 else args[0], 0, 0)
        elif op == "rotate":
            t = math.radians(args[0])
            cx, cy = (args[1], args[2]) if len(args) == 3 else (0.0, 0.0)
            rot: Matrix = (math.cos(t), math.sin(t), -math.sin(t), math.cos(t), 0, 0)
            n = _mul(_mul((1, 0, 0, 1, cx, cy), rot), (1, 0, 0, 1, -cx, -cy))
        else:
            raise ValueError(f"unsupported transform {op!r}")
        m = _mul(m, n)
    return m


def _apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return a * x + c * y + e, b * x + d * y + f


BBox = tuple[float, float, float, float]  # x0, y0, x1, y1


def local_bbox(e: SvgElement) -> BBox | None:
    """Bounding box in the element's own coordinates (before its transform), stroke included; None when empty."""
    g = e.geom
    if e.kind == "rect":
        box = (g["x"], g["y"], g["x"] + g["width"], g["y"] + g["height"])
    elif e.kind == "circle":
        box = (g["cx"] - g["r"], g["cy"] - g["r"], g["cx"] + g["r"], g["cy"] + g["r"])
    elif e.kind == "ellipse":
        box = (g["cx"] - g["rx"], g["cy"] - g["ry"], g["cx"] + g["rx"], g["cy"] + g["ry"])
    elif e.kind == "line":
        box = (min(g["x1"], g["x2"]), min(g["y1"], g["y2"]), max(g["x1"], g["x2"]), max(g["y1"], g["y2"]))
    elif e.kind in ("polyline", "polygon"):
        xs, ys = [p[0] for p in e.points], [p[1] for p in e.points]
        box = (min(xs), min(ys), max(xs), max(ys))
    elif e.kind == "path":
        xs, ys = [], []
        for cmd, args in e.path:
            if cmd == "A":  # endpoint, widened by the radii: a safe over-estimate of the arc
                xs += [args[5] - args[0], args[5] + args[0]]
                ys += [args[6] - args[1], args[6] + args[1]]
            else:
                xs += list(args[0::2])
                ys += list(args[1::2])
        box = (min(xs), min(ys), max(xs), max(ys))
    elif e.kind == "text":
        size = g["font_size"]
        width = 0.58 * size * len(e.text)
        x0 = g["x"] - {"start": 0.0, "middle": width / 2, "end": width}[e.anchor]
        box = (x0, g["y"] - 0.75 * size, x0 + width, g["y"] + 0.25 * size)
    else:  # group
        boxes = [b for c in e.children if (b := element_bbox(c)) is not None]
        if not boxes:
            return None
        box = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
    half = e.stroke_width / 2 if e.stroke != "none" else 0.0
    return box[0] - half, box[1] - half, box[2] + half, box[3] + half


def element_bbox(e: SvgElement, parent: Matrix = IDENTITY) -> BBox | None:
    """Bounding box in the parent's coordinates (``parent`` maps those to the canvas)."""
    box = local_bbox(e)
    if box is None:
        return None
    m = _mul(parent, transform_matrix(e.transform))
    corners = [_apply(m, x, y) for x in (box[0], box[2]) for y in (box[1], box[3])]
    return (
        min(p[0] for p in corners),
        min(p[1] for p in corners),
        max(p[0] for p in corners),
        max(p[1] for p in corners),
    )


def canvas_bboxes(spec: SvgSpec) -> dict[str, BBox]:
    """Element id -> bounding box on the canvas (viewBox units), through all ancestor transforms."""
    out: dict[str, BBox] = {}

    def visit(e: SvgElement, parent: Matrix) -> None:
        box = element_bbox(e, parent)
        if box is not None:
            out[e.id] = box
        m = _mul(parent, transform_matrix(e.transform))
        for c in e.children:
            visit(c, m)

    for e in spec.elements:
        visit(e, IDENTITY)
    return out


def region_phrase(spec: SvgSpec, box: BBox) -> str:
    """Where a box sits on the canvas in words: "top left", "centre", "bottom centre"."""
    vx, vy, vw, vh = spec.view_box
    cx = ((box[0] + box[2]) / 2 - vx) / vw
    cy = ((box[1] + box[3]) / 2 - vy) / vh
    col = "left" if cx < 0.36 else "right" if cx > 0.64 else "centre"
    row = "top" if cy < 0.36 else "bottom" if cy > 0.64 else "middle"
    if row == "middle":
        return "centre" if col == "centre" else f"middle {col}"
    return f"{row} {col}"


def element_location(spec: SvgSpec, element_id: str) -> str:
    """A location phrase: the element's role and where it sits ("envelope flap, top centre")."""
    e = spec.find(element_id)
    box = canvas_bboxes(spec).get(element_id)
    return f"{e.role}, {region_phrase(spec, box)}" if box else e.role


def canvas_area_fraction(spec: SvgSpec, element_id: str) -> float:
    box = canvas_bboxes(spec).get(element_id)
    if box is None:
        return 0.0
    return (box[2] - box[0]) * (box[3] - box[1]) / (spec.view_box[2] * spec.view_box[3])
