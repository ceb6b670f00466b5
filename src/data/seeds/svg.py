"""SVG seeds: structured specs of icons and small diagrams, and the SVG source they emit.

What icon-SVG benchmarks contain: app icons and pictograms built from a few primitives (house, gear, envelope, chart
icon, battery, weather, magnifier, heart, map pin, calendar, chat bubble, lock, play button) with gradients, strokes,
rounded corners and group transforms, plus diagram-like SVGs (flowcharts with labelled boxes and arrows, org charts).

Every element carries a ``role`` ("envelope flap") so a perturbation can name what it changed, and its geometry in
numbers (never a pre-formatted string) so bounding boxes, locations ("top left") and edits are exact. Emission knobs
(``SvgVariant``) write the same picture in other ways for the equivalence rewrites, from one emitter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

ElementKind = Literal["rect", "circle", "ellipse", "line", "polyline", "polygon", "path", "text", "group"]
Transform = tuple[tuple[str, tuple[float, ...]], ...]  # ("translate", (x, y)), ("rotate", (a, cx, cy)), ("scale", (s,))
PathCommand = tuple[str, tuple[float, ...]]  # absolute: M L C Q A Z


@dataclass(frozen=True)
class SvgElement:
    """One drawable (or a group of them). Paints are ``#rrggbb``, ``none`` or ``url(#id)`` of a gradient."""

    id: str
    kind: ElementKind
    role: str
    geom: dict[str, float] = field(default_factory=dict)
    points: tuple[tuple[float, float], ...] = ()
    path: tuple[PathCommand, ...] = ()
    text: str = ""
    fill: str = "none"
    stroke: str = "none"
    stroke_width: float = 0.0
    opacity: float = 1.0
    transform: Transform = ()
    children: tuple[SvgElement, ...] = ()
    font_weight: str = "normal"
    anchor: Literal["start", "middle", "end"] = "middle"
    linecap: str = "butt"
    directional: bool = False  # an arrow or pointer whose orientation carries meaning

    def __post_init__(self) -> None:
        needed = {"rect": ("x", "y", "width", "height"), "circle": ("cx", "cy", "r"), "ellipse": ("cx", "cy", "rx", "ry"),
                  "line": ("x1", "y1", "x2", "y2"), "text": ("x", "y", "font_size")}.get(self.kind, ())  # fmt: skip
        missing = [k for k in needed if k not in self.geom]
        if missing:
            raise ValueError(f"{self.kind} {self.id!r} ({self.role}): geometry lacks {missing}")
        if self.kind in ("polyline", "polygon") and len(self.points) < 2:
            raise ValueError(f"{self.kind} {self.id!r} ({self.role}) needs at least 2 points")
        if self.kind == "path" and (not self.path or self.path[0][0] != "M"):
            raise ValueError(f"path {self.id!r} ({self.role}) must start with an M command")
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"element {self.id!r}: opacity {self.opacity} outside [0, 1]")

    def walk(self) -> list[SvgElement]:
        """This element and all its descendants, in document (paint) order."""
        return [self] + [d for c in self.children for d in c.walk()]


@dataclass(frozen=True)
class Gradient:
    """A gradient in ``<defs>``; coordinates are fractions of the painted element's bounding box."""

    id: str
    kind: Literal["linear", "radial"] = "linear"
    stops: tuple[tuple[float, str], ...] = ((0.0, "#4f8ef7"), (1.0, "#2455c3"))
    x1: float = 0.0
    y1: float = 0.0
    x2: float = 0.0
    y2: float = 1.0


@dataclass(frozen=True)
class SvgSpec:
    """A whole SVG: a viewBox, gradients, and the top-level elements in paint order."""

    name: str
    view_box: tuple[float, float, float, float]
    elements: tuple[SvgElement, ...]
    gradients: tuple[Gradient, ...] = ()
    width: int = 64
    height: int = 64
    touched: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        ids = [e.id for e in self.all_elements()]
        if len(ids) != len(set(ids)):
            raise ValueError(f"{self.name}: element ids are not unique")
        known = {g.id for g in self.gradients}
        for e in self.all_elements():
            for paint in (e.fill, e.stroke):
                if paint.startswith("url(#") and paint[5:-1] not in known:
                    raise ValueError(f"element {e.id!r} ({e.role}) refers to unknown gradient {paint}")

    def all_elements(self) -> list[SvgElement]:
        return [d for e in self.elements for d in e.walk()]

    def find(self, element_id: str) -> SvgElement:
        for e in self.all_elements():
            if e.id == element_id:
                return e
        raise KeyError(f"no element {element_id!r} in {self.name}")


