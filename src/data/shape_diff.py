"""Label a policy's plain-shape SVG answer against its reference by diffing their shapes (``label_shape_answer``).

The synthesized pairs teach a critic the differences a perturbation makes; a policy makes others (a shape in another
cell of the grid, two shapes recoloured at once, one left out). The paper trains its critic on annotated outputs of
real models; for the miniature's family (circles and squares with a solid fill, ``make_mini_svg_seed``) the exact
annotation is free: parse both sources, match shapes by centre, and name every difference with the categories,
severities and phrasing the perturbations use, so both kinds of pairs teach one vocabulary.

Only answers made of plain ``circle``/``rect``/``ellipse`` elements with a solid fill and no transform are labelled;
anything else (a path, a group, a gradient, markup that does not parse) returns ``None`` with the reason, and the
caller leaves that answer out rather than guess.
"""

from __future__ import annotations

import colorsys
import itertools
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from src.data.schema import Critique, Discrepancy
from src.data.seeds.svg import SvgElement, SvgSpec, canvas_area_fraction, element_location
from src.data.svg_severity import fill_severity, missing_severity, resize_severity, shift_severity
from src.render.extract import extract_svg_markup

SHAPE_TAGS = ("circle", "rect", "ellipse")
# Centres closer than this are the same shape in place (the mini grid's cells are 36 px apart); farther ones moved.
SAME_PLACE_PX = 12.0
# A size ratio within this of 1 is the same size (the mini radii differ by 57 %).
SAME_SIZE = 0.1
# A shade (the perturbations' lighter/darker fill: a mix toward white or black) keeps the hue; a wider turn is a
# different colour, and so is a grey for a colour.
SAME_HUE_DEGREES = 10.0
GREY_SATURATION = 0.1


