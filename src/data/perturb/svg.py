"""SVG perturbations with exact labels, and rewrites that change the source but not the render.

A perturbation edits one element of an ``SvgSpec`` and labels it with the element's role and canvas region
("envelope flap, top centre"). Composition: an element that was changed, or any element whose subtree holds a
changed one, is not edited, moved in z-order or removed again, so no label ever describes a vanished element.

Categories follow the official SVG critique: ``structure`` (missing / extra elements, z-order), ``shape`` (kind,
position, size, rotation), ``style`` (fill, stroke, opacity, gradient) and ``text_symbol`` (text, arrow direction).
Severity grows with magnitude: a shade change is minor, a different colour medium (severe on a dominant element); a
shift under 4 % of the canvas is minor, over 12 % severe. Colour edits always move some channel by at least 32 so
the pipeline's 16-level pixel tolerance sees them.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

from src.data.perturb.base import EquivalenceFn, Perturbation, PerturbFn
from src.data.perturb.mini_svg import grid_edit
from src.data.schema import Discrepancy
from src.data.seeds.svg import (
    SvgElement,
    SvgSpec,
    SvgVariant,
    canvas_area_fraction,
    canvas_bboxes,
    element_location,
    local_bbox,
    svg_source,
)
from src.data.svg_severity import fill_severity, missing_severity, resize_severity, shift_severity

# ---------------------------------------------------------------------------------------------------------------
# Spec editing helpers.


def _map_elements(elements: tuple[SvgElement, ...], fn: Callable[[SvgElement], SvgElement | None]) -> tuple:
    """Rebuild the tree bottom-up; ``fn`` returns the replacement, or None to delete the element."""
    out = []
    for e in elements:
        e = replace(e, children=_map_elements(e.children, fn)) if e.children else e
        new = fn(e)
        if new is not None:
            out.append(new)
    return tuple(out)


def _replace(spec: SvgSpec, new: SvgElement, **changes: object) -> SvgSpec:
    elements = _map_elements(spec.elements, lambda e: new if e.id == new.id else e)
    return replace(spec, elements=elements, touched=spec.touched | {new.id}, **changes)  # type: ignore[arg-type]


def _untouched_subtree(spec: SvgSpec, e: SvgElement) -> bool:
    return not any(d.id in spec.touched for d in e.walk())


def _occluded(spec: SvgSpec, element: SvgElement, boxes: dict[str, tuple[float, float, float, float]]) -> bool:
    """True when a later opaque filled element's box holds this element's box: an edit might not show."""
    order = spec.all_elements()
    box = boxes.get(element.id)
    if box is None:
        return True
    inside = {d.id for d in element.walk()}
    later = order[order.index(element) + 1 :]
    for other in later:
        if other.id in inside or other.kind in ("group", "line", "polyline", "text") or other.fill == "none":
            continue
        ob = boxes.get(other.id)
        if other.opacity == 1.0 and ob and ob[0] <= box[0] and ob[1] <= box[1] and ob[2] >= box[2] and ob[3] >= box[3]:
            return True
    return False


def _candidates(spec: SvgSpec, pred: Callable[[SvgElement], bool]) -> list[SvgElement]:
    """Untouched elements satisfying ``pred`` that nothing painted later could hide."""
    boxes = canvas_bboxes(spec)
    return [e for e in spec.all_elements() if e.id not in spec.touched and pred(e) and not _occluded(spec, e, boxes)]


def _big_enough(spec: SvgSpec, e: SvgElement, share: float = 0.1) -> bool:
    """Bounding-box diagonal at least ``share`` of the canvas: small edits to tiny parts move too few pixels."""
    box = canvas_bboxes(spec).get(e.id)
    if box is None:
        return False
    return ((box[2] - box[0]) ** 2 + (box[3] - box[1]) ** 2) ** 0.5 >= share * max(spec.view_box[2:])


def _hex(c: str) -> tuple[int, int, int]:
    return int(c[1:3], 16), int(c[3:5], 16), int(c[5:7], 16)


def _gap(a: str, b: str) -> int:
    return max(abs(x - y) for x, y in zip(_hex(a), _hex(b), strict=True))


def _solid(paint: str) -> bool:
    return paint.startswith("#") and len(paint) == 7


def _shade(colour: str, rng: random.Random) -> str:
    """A lighter or darker version of ``colour`` that still differs by at least 32 in some channel."""
    r, g, b = _hex(colour)
    for toward in rng.sample([0, 255], 2):
        for t in (0.3, 0.45, 0.6):
            new = "#" + "".join(f"{round(v + (toward - v) * t):02x}" for v in (r, g, b))
            if _gap(new, colour) >= 32:
                return new
    return "#808080" if _gap(colour, "#808080") >= 32 else "#000000"


_HUES = ["#eb5757", "#2f80ed", "#27ae60", "#f2c94c", "#9b51e0", "#f2994a", "#333333", "#56ccf2", "#e91e63"]


def _other_hue(colour: str, rng: random.Random) -> str:
    return rng.choice([h for h in _HUES if _gap(h, colour) >= 80])


# ---------------------------------------------------------------------------------------------------------------
# Style.


def fill_colour(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Recolour a solid fill: a shade (minor) or another colour (medium; severe on an element over 25 % of canvas)."""
    cands = _candidates(spec, lambda e: e.kind != "group" and _solid(e.fill))
    if not cands:
        return None
    e = rng.choice(cands)
    shade = rng.random() < 0.4
    new = _shade(e.fill, rng) if shade else _other_hue(e.fill, rng)
    severity = fill_severity(not shade, canvas_area_fraction(spec, e.id))
    what = "a lighter/darker shade" if shade else "a different colour"
    return Perturbation(
        "fill_colour",
        _replace(spec, replace(e, fill=new)),
        (Discrepancy("style", severity, element_location(spec, e.id), f"filled {new} instead of {e.fill} ({what})"),),
    )


