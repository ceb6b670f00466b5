"""Icon seeds: thirteen pictograms (house, gear, envelope, ...) drawn on a 64×64 viewBox from a palette.

Each drawing function takes the id counter, a five-colour palette and ``rng``; ``_make_icon`` picks one and may add
an app-icon tile or wrap the pictogram in a transformed group.
"""

from __future__ import annotations

import math
import random

from src.data.seeds.svg.build import _circle, _Ids, _rect
from src.data.seeds.svg.spec import Gradient, PathCommand, SvgElement, SvgSpec

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
