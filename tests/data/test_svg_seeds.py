"""SVG seeds: valid XML, reproducible, varied like icon benchmarks, with locations that follow the geometry."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET

import pytest

from src.data.seeds.svg import SvgElement, SvgSpec, element_location, make_svg_seed, region_phrase, svg_source


def test_sources_parse_as_svg_xml_and_are_reproducible() -> None:
    names = set()
    tags: set[str] = set()
    for seed in range(200):
        spec = make_svg_seed(random.Random(seed))
        source = svg_source(spec)
        assert source == svg_source(make_svg_seed(random.Random(seed)))
        root = ET.fromstring(source)
        assert root.tag == "{http://www.w3.org/2000/svg}svg" and root.get("viewBox")
        tags |= {el.tag.split("}")[1] for el in root.iter()}
        names.add(spec.name)
    assert len(names) >= 12, names  # icons of many kinds plus diagrams
    assert {"flowchart", "org chart"} <= names
    assert {"rect", "circle", "ellipse", "line", "polyline", "polygon", "path", "text", "g", "linearGradient"} <= tags


def test_group_transforms_and_gradients_appear() -> None:
    specs = [make_svg_seed(random.Random(s)) for s in range(100)]
    assert any(e.kind == "group" and e.transform for s in specs for e in s.all_elements())
    assert any(s.gradients for s in specs)


def test_region_phrase_follows_the_canvas() -> None:
    spec = SvgSpec(
        "t", (0, 0, 100, 100), (SvgElement("a", "circle", "dot", {"cx": 10, "cy": 10, "r": 2}, fill="#000000"),)
    )
    assert region_phrase(spec, (0, 0, 20, 20)) == "top left"
    assert region_phrase(spec, (40, 40, 60, 60)) == "centre"
    assert region_phrase(spec, (80, 45, 95, 55)) == "middle right"
    assert element_location(spec, "a") == "dot, top left"


def test_bad_specs_are_rejected_with_the_element_named() -> None:
    with pytest.raises(ValueError, match="lacks"):
        SvgElement("r1", "rect", "box", {"x": 0, "y": 0})
    with pytest.raises(ValueError, match="unknown gradient"):
        SvgSpec("t", (0, 0, 10, 10), (SvgElement("c", "circle", "dot", {"cx": 1, "cy": 1, "r": 1}, fill="url(#nope)"),))