def stroke_style(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Change an outline: its colour (medium), its width (minor under ×2, else medium) or drop it (medium)."""
    cands = _candidates(spec, lambda e: e.kind != "group" and _solid(e.stroke) and e.stroke_width >= 1)
    if not cands:
        return None
    e = rng.choice(cands)
    where = element_location(spec, e.id)
    mode = rng.choice(["colour", "width", "none"] if e.fill != "none" else ["colour", "width"])
    if mode == "colour":
        new = _other_hue(e.stroke, rng)
        return Perturbation("stroke_style", _replace(spec, replace(e, stroke=new)),
                            (Discrepancy("style", 2, where, f"outline {new} instead of {e.stroke}"),))  # fmt: skip
    if mode == "width":
        factor = rng.choice([0.4, 1.8, 2.5])
        width = round(e.stroke_width * factor, 2)
        severity = 1 if 0.5 <= factor <= 2 else 2
        return Perturbation("stroke_style", _replace(spec, replace(e, stroke_width=width)),
                            (Discrepancy("style", severity, where,
                                         f"outline {width:g} wide instead of {e.stroke_width:g}"),))  # fmt: skip
    return Perturbation("stroke_style", _replace(spec, replace(e, stroke="none")),
                        (Discrepancy("style", 2, where, f"outline ({e.stroke}) is missing"),))  # fmt: skip


def opacity(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Make a dark-enough opaque element translucent (minor at ≥ 0.5, medium below)."""

    def visible_when_faded(e: SvgElement) -> bool:
        return e.kind != "group" and e.opacity == 1.0 and _solid(e.fill) and max(255 - v for v in _hex(e.fill)) >= 120

    cands = _candidates(spec, visible_when_faded)
    if not cands:
        return None
    e = rng.choice(cands)
    value = rng.choice([0.3, 0.45, 0.6])
    return Perturbation(
        "opacity",
        _replace(spec, replace(e, opacity=value)),
        (
            Discrepancy(
                "style",
                1 if value >= 0.5 else 2,
                element_location(spec, e.id),
                f"drawn at {value:.0%} opacity instead of fully opaque",
            ),
        ),  # fmt: skip
    )


def gradient(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Flatten a gradient fill to a solid colour (medium) or recolour one of its stops (minor)."""
    users = _candidates(spec, lambda e: e.fill.startswith("url(#"))
    if not users or "gradients" in spec.touched:
        return None
    e = rng.choice(users)
    gid = e.fill[5:-1]
    gr = next(g for g in spec.gradients if g.id == gid)
    where = element_location(spec, e.id)
    if len(users) == 1 and rng.random() < 0.5:
        flat = gr.stops[-1][1]
        return Perturbation("gradient", _replace(spec, replace(e, fill=flat)),
                            (Discrepancy("style", 2, where, f"flat {flat} fill instead of a gradient"),))  # fmt: skip
    k = rng.randrange(len(gr.stops))
    offset, colour = gr.stops[k]
    new = _shade(colour, rng)
    stops = gr.stops[:k] + ((offset, new),) + gr.stops[k + 1 :]
    gradients = tuple(replace(g, stops=stops) if g.id == gid else g for g in spec.gradients)
    ids = {u.id for u in spec.all_elements() if u.fill == e.fill}
    if ids & spec.touched:
        return None
    return Perturbation(
        "gradient",
        replace(spec, gradients=gradients, touched=spec.touched | ids | {"gradients"}),
        (Discrepancy("style", 1, where, f"gradient stop at {offset:.0%} is {new} instead of {colour}"),),
    )


# ---------------------------------------------------------------------------------------------------------------
# Shape.


def shape_kind(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Swap a rectangle for an ellipse of the same box, or a circle for a square (medium)."""
    cands = _candidates(spec, lambda e: e.kind in ("rect", "circle", "ellipse") and _untouched_subtree(spec, e))
    if not cands:
        return None
    e = rng.choice(cands)
    g = e.geom
    if e.kind == "rect":
        geom = {
            "cx": g["x"] + g["width"] / 2,
            "cy": g["y"] + g["height"] / 2,
            "rx": g["width"] / 2,
            "ry": g["height"] / 2,
        }
        new, was, now = replace(e, kind="ellipse", geom=geom), "rectangle", "ellipse"
    else:
        rx, ry = (g["r"], g["r"]) if e.kind == "circle" else (g["rx"], g["ry"])
        geom = {"x": g["cx"] - rx, "y": g["cy"] - ry, "width": 2 * rx, "height": 2 * ry}
        new, was, now = replace(e, kind="rect", geom=geom), e.kind, "rectangle"
    return Perturbation(
        "shape_kind",
        _replace(spec, new),
        (Discrepancy("shape", 2, element_location(spec, e.id), f"drawn as a {now} instead of a {was}"),),
    )


def position(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Move an element (a translate prepended to its transform); severity by distance relative to the canvas."""
    cands = _candidates(spec, lambda e: e.id in canvas_bboxes(spec))
    if not cands:
        return None
    e = rng.choice(cands)
    size = max(spec.view_box[2], spec.view_box[3])
    frac = rng.choice([0.03, 0.07, 0.15])
    ux, uy = rng.choice([(1, 0), (-1, 0), (0, 1), (0, -1), (1, 1)])
    dx, dy = ux * frac * size, uy * frac * size
    distance = (dx * dx + dy * dy) ** 0.5
    direction = " and ".join(w for w, v in (("right" if dx > 0 else "left", dx), ("down" if dy > 0 else "up", dy)) if v)
    new = replace(e, transform=(("translate", (round(dx, 2), round(dy, 2))),) + e.transform)
    return Perturbation(
        "position",
        _replace(spec, new),
        (
            Discrepancy(
                "shape",
                shift_severity(distance, size),
                element_location(spec, e.id),
                f"shifted {direction} by about {distance / size:.0%} of the canvas",
            ),
        ),  # fmt: skip
    )


def _about_centre(e: SvgElement, op: tuple[str, tuple[float, ...]]) -> SvgElement | None:
    box = local_bbox(e)
    if box is None:
        return None
    cx, cy = round((box[0] + box[2]) / 2, 2), round((box[1] + box[3]) / 2, 2)
    if op[0] == "rotate":
        return replace(e, transform=e.transform + (("rotate", (op[1][0], cx, cy)),))
    return replace(e, transform=e.transform + (("translate", (cx, cy)), op, ("translate", (-cx, -cy))))


def size(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Scale an element about its centre; minor within 15 %, medium within 35 %, else severe."""
    cands = _candidates(spec, lambda e: e.kind != "text" and local_bbox(e) is not None and _big_enough(spec, e))
    if not cands:
        return None
    e = rng.choice(cands)
    factor = rng.choice([0.6, 0.75, 0.88, 1.12, 1.3, 1.5])
    new = _about_centre(e, ("scale", (factor,)))
    change = abs(factor - 1)
    severity = resize_severity(change)
    return Perturbation(
        "size",
        _replace(spec, new),  # type: ignore[arg-type]
        (
            Discrepancy(
                "shape",
                severity,
                element_location(spec, e.id),
                f"{'larger' if factor > 1 else 'smaller'} by {change:.0%}",
            ),
        ),  # fmt: skip
    )


def rotation(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Rotate a non-round element 10-30° about its centre (minor up to 15°, else medium)."""

    def rotatable(e: SvgElement) -> bool:
        round_shape = e.kind == "circle" or (e.kind == "ellipse" and e.geom["rx"] == e.geom["ry"])
        return not round_shape and local_bbox(e) is not None and _big_enough(spec, e)

    cands = _candidates(spec, rotatable)
    if not cands:
        return None
    e = rng.choice(cands)
    angle = rng.choice([-25, -12, 12, 20, 30])
    return Perturbation(
        "rotation",
        _replace(spec, _about_centre(e, ("rotate", (angle,)))),  # type: ignore[arg-type]
        (
            Discrepancy(
                "shape",
                1 if abs(angle) <= 15 else 2,
                element_location(spec, e.id),
                f"rotated {abs(angle)}° {'clockwise' if angle > 0 else 'counter-clockwise'}",
            ),
        ),  # fmt: skip
    )


# ---------------------------------------------------------------------------------------------------------------
# Structure.


def missing_element(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Delete an element (severe when it covers ≥ 4 % of the canvas or is text, else medium)."""
    if len(spec.all_elements()) < 3:
        return None
    cands = _candidates(spec, lambda e: _untouched_subtree(spec, e) and e.id in canvas_bboxes(spec))
    if not cands:
        return None
    e = rng.choice(cands)
    severity = missing_severity(canvas_area_fraction(spec, e.id), is_text=e.kind == "text")
    elements = _map_elements(spec.elements, lambda x: None if x.id == e.id else x)
    elements = _map_elements(elements, lambda x: None if x.kind == "group" and not x.children else x)
    if not elements:
        return None
    return Perturbation(
        "missing_element",
        replace(spec, elements=elements),
        (Discrepancy("structure", severity, element_location(spec, e.id), f"the {e.role} is missing"),),
    )


def extra_element(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Add a spurious element on top: a badge dot in a corner or a stray bar (medium)."""
    vx, vy, vw, vh = spec.view_box
    unit = min(vw, vh)
    taken = {e.id for e in spec.all_elements()}
    k = 1
    while f"extra{k}" in taken:
        k += 1
    corner = rng.choice([(0.85, 0.15, "top right"), (0.15, 0.15, "top left"), (0.85, 0.85, "bottom right")])
    if rng.random() < 0.6:
        new = SvgElement(f"extra{k}", "circle", "extra badge dot", {"cx": vx + corner[0] * vw, "cy": vy + corner[1] * vh,
                         "r": 0.09 * unit}, fill=rng.choice(["#eb5757", "#27ae60", "#2f80ed"]))  # fmt: skip
    else:
        new = SvgElement(f"extra{k}", "rect", "extra bar", {"x": vx + 0.2 * vw, "y": vy + corner[1] * vh - 0.03 * unit,
                         "width": 0.6 * vw, "height": 0.06 * unit}, fill=rng.choice(["#333333", "#f2994a"]))  # fmt: skip
    out = replace(spec, elements=spec.elements + (new,), touched=spec.touched | {new.id})
    return Perturbation(
        "extra_element",
        out,
        (
            Discrepancy(
                "structure",
                2,
                f"{new.role}, {corner[2]}" if new.kind == "circle" else element_location(out, new.id),
                f"an {new.role} that the reference does not have",
            ),
        ),  # fmt: skip
    )


def _inside(e: SvgElement, x: float, y: float) -> bool:
    """Point-in-fill test in the element's own coordinates, for the shapes z-order swaps consider."""
    g = e.geom
    if e.kind == "rect":
        return g["x"] < x < g["x"] + g["width"] and g["y"] < y < g["y"] + g["height"]
    if e.kind == "circle":
        return (x - g["cx"]) ** 2 + (y - g["cy"]) ** 2 < (g["r"] * 0.95) ** 2
    if e.kind == "ellipse":
        return ((x - g["cx"]) / g["rx"]) ** 2 + ((y - g["cy"]) / g["ry"]) ** 2 < 0.9
    return False


def z_order(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Swap two adjacent overlapping siblings of different colour, so the one behind comes to the front (medium)."""
    boxes = canvas_bboxes(spec)
    parents: list[tuple[str | None, tuple[SvgElement, ...]]] = [(None, spec.elements)]
    parents += [(e.id, e.children) for e in spec.all_elements() if e.kind == "group"]
    options = []
    for parent_id, sibs in parents:
        for k in range(len(sibs) - 1):
            a, b = sibs[k], sibs[k + 1]
            if a.kind not in ("rect", "circle", "ellipse") or b.kind not in ("rect", "circle", "ellipse"):
                continue
            if a.transform or b.transform or not (_solid(a.fill) and _solid(b.fill)) or _gap(a.fill, b.fill) < 32:
                continue
            if {a.id, b.id} & spec.touched:
                continue
            later = [boxes[s.id] for s in sibs[k + 2 :] if s.id in boxes]
            ba, bb = local_bbox(a), local_bbox(b)
            x0, y0, x1, y1 = max(ba[0], bb[0]), max(ba[1], bb[1]), min(ba[2], bb[2]), min(ba[3], bb[3])  # type: ignore[index]
            if x1 <= x0 or y1 <= y0:
                continue
            # a sample point painted by both and not under a later sibling: the swap changes its colour
            pts = [(x0 + (x1 - x0) * i / 6, y0 + (y1 - y0) * j / 6) for i in range(1, 6) for j in range(1, 6)]
            hits = [p for p in pts if _inside(a, *p) and _inside(b, *p)
                    and not any(L[0] <= p[0] <= L[2] and L[1] <= p[1] <= L[3] for L in later)]  # fmt: skip
            if len(hits) >= 3 and (parent_id is None or not spec.find(parent_id).transform):
                options.append((parent_id, k))
    if not options:
        return None
    parent_id, k = rng.choice(options)

    def swap(sibs: tuple[SvgElement, ...]) -> tuple[SvgElement, ...]:
        return sibs[:k] + (sibs[k + 1], sibs[k]) + sibs[k + 2 :]

    if parent_id is None:
        a, b = spec.elements[k], spec.elements[k + 1]
        out = replace(spec, elements=swap(spec.elements))
    else:
        group = spec.find(parent_id)
        a, b = group.children[k], group.children[k + 1]
        out = _replace(spec, replace(group, children=swap(group.children)))
        out = replace(out, touched=out.touched - {parent_id})
    return Perturbation(
        "z_order",
        replace(out, touched=out.touched | {a.id, b.id}),
        (
            Discrepancy(
                "structure",
                2,
                element_location(spec, a.id),
                f"the {a.role} is drawn in front of the {b.role} instead of behind it",
            ),
        ),  # fmt: skip
    )


# ---------------------------------------------------------------------------------------------------------------
# Text and symbols.

_WORD_SWAPS = {"Start": "Begin", "Deploy": "Release", "Evaluate": "Test", "Review": "Approve", "Publish": "Print",
               "CEO": "CTO", "CTO": "CIO", "CFO": "CEO", "Design": "Product", "Sales": "Marketing",
               "Vision": "Audio", "Response": "Reply", "Delivered": "Returned"}  # fmt: skip


def text_content(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Change a text: a number off by a few (medium), a different word (medium) or a dropped letter (minor)."""
    cands = _candidates(spec, lambda e: e.kind == "text" and bool(e.text.strip()))
    if not cands:
        return None
    e = rng.choice(cands)
    if e.text.isdigit():
        new, severity = str((int(e.text) + rng.choice([1, 3, 7])) % 31 + 1), 2
    elif e.text in _WORD_SWAPS and rng.random() < 0.6:
        new, severity = _WORD_SWAPS[e.text], 2
    elif len(e.text) >= 4:
        i = rng.randrange(1, len(e.text) - 1)
        new, severity = e.text[:i] + e.text[i + 1 :], 1
    else:
        new, severity = e.text[::-1] if e.text[::-1] != e.text else e.text + e.text[-1], 2
    if new == e.text:
        return None
    return Perturbation(
        "text_content",
        _replace(spec, replace(e, text=new)),
        (
            Discrepancy(
                "text_symbol", severity, element_location(spec, e.id), f"text reads '{new}' instead of '{e.text}'"
            ),
        ),
    )


def symbol_direction(spec: SvgSpec, rng: random.Random) -> Perturbation | None:
    """Point an arrow or pointer the other way (rotate 180° about its centre): medium, the meaning flips."""
    cands = _candidates(spec, lambda e: e.directional and _untouched_subtree(spec, e))
    if not cands:
        return None
    e = rng.choice(cands)
    return Perturbation(
        "symbol_direction",
        _replace(spec, _about_centre(e, ("rotate", (180,)))),  # type: ignore[arg-type]
        (Discrepancy("text_symbol", 2, element_location(spec, e.id), f"the {e.role} points the opposite way"),),
    )


SVG_PERTURBATIONS: dict[str, PerturbFn] = {
    "fill_colour": fill_colour,
    "stroke_style": stroke_style,
    "opacity": opacity,
    "gradient": gradient,
    "shape_kind": shape_kind,
    "position": position,
    "size": size,
    "rotation": rotation,
    "missing_element": missing_element,
    "extra_element": extra_element,
    "z_order": z_order,
    "text_content": text_content,
    "symbol_direction": symbol_direction,
    "grid_edit": grid_edit,
}

# The category each kind's labels carry: synthesis draws kinds so that categories, not kinds, are balanced.
SVG_KIND_CATEGORY: dict[str, str] = {
    "fill_colour": "style",
    "stroke_style": "style",
    "opacity": "style",
    "gradient": "style",
    "shape_kind": "shape",
    "position": "shape",
    "size": "shape",
    "rotation": "shape",
    "missing_element": "structure",
    "extra_element": "structure",
    "z_order": "structure",
    "text_content": "text_symbol",
    "symbol_direction": "text_symbol",
    "grid_edit": "shape",
}

# ---------------------------------------------------------------------------------------------------------------
# Equivalences.

_NAMES = {"#ffffff": "white", "#000000": "black", "#808080": "gray", "#ff0000": "red"}


def attribute_order(spec: SvgSpec, rng: random.Random) -> str:
    """Attributes in reverse order and another indentation; XML attribute order carries no meaning."""
    return svg_source(spec, SvgVariant(reverse_attributes=True, indent=rng.choice(["", "\t", "    "])))


def relative_paths(spec: SvgSpec, rng: random.Random) -> str:
    """Path data with relative (lower-case) commands; with no path, the one extra group as a fallback rewrite."""
    if not any(e.kind == "path" for e in spec.all_elements()):
        return svg_source(spec, SvgVariant(wrap_in_group=True))
    return svg_source(spec, SvgVariant(relative_paths=True))


def colour_notation(spec: SvgSpec, rng: random.Random) -> str:
    """The same colours as ``rgb()``, upper-case hex or names."""
    mode = rng.choice(["rgb", "upper", "name"])

    def spell(c: str) -> str:
        if mode == "name" and c in _NAMES:
            return _NAMES[c]
        if mode == "upper" and c.upper() != c:
            return c.upper()
        return "rgb({}, {}, {})".format(*_hex(c))

    return svg_source(spec, SvgVariant(colour=spell))


def group_flattening(spec: SvgSpec, rng: random.Random) -> str:
    """Fully opaque groups dissolved (their transform moved onto each child); without one, an extra wrapping group."""
    if any(e.kind == "group" and e.opacity == 1.0 for e in spec.all_elements()):
        return svg_source(spec, SvgVariant(flatten_groups=True))
    return svg_source(spec, SvgVariant(wrap_in_group=True))


SVG_EQUIVALENCES: dict[str, EquivalenceFn] = {
    "attribute_order": attribute_order,
    "relative_paths": relative_paths,
    "colour_notation": colour_notation,
    "group_flattening": group_flattening,
}
