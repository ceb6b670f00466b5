"""What an SVG seed is: the element, gradient and whole-picture dataclasses, checked on construction."""

from __future__ import annotations

from dataclasses import dataclass, field
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