class UnlabelableAnswer(ValueError):
    """The answer is not a set of plain solid shapes, so its differences cannot be named exactly.

    ``reason`` is a short fixed phrase to count answers by; the message adds what was found."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class Shape:
    """One plain shape as drawn: its kind in words, centre, half-size (x and y) and fill."""

    kind: str  # "circle", "square", "rectangle" or "ellipse"
    cx: float
    cy: float
    hx: float
    hy: float
    fill: str

    def element(self, index: int) -> SvgElement:
        """The shape as a seed element (``<rect>``, ``<circle>`` or ``<ellipse>``), its kind as its role."""
        if self.kind in ("square", "rectangle"):
            geom = {"x": self.cx - self.hx, "y": self.cy - self.hy, "width": 2 * self.hx, "height": 2 * self.hy}
            return SvgElement(f"s{index}", "rect", self.kind, geom, fill=self.fill)
        if self.kind == "circle":
            return SvgElement(
                f"s{index}", "circle", self.kind, {"cx": self.cx, "cy": self.cy, "r": self.hx}, fill=self.fill
            )
        geom = {"cx": self.cx, "cy": self.cy, "rx": self.hx, "ry": self.hy}
        return SvgElement(f"s{index}", "ellipse", self.kind, geom, fill=self.fill)


def _number(node: ET.Element, name: str) -> float:
    value = node.get(name)
    try:
        out = float(value) if value is not None else math.nan
    except ValueError:
        out = math.nan
    if not math.isfinite(out):
        raise UnlabelableAnswer("geometry not a finite number", f"<{_tag(node)}> {name}={value!r}")
    return out


def _tag(node: ET.Element) -> str:
    return node.tag.rsplit("}", 1)[-1]


def _fill(node: ET.Element) -> str:
    fill = (node.get("fill") or "").strip().lower()
    if len(fill) != 7 or not fill.startswith("#") or any(c not in "0123456789abcdef" for c in fill[1:]):
        raise UnlabelableAnswer("fill not a #rrggbb colour", f"<{_tag(node)}> fill={fill!r}")
    return fill


def parse_shapes(markup: str) -> tuple[tuple[float, float, float, float], tuple[Shape, ...]]:
    """The viewBox and the shapes of a plain-shape SVG, in paint order; raise ``UnlabelableAnswer`` otherwise."""
    try:
        root = ET.fromstring(markup)
    except ET.ParseError as exc:
        raise UnlabelableAnswer("markup does not parse", str(exc)) from None
    if _tag(root) != "svg":
        raise UnlabelableAnswer("root is not <svg>", f"<{_tag(root)}>")
    try:
        box = tuple(float(v) for v in (root.get("viewBox") or "").replace(",", " ").split())
    except ValueError:
        box = ()
    if len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
        raise UnlabelableAnswer("viewBox not four numbers with a positive size", repr(root.get("viewBox")))
    shapes = []
    for node in root:
        tag = _tag(node)
        if tag not in SHAPE_TAGS:
            raise UnlabelableAnswer("not a plain shape", f"<{tag}>")
        if node.get("transform") or len(node):
            raise UnlabelableAnswer("a transform or children", f"<{tag}>")
        fill = _fill(node)
        if tag == "circle":
            r = _number(node, "r")
            shapes.append(Shape("circle", _number(node, "cx"), _number(node, "cy"), r, r, fill))
        elif tag == "ellipse":
            rx, ry = _number(node, "rx"), _number(node, "ry")
            kind = "circle" if rx == ry else "ellipse"
            shapes.append(Shape(kind, _number(node, "cx"), _number(node, "cy"), rx, ry, fill))
        else:
            w, h = _number(node, "width"), _number(node, "height")
            kind = "square" if w == h else "rectangle"
            shapes.append(Shape(kind, _number(node, "x") + w / 2, _number(node, "y") + h / 2, w / 2, h / 2, fill))
    return box, tuple(shapes)  # type: ignore[return-value]


def shapes_spec(box: tuple[float, float, float, float], shapes: tuple[Shape, ...]) -> SvgSpec:
    """An ``SvgSpec`` drawing ``shapes`` in order on the viewBox ``box``."""
    elements = tuple(s.element(i) for i, s in enumerate(shapes))
    return SvgSpec("answer", box, elements, (), int(box[2]), int(box[3]))


def _distance(a: Shape, b: Shape) -> float:
    return math.hypot(a.cx - b.cx, a.cy - b.cy)


def _pairing(reference: tuple[Shape, ...], answer: tuple[Shape, ...]) -> list[tuple[int, int]]:
    """Reference-to-answer pairs covering as many shapes as possible, in place first, then nearest (a few shapes)."""
    best: list[tuple[int, int]] = []
    best_key: tuple[float, ...] = (math.inf,)
    k = min(len(reference), len(answer))
    for refs in itertools.permutations(range(len(reference)), k):
        for ans in itertools.permutations(range(len(answer)), k):
            pairs = list(zip(refs, ans, strict=True))
            moved = sum(_distance(reference[i], answer[j]) > SAME_PLACE_PX for i, j in pairs)
            key = (moved, sum(_distance(reference[i], answer[j]) for i, j in pairs))
            if key < best_key:
                best, best_key = sorted(pairs), key
    return best


def _hue_saturation(colour: str) -> tuple[float, float]:
    h, _, s = colorsys.rgb_to_hls(*(int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)))
    return 360 * h, s


def is_shade(a: str, b: str) -> bool:
    """Whether two ``#rrggbb`` fills are one colour lighter or darker (same hue, or both grey)."""
    (hue_a, sat_a), (hue_b, sat_b) = _hue_saturation(a), _hue_saturation(b)
    if sat_a < GREY_SATURATION or sat_b < GREY_SATURATION:
        return sat_a < GREY_SATURATION and sat_b < GREY_SATURATION
    turn = abs(hue_a - hue_b) % 360
    return min(turn, 360 - turn) <= SAME_HUE_DEGREES


def _shift(spec: SvgSpec, was: Shape, now: Shape, where: str) -> Discrepancy:
    dx, dy = now.cx - was.cx, now.cy - was.cy
    size = max(spec.view_box[2], spec.view_box[3])
    distance = math.hypot(dx, dy)
    words = [w for w, v in (("right" if dx > 0 else "left", dx), ("down" if dy > 0 else "up", dy)) if abs(v) >= 1]
    severity = shift_severity(distance, size)
    return Discrepancy(
        "shape", severity, where, f"shifted {' and '.join(words)} by about {distance / size:.0%} of the canvas"
    )


