"""Source emission: the SVG document a spec stands for (``svg_source``), written in a ``SvgVariant``.

The variant knobs sit next to the one emitter so the canonical and the equivalent sources cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from src.data.seeds.svg.spec import PathCommand, SvgElement, SvgSpec, Transform


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
