"""SVG seeds: structured specs of icons and small diagrams, and the SVG source they emit.

What icon-SVG benchmarks contain: app icons and pictograms built from a few primitives (house, gear, envelope, chart
icon, battery, weather, magnifier, heart, map pin, calendar, chat bubble, lock, play button) with gradients, strokes,
rounded corners and group transforms, plus diagram-like SVGs (flowcharts with labelled boxes and arrows, org charts).

Every element carries a ``role`` ("envelope flap") so a perturbation can name what it changed, and its geometry in
numbers (never a pre-formatted string) so bounding boxes, locations ("top left") and edits are exact. Emission knobs
(``SvgVariant``) write the same picture in other ways for the equivalence rewrites, from one emitter.
"""

from src.data.seeds.svg.code import SvgVariant, fmt_num, path_data, svg_source, transform_text
from src.data.seeds.svg.geometry import (
    IDENTITY,
    BBox,
    Matrix,
    canvas_area_fraction,
    canvas_bboxes,
    element_bbox,
    element_location,
    local_bbox,
    region_phrase,
    transform_matrix,
)
from src.data.seeds.svg.mini import MINI_CANVAS, MINI_CELLS, MINI_COLOURS, MINI_RADII, make_mini_svg_seed
from src.data.seeds.svg.sampler import make_svg_seed
from src.data.seeds.svg.spec import ElementKind, Gradient, PathCommand, SvgElement, SvgSpec, Transform

__all__ = [
    "BBox",
    "ElementKind",
    "Gradient",
    "IDENTITY",
    "MINI_CANVAS",
    "Matrix",
    "PathCommand",
    "SvgElement",
    "SvgSpec",
    "SvgVariant",
    "Transform",
    "canvas_area_fraction",
    "canvas_bboxes",
    "element_bbox",
    "element_location",
    "fmt_num",
    "local_bbox",
    "make_mini_svg_seed",
    "MINI_CELLS",
    "MINI_COLOURS",
    "MINI_RADII",
    "make_svg_seed",
    "path_data",
    "region_phrase",
    "svg_source",
    "transform_matrix",
    "transform_text",
]
