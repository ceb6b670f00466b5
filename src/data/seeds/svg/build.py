"""Helpers every SVG generator shares: element ids numbered within one spec, and the common rect and circle."""

from __future__ import annotations

from src.data.seeds.svg.spec import SvgElement


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
