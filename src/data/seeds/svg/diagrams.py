"""Diagram seeds: flowcharts and org charts with labelled boxes and connectors, drawn on a 400×300 viewBox."""

from __future__ import annotations

import math
import random

from src.data.seeds.svg.build import _Ids, _rect
from src.data.seeds.svg.spec import Gradient, SvgElement, SvgSpec

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