def _compare(spec: SvgSpec, index: int, was: Shape, now: Shape) -> list[Discrepancy]:
    """Every difference between a reference shape and the answer's shape standing for it."""
    where = element_location(spec, f"s{index}")
    out = []
    if now.kind != was.kind:
        out.append(Discrepancy("shape", 2, where, f"drawn as a {now.kind} instead of a {was.kind}"))
    if now.fill != was.fill:
        other = not is_shade(now.fill, was.fill)
        severity = fill_severity(other, canvas_area_fraction(spec, f"s{index}"))
        what = "a different colour" if other else "a lighter/darker shade"
        out.append(Discrepancy("style", severity, where, f"filled {now.fill} instead of {was.fill} ({what})"))
    ratio = math.sqrt((now.hx * now.hy) / (was.hx * was.hy)) if was.hx * was.hy > 0 else math.inf
    if abs(ratio - 1) > SAME_SIZE:
        change = abs(ratio - 1)
        severity = resize_severity(change)
        out.append(Discrepancy("shape", severity, where, f"{'larger' if ratio > 1 else 'smaller'} by {change:.0%}"))
    if _distance(was, now) > 2.0:
        out.append(_shift(spec, was, now, where))
    return out


def counterparts(reference: tuple[Shape, ...], answer: tuple[Shape, ...]) -> list[tuple[int | None, int | None]]:
    """Which answer shape stands for which reference shape, in the order the critique names them: the pairs (by
    reference index), then each reference shape left over (missing, ``(i, None)``), then each answer shape left over
    (extra, ``(None, j)``)."""
    pairs: list[tuple[int | None, int | None]] = list(_pairing(reference, answer))
    paired_ref, paired_answer = {i for i, _ in pairs}, {j for _, j in pairs}
    pairs += [(i, None) for i in range(len(reference)) if i not in paired_ref]
    pairs += [(None, j) for j in range(len(answer)) if j not in paired_answer]
    return pairs


def diff_shapes(reference_svg: str, answer_svg: str) -> Critique:
    """The critique of ``answer_svg`` against ``reference_svg``, both plain-shape SVG markup.

    Shapes are paired in place first; a reference shape left over is paired with a leftover answer shape as a move
    (with any other change it carries), and what remains is missing (reference) or extra (answer).
    """
    box, reference = parse_shapes(reference_svg)
    answer_box, answer = parse_shapes(answer_svg)
    if answer_box != box:
        raise UnlabelableAnswer("another viewBox", f"{answer_box} against the reference's {box}")
    return diff_shape_sets(box, reference, answer)


def diff_shape_sets(
    box: tuple[float, float, float, float], reference: tuple[Shape, ...], answer: tuple[Shape, ...]
) -> Critique:
    """``diff_shapes`` on shapes already parsed, both drawn on the viewBox ``box``."""
    ref_spec, answer_spec = shapes_spec(box, reference), shapes_spec(box, answer)
    errors: list[Discrepancy] = []
    for i, j in counterparts(reference, answer):
        if i is not None and j is not None:
            errors += _compare(ref_spec, i, reference[i], answer[j])
        elif i is not None:
            severity = missing_severity(canvas_area_fraction(ref_spec, f"s{i}"))
            where = element_location(ref_spec, f"s{i}")
            errors.append(Discrepancy("structure", severity, where, f"the {reference[i].kind} is missing"))
        elif j is not None:
            where = element_location(answer_spec, f"s{j}")
            errors.append(
                Discrepancy("structure", 2, where, f"an extra {answer[j].kind} that the reference does not have")
            )
    return Critique("svg", tuple(errors))


def label_shape_answer(reference_svg: str, answer: str) -> Critique:
    """The critique of a policy's whole answer (its fenced or bare SVG) against the reference markup."""
    markup = extract_svg_markup(answer)
    if markup is None:
        raise UnlabelableAnswer("no SVG markup", "the answer holds no <svg> element")
    return diff_shapes(reference_svg, markup)