# ---------------------------------------------------------------------------------------------------------------
# Geometry: affine transforms, bounding boxes and location phrases.

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


# ---------------------------------------------------------------------------------------------------------------
# Emission.


def fmt_num(v: float) -> str:
    """Numbers as icon files write them: at most two decimals, no trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(frozen=True)
class SvgVariant:
    """Ways to write the same picture; defaults are the canonical source (see ``src.data.perturb.svg``)."""

    indent: str = "  "
    reverse_attributes: bool = False
    relative_paths: bool = False
    colour: Callable[[str], str] = lambda c: c
    flatten_groups: bool = False  # push a group's transform onto its children, drop the <g>
    wrap_in_group: bool = False  # one extra <g> around everything


def path_data(commands: tuple[PathCommand, ...], relative: bool = False) -> str:
    """The ``d`` attribute; ``relative`` writes lower-case commands with offsets from the current point."""
    parts = []
    cur = (0.0, 0.0)
    start = (0.0, 0.0)
    for i, (cmd, args) in enumerate(commands):
        if cmd == "Z":
            parts.append("z" if relative else "Z")
            cur = start
            continue
        end = (args[-2], args[-1])
        if relative and i > 0:
            if cmd == "A":
                shown = [*args[:5], args[5] - cur[0], args[6] - cur[1]]
            else:
                shown = [v - (cur[0] if k % 2 == 0 else cur[1]) for k, v in enumerate(args)]
            parts.append(cmd.lower() + " ".join(fmt_num(v) for v in shown))
        else:
            parts.append(cmd + " ".join(fmt_num(v) for v in args))
        cur = end
        if cmd == "M":
            start = end
    return " ".join(parts)


def transform_text(transform: Transform) -> str:
    return " ".join(f"{op}({' '.join(fmt_num(a) for a in args)})" for op, args in transform)


def _paint(value: str, v: SvgVariant) -> str:
    return value if value == "none" or value.startswith("url(") else v.colour(value)


def _attrs(e: SvgElement, v: SvgVariant) -> list[tuple[str, str]]:
    g = e.geom
    attrs: list[tuple[str, str]] = []
    if e.kind in ("rect", "circle", "ellipse", "line"):
        attrs += [(k, fmt_num(g[k])) for k in ("x", "y", "width", "height", "rx", "cx", "cy", "r", "ry",
                                               "x1", "y1", "x2", "y2") if k in g]  # fmt: skip
    elif e.kind in ("polyline", "polygon"):
        attrs.append(("points", " ".join(f"{fmt_num(x)},{fmt_num(y)}" for x, y in e.points)))
    elif e.kind == "path":
        attrs.append(("d", path_data(e.path, v.relative_paths)))
    elif e.kind == "text":
        attrs += [("x", fmt_num(g["x"])), ("y", fmt_num(g["y"])), ("font-size", fmt_num(g["font_size"])),
                  ("font-family", "DejaVu Sans, Arial, sans-serif"), ("text-anchor", e.anchor)]  # fmt: skip
        if e.font_weight != "normal":
            attrs.append(("font-weight", e.font_weight))
    if e.kind != "group":
        attrs.append(("fill", _paint(e.fill, v)))
        if e.stroke != "none":
            attrs += [("stroke", _paint(e.stroke, v)), ("stroke-width", fmt_num(e.stroke_width))]
            if e.linecap != "butt":
                attrs.append(("stroke-linecap", e.linecap))
    if e.opacity < 1.0:
        attrs.append(("opacity", fmt_num(e.opacity)))
    if e.transform:
        attrs.append(("transform", transform_text(e.transform)))
    return list(reversed(attrs)) if v.reverse_attributes else attrs


def _emit(e: SvgElement, v: SvgVariant, depth: int, out: list[str]) -> None:
    pad = v.indent * depth
    if e.kind == "group" and v.flatten_groups and e.opacity == 1.0:
        for child in e.children:
            _emit(replace(child, transform=e.transform + child.transform), v, depth, out)
        return
    attr_text = "".join(f' {k}="{val}"' for k, val in _attrs(e, v))
    if e.kind == "group":
        out.append(f"{pad}<g{attr_text}>")
        for child in e.children:
            _emit(child, v, depth + 1, out)
        out.append(f"{pad}</g>")
    elif e.kind == "text":
        escaped = e.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        out.append(f"{pad}<text{attr_text}>{escaped}</text>")
    else:
        out.append(f"{pad}<{e.kind}{attr_text}/>")


def svg_source(spec: SvgSpec, v: SvgVariant | None = None) -> str:
    """The spec as an SVG document written in variant ``v`` (canonical when None)."""
    v = v or SvgVariant()
    vb = " ".join(fmt_num(x) for x in spec.view_box)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{spec.width}" height="{spec.height}" viewBox="{vb}">']
    if spec.gradients:
        out.append(f"{v.indent}<defs>")
        for gr in spec.gradients:
            if gr.kind == "linear":
                head = (f'<linearGradient id="{gr.id}" x1="{fmt_num(gr.x1)}" y1="{fmt_num(gr.y1)}" '
                        f'x2="{fmt_num(gr.x2)}" y2="{fmt_num(gr.y2)}">')  # fmt: skip
            else:
                head = f'<radialGradient id="{gr.id}" cx="0.5" cy="0.5" r="0.5">'
            out.append(v.indent * 2 + head)
            for offset, colour in gr.stops:
                out.append(f'{v.indent * 3}<stop offset="{fmt_num(offset)}" stop-color="{v.colour(colour)}"/>')
            out.append(f"{v.indent * 2}</{gr.kind}Gradient>")
        out.append(f"{v.indent}</defs>")
    depth = 1
    if v.wrap_in_group:
        out.append(f"{v.indent}<g>")
        depth = 2
    for e in spec.elements:
        _emit(e, v, depth, out)
    if v.wrap_in_group:
        out.append(f"{v.indent}</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Generators. Icons draw on a 64×64 viewBox, diagrams on 400×300.


class _Ids:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> str:
        self.n += 1
        return f"e{self.n}"


def _rect(i: _Ids, role: str, x: float, y: float, w: float, h: float, fill: str, rx: float = 0, **kw) -> SvgElement:
    geom = {"x": x, "y": y, "width": w, "height": h}
    if rx:
        geom["rx"] = rx
    return SvgElement(i(), "rect", role, geom, fill=fill, **kw)


def _circle(i: _Ids, role: str, cx: float, cy: float, r: float, fill: str, **kw) -> SvgElement:
    return SvgElement(i(), "circle", role, {"cx": cx, "cy": cy, "r": r}, fill=fill, **kw)


_PALETTES = [
    ("#2f80ed", "#56ccf2", "#f2994a", "#ffffff", "#1b3a5c"),
    ("#27ae60", "#6fcf97", "#f2c94c", "#ffffff", "#1e4d2b"),
    ("#eb5757", "#ff9a8b", "#f2c94c", "#ffffff", "#5c1b1b"),
    ("#9b51e0", "#bb6bd9", "#56ccf2", "#ffffff", "#3b1b5c"),
    ("#f2994a", "#f2c94c", "#2d9cdb", "#ffffff", "#5c3a1b"),
    ("#333333", "#828282", "#eb5757", "#ffffff", "#111111"),
]


def _house(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    roof_top = rng.uniform(8, 12)
    return [
        _rect(i, "chimney", 40, roof_top + 4, 6, 12, dark),
        SvgElement(i(), "polygon", "roof", points=((8, 30), (32, roof_top), (56, 30)), fill=accent),
        _rect(i, "house body", 14, 30, 36, 24, main),
        _rect(i, "door", 28, 40, 9, 14, dark, rx=1),
        _rect(i, "window", 17, 34, 8, 8, white, stroke=dark, stroke_width=1),
        _rect(i, "window", 40, 34, 7, 8, white, stroke=dark, stroke_width=1),
    ]


def _gear(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    teeth = rng.choice([6, 8, 10])
    cx = cy = 32.0
    r_out, r_in = 24.0, rng.uniform(17, 19)
    cmds: list[PathCommand] = []
    for k in range(teeth):
        a0 = 2 * math.pi * k / teeth
        half = math.pi / teeth * 0.5
        for a, r in ((a0 - half * 1.4, r_in), (a0 - half, r_out), (a0 + half, r_out), (a0 + half * 1.4, r_in)):
            cmds.append(("M" if not cmds else "L", (round(cx + r * math.cos(a), 2), round(cy + r * math.sin(a), 2))))
    cmds.append(("Z", ()))
    return [
        SvgElement(i(), "path", "gear teeth", path=tuple(cmds), fill=main, stroke=dark, stroke_width=1),
        _circle(i, "gear hub", cx, cy, 8, white, stroke=dark, stroke_width=1.5),
        _circle(i, "axle", cx, cy, 3, accent),
    ]


def _envelope(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    top = rng.uniform(14, 18)
    return [
        _rect(i, "envelope body", 8, top, 48, 34, light, rx=3, stroke=dark, stroke_width=1.5),
        SvgElement(
            i(),
            "polyline",
            "envelope flap",
            points=((9, top + 2), (32, top + 20), (55, top + 2)),
            stroke=dark,
            stroke_width=2,
            linecap="round",
        ),  # fmt: skip
        _circle(i, "notification dot", 52, top, 6, accent),
    ]


def _chart_icon(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    heights = [rng.uniform(10, 36) for _ in range(4)]
    bars = [_rect(i, f"bar {k + 1}", 14 + k * 11, 52 - h, 8, h, main if k % 2 == 0 else light)
            for k, h in enumerate(heights)]  # fmt: skip
    trend = tuple((18 + k * 11, 52 - h - 5) for k, h in enumerate(heights))
    return [
        SvgElement(
            i(),
            "path",
            "chart axes",
            path=(("M", (10, 8)), ("L", (10, 54)), ("L", (58, 54))),
            stroke=dark,
            stroke_width=2.5,
        ),  # fmt: skip
        *bars,
        SvgElement(i(), "polyline", "trend line", points=trend, stroke=accent, stroke_width=2, linecap="round"),
    ]


def _battery(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    level = rng.uniform(0.25, 0.95)
    colour = "#27ae60" if level > 0.5 else "#f2c94c" if level > 0.3 else "#eb5757"
    return [
        _rect(i, "battery case", 6, 20, 46, 24, white, rx=4, stroke=dark, stroke_width=3),
        _rect(i, "battery terminal", 52, 27, 5, 10, dark, rx=1),
        _rect(i, "charge level", 10, 24, 38 * level, 16, colour, rx=2),
        SvgElement(
            i(),
            "polygon",
            "lightning bolt",
            points=((30, 22), (22, 33), (29, 33), (26, 42), (36, 30), (29, 30)),
            fill=white,
            stroke=dark,
            stroke_width=1,
        ),  # fmt: skip
    ]


def _weather(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    rays = []
    n = rng.choice([8, 12])
    for k in range(n):
        rays.append(SvgElement(i(), "line", "sun ray", {"x1": 22, "y1": 4, "x2": 22, "y2": 9},
                               stroke="#f2994a", stroke_width=2.5, linecap="round",
                               transform=(("rotate", (360 * k / n, 22, 22)),)))  # fmt: skip
    sun = SvgElement(i(), "group", "sun rays", children=tuple(rays))
    cloud = SvgElement(i(), "path", "cloud", path=(("M", (18, 52)), ("A", (9, 9, 0, 0, 1, 20, 35)),
                       ("A", (12, 12, 0, 0, 1, 43, 31)), ("A", (10, 10, 0, 0, 1, 50, 52)), ("Z", ())),
                       fill="#ffffff", stroke="#828282", stroke_width=2)  # fmt: skip
    items = [sun, _circle(i, "sun", 22, 22, rng.uniform(9, 11), "#f2c94c"), cloud]
    if rng.random() < 0.5:
        items += [SvgElement(i(), "line", "raindrop", {"x1": x, "y1": 56, "x2": x - 2, "y2": 61}, stroke="#2f80ed",
                             stroke_width=2, linecap="round") for x in (26, 34, 42)]  # fmt: skip
    return items


def _magnifier(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    return [
        SvgElement(
            i(),
            "line",
            "magnifier handle",
            {"x1": 38, "y1": 38, "x2": 56, "y2": 56},
            stroke=dark,
            stroke_width=7,
            linecap="round",
        ),  # fmt: skip
        _circle(i, "magnifier lens", 26, 26, rng.uniform(15, 18), light, stroke=main, stroke_width=5),
        SvgElement(
            i(),
            "path",
            "lens glare",
            path=(("M", (17, 24)), ("A", (9, 9, 0, 0, 1, 24, 17))),
            stroke=white,
            stroke_width=2.5,
            linecap="round",
        ),  # fmt: skip
    ]


def _heart(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    return [
        SvgElement(
            i(),
            "path",
            "heart",
            path=(
                ("M", (32, 54)),
                ("C", (10, 40, 4, 26, 14, 16)),
                ("C", (22, 8, 30, 12, 32, 20)),
                ("C", (34, 12, 42, 8, 50, 16)),
                ("C", (60, 26, 54, 40, 32, 54)),
                ("Z", ()),
            ),
            fill="#eb5757" if rng.random() < 0.7 else main,
        ),  # fmt: skip
        SvgElement(
            i(),
            "ellipse",
            "heart highlight",
            {"cx": 20, "cy": 22, "rx": 4, "ry": 2.5},
            fill=white,
            opacity=0.6,
            transform=(("rotate", (-40, 20, 22)),),
        ),  # fmt: skip
    ]


def _pin(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    return [
        SvgElement(i(), "ellipse", "pin shadow", {"cx": 32, "cy": 58, "rx": 10, "ry": 3}, fill="#bdbdbd"),
        SvgElement(
            i(),
            "path",
            "map pin",
            path=(
                ("M", (32, 58)),
                ("C", (20, 42, 14, 34, 14, 24)),
                ("A", (18, 18, 0, 0, 1, 50, 24)),
                ("C", (50, 34, 44, 42, 32, 58)),
                ("Z", ()),
            ),
            fill=main,
            directional=True,
        ),  # fmt: skip
        _circle(i, "pin hole", 32, 24, 7, white),
    ]


def _calendar(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    day = rng.randint(1, 31)
    month = rng.choice(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
    return [
        _rect(i, "calendar page", 8, 12, 48, 44, white, rx=4, stroke=dark, stroke_width=2),
        _rect(i, "calendar header", 8, 12, 48, 13, main, rx=4),
        SvgElement(
            i(), "text", "month label", {"x": 32, "y": 22, "font_size": 8}, text=month, fill=white, font_weight="bold"
        ),  # fmt: skip
        _rect(i, "binder ring", 18, 7, 4, 10, dark, rx=2),
        _rect(i, "binder ring", 42, 7, 4, 10, dark, rx=2),
        SvgElement(
            i(), "text", "day number", {"x": 32, "y": 49, "font_size": 20}, text=str(day), fill=dark, font_weight="bold"
        ),  # fmt: skip
    ]


def _chat(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    return [
        _rect(i, "speech bubble", 6, 10, 52, 34, main, rx=8),
        SvgElement(i(), "polygon", "bubble tail", points=((16, 42), (14, 56), (28, 43)), fill=main, directional=True),
        *[_circle(i, "typing dot", x, 27, 4, white) for x in (20, 32, 44)],
    ]


def _lock(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    return [
        SvgElement(
            i(),
            "path",
            "lock shackle",
            path=(("M", (20, 30)), ("L", (20, 20)), ("A", (12, 12, 0, 0, 1, 44, 20)), ("L", (44, 30))),
            stroke=dark,
            stroke_width=5,
        ),  # fmt: skip
        _rect(i, "lock body", 12, 28, 40, 28, main, rx=5),
        _circle(i, "keyhole", 32, 40, 4, dark),
        _rect(i, "keyhole slot", 30.5, 40, 3, 9, dark),
    ]


def _play(i: _Ids, p: tuple[str, ...], rng: random.Random) -> list[SvgElement]:
    main, light, accent, white, dark = p
    return [
        _circle(i, "play button disc", 32, 32, 26, "url(#g1)"),
        SvgElement(
            i(), "polygon", "play triangle", points=((26, 20), (46, 32), (26, 44)), fill=white, directional=True
        ),  # fmt: skip
    ]


_ICONS = {
    "house icon": _house, "gear icon": _gear, "envelope icon": _envelope, "bar chart icon": _chart_icon,
    "battery icon": _battery, "weather icon": _weather, "search icon": _magnifier, "heart icon": _heart,
    "map pin icon": _pin, "calendar icon": _calendar, "chat icon": _chat, "lock icon": _lock, "play icon": _play,
}  # fmt: skip


def _make_icon(rng: random.Random) -> SvgSpec:
    i = _Ids()
    name = rng.choice(sorted(_ICONS))
    palette = rng.choice(_PALETTES)
    elements = _ICONS[name](i, palette, rng)
    gradients = [Gradient("g1", stops=((0.0, palette[1]), (1.0, palette[0])))]
    if rng.random() < 0.35:  # app-icon tile behind the pictogram; tinted enough to differ from white by > 16
        tile = _rect(i, "icon background tile", 0, 0, 64, 64, "#dde6f0" if rng.random() < 0.5 else "#ffe9c7", rx=12)
        elements = [tile, *elements]
    if rng.random() < 0.3:  # some pictograms are drawn shifted and scaled inside a group
        s = rng.choice([0.8, 0.9])
        shift = 32 * (1 - s)
        elements = [SvgElement(i(), "group", name.replace(" icon", "") + " pictogram",
                               transform=(("translate", (shift, shift)), ("scale", (s,))),
                               children=tuple(elements))]  # fmt: skip
    uses_gradient = any(e.fill == "url(#g1)" for top in elements for e in top.walk())
    return SvgSpec(name, (0, 0, 64, 64), tuple(elements), tuple(gradients) if uses_gradient else (), 64, 64)


_FLOW_STEPS = [
    ["Start", "Load data", "Clean records", "Train model", "Evaluate", "Deploy"],
    ["Order placed", "Check stock", "Pack items", "Ship parcel", "Delivered"],
    ["Request", "Validate input", "Query DB", "Render page", "Response"],
    ["Idea", "Draft", "Review", "Revise", "Publish"],
]
_ORG = [("CEO", ["CTO", "CFO", "COO"]), ("Director", ["Design", "Engineering", "Sales"]),
        ("Head of Research", ["Vision", "Language", "Robotics"])]  # fmt: skip


def _arrow(i: _Ids, x1: float, y1: float, x2: float, y2: float, colour: str, role: str) -> SvgElement:
    """A connector: a line and a triangular head at (x2, y2), grouped so it can be moved or flipped as one."""
    ang = math.atan2(y2 - y1, x2 - x1)
    back = (x2 - 9 * math.cos(ang), y2 - 9 * math.sin(ang))
    side = (5 * math.sin(ang), -5 * math.cos(ang))
    head: tuple[tuple[float, float], ...] = (
        (x2, y2),
        (back[0] + side[0], back[1] + side[1]),
        (back[0] - side[0], back[1] - side[1]),
    )
    head = tuple((round(x, 2), round(y, 2)) for x, y in head)
    line = SvgElement(i(), "line", f"{role} shaft", {"x1": x1, "y1": y1, "x2": back[0], "y2": back[1]},
                      stroke=colour, stroke_width=2)  # fmt: skip
    return SvgElement(i(), "group", role, children=(line, SvgElement(i(), "polygon", f"{role} head", points=head,
                      fill=colour)), directional=True)  # fmt: skip


def _make_flowchart(rng: random.Random) -> SvgSpec:
    i = _Ids()
    steps = rng.choice(_FLOW_STEPS)[: rng.randint(3, 4)]
    fill, stroke = rng.choice([("#e3f2fd", "#1565c0"), ("#e8f5e9", "#2e7d32"), ("#fff3e0", "#ef6c00")])
    horizontal = rng.random() < 0.5
    elements: list[SvgElement] = []
    boxes = []
    for k, label in enumerate(steps):
        if horizontal:
            x, y, w, h = 12 + k * 98, 125, 80, 50
        else:
            x, y, w, h = 130, 12 + k * 72, 140, 46
        boxes.append((x, y, w, h))
        decision = k == len(steps) - 2 and rng.random() < 0.4
        if decision:
            cx, cy = x + w / 2, y + h / 2
            shape = SvgElement(i(), "polygon", f"decision diamond '{label}'",
                               points=((cx, y - 4), (x + w + 4, cy), (cx, y + h + 4), (x - 4, cy)),
                               fill="#fffde7", stroke=stroke, stroke_width=2)  # fmt: skip
        else:
            shape = _rect(i, f"box '{label}'", x, y, w, h, fill, rx=8 if k in (0, len(steps) - 1) else 3,
                          stroke=stroke, stroke_width=2)  # fmt: skip
        size = 13 if len(label) < 12 else 11
        text = SvgElement(i(), "text", f"label '{label}'", {"x": x + w / 2, "y": y + h / 2 + 4, "font_size": size},
                          text=label, fill="#212121")  # fmt: skip
        elements += [shape, text]
    for k in range(len(steps) - 1):
        x, y, w, h = boxes[k]
        nx, ny, nw, nh = boxes[k + 1]
        if horizontal:
            arrow = _arrow(i, x + w, y + h / 2, nx, ny + nh / 2, stroke, f"arrow {steps[k]} → {steps[k + 1]}")
        else:
            arrow = _arrow(i, x + w / 2, y + h, nx + nw / 2, ny, stroke, f"arrow {steps[k]} → {steps[k + 1]}")
        elements.append(arrow)
    if rng.random() < 0.5:
        elements.insert(0, SvgElement(i(), "text", "diagram title", {"x": 200, "y": 292 if not horizontal else 40,
                                      "font_size": 14}, text=rng.choice(["Pipeline", "Process overview", "Workflow"]),
                                      fill="#424242", font_weight="bold"))  # fmt: skip
    return SvgSpec("flowchart", (0, 0, 400, 300), tuple(elements), (), 400, 300)


def _make_org_chart(rng: random.Random) -> SvgSpec:
    i = _Ids()
    root, children = rng.choice(_ORG)
    children = children[: rng.randint(2, 3)]
    fill, stroke = rng.choice([("#ede7f6", "#5e35b1"), ("#e0f7fa", "#00838f"), ("#fce4ec", "#ad1457")])
    grad = Gradient("g1", stops=((0.0, "#ffffff"), (1.0, fill)))
    elements: list[SvgElement] = [
        _rect(i, f"box '{root}'", 140, 30, 120, 50, "url(#g1)", rx=6, stroke=stroke, stroke_width=2),
        SvgElement(
            i(),
            "text",
            f"label '{root}'",
            {"x": 200, "y": 60, "font_size": 14},
            text=root,
            fill="#212121",
            font_weight="bold",
        ),  # fmt: skip
    ]
    n = len(children)
    xs = [200 + (k - (n - 1) / 2) * 130 for k in range(n)]
    connectors = [SvgElement(i(), "polyline", f"connector to '{c}'", points=((200, 80), (200, 120), (x, 120), (x, 160)),
                             stroke="#757575", stroke_width=2) for c, x in zip(children, xs, strict=True)]  # fmt: skip
    elements += connectors
    for c, x in zip(children, xs, strict=True):
        elements.append(_rect(i, f"box '{c}'", x - 55, 160, 110, 44, fill, rx=6, stroke=stroke, stroke_width=2))
        elements.append(SvgElement(i(), "text", f"label '{c}'", {"x": x, "y": 187, "font_size": 13}, text=c,
                                   fill="#212121"))  # fmt: skip
    return SvgSpec("org chart", (0, 0, 400, 300), tuple(elements), (grad,), 400, 300)


def make_svg_seed(rng: random.Random) -> SvgSpec:
    """An icon (about three in four) or a small diagram, drawn from ``rng``."""
    draw = rng.random()
    if draw < 0.75:
        return _make_icon(rng)
    return _make_flowchart(rng) if draw < 0.9 else _make_org_chart(rng)


# The miniature family (``--seed-family mini``): one or two plain shapes on a 128 px canvas, small enough that a model
# of a few million parameters learns to see and to write them on a CPU within minutes (the main job's reproduction).
# 128 px is a 4×4 grid of Qwen3-VL image tokens (32 px each); a 3×3 grid of centres keeps any two shapes apart.
MINI_CANVAS = 128
_MINI_CENTRES = (28, 64, 100)
_MINI_RADII = (14, 22)
_MINI_COLOURS = ("#eb5757", "#27ae60", "#2f80ed", "#f2994a", "#9b51e0", "#333333")


def make_mini_svg_seed(rng: random.Random) -> SvgSpec:
    """One or two circles or squares, each with its own colour, size and cell of a 3×3 grid."""
    i = _Ids()
    cells = rng.sample([(x, y) for y in _MINI_CENTRES for x in _MINI_CENTRES], rng.choice((1, 2)))
    elements: list[SvgElement] = []
    for cx, cy in cells:
        r, colour = rng.choice(_MINI_RADII), rng.choice(_MINI_COLOURS)
        if rng.random() < 0.5:
            elements.append(_circle(i, "circle", cx, cy, r, colour))
        else:
            elements.append(_rect(i, "square", cx - r, cy - r, 2 * r, 2 * r, colour))
    return SvgSpec("shapes", (0, 0, MINI_CANVAS, MINI_CANVAS), tuple(elements), (), MINI_CANVAS, MINI_CANVAS)
