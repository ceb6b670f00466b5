"""Perturbations labelled ``style``: a series' colour or colour map, and its markers, dashes or line width."""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.perturb.base import Perturbation
from src.data.perturb.chart.bookkeeping import _SERIES_NOUN, _hue_distance, _is_free, _where, _with_panel, _with_series
from src.data.schema import Discrepancy
from src.data.seeds.chart import CMAPS, PALETTES, ChartSpec, hex_to_hls, hls_to_hex

# ----------------------------------------------------------------------------------------------------------------
# Colours


def perturb_color(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """A series drawn in a lighter/darker shade (1), another hue (2), or two series' colours swapped (3)."""
    options = []
    for i, p in enumerate(spec.panels):
        if p.kind == "heatmap":
            if _is_free(spec, f"p{i}.cmap"):
                options.append((i, "cmap"))
            continue
        free = [s for s in p.series if _is_free(spec, f"p{i}.plot.s{s.sid}.color", f"p{i}.plot.s{s.sid}.name")]
        if free:
            options += [(i, "shade"), (i, "hue")]
        if len({s.color for s in free}) >= 2:
            options.append((i, "swap"))
    if not options:
        return None
    i, how = rng.choice(options)
    p = spec.panels[i]
    where = _where(spec, i)
    if how == "cmap":
        cmap = rng.choice([c for c in CMAPS if c != p.cmap])
        err = Discrepancy("style", 2, f"{where}heatmap colour scale", f"the colour map is {cmap} instead of {p.cmap}")
        return Perturbation("color", _with_panel(spec, i, replace(p, cmap=cmap), f"p{i}.cmap"), (err,))
    free = [s for s in p.series if _is_free(spec, f"p{i}.plot.s{s.sid}.color", f"p{i}.plot.s{s.sid}.name")]
    noun = _SERIES_NOUN[p.kind]
    if how == "swap":
        a, b = rng.sample([s for s in free if s.color != free[0].color] + [free[0]], 2)
        new_p = _with_series(_with_series(p, replace(a, color=b.color)), replace(b, color=a.color))
        err = Discrepancy(
            "style",
            3,
            f"{where}{noun} '{a.name}' and '{b.name}'",
            f"the colours of '{a.name}' and '{b.name}' are swapped",
        )
        touch = (f"p{i}.plot.s{a.sid}.color", f"p{i}.plot.s{b.sid}.color")
        return Perturbation("color", _with_panel(spec, i, new_p, *touch), (err,))
    s = rng.choice(free)
    h, light, sat = hex_to_hls(s.color)
    if how == "shade":
        delta = rng.uniform(0.13, 0.2) * (1 if light < 0.55 else -1)
        color = hls_to_hex(h, light + delta, sat)
        severity, what = 1, f"a {'lighter' if delta > 0 else 'darker'} shade ({color} instead of {s.color})"
    else:
        used = [r.color for r in p.series]
        pool = [c for pal in PALETTES for c in pal if all(_hue_distance(c, u) > 0.12 for u in used)]
        pool = [c for c in pool if abs(hex_to_hls(c)[1] - 0.5) < 0.3 and hex_to_hls(c)[2] > 0.3]
        if not pool:
            return None
        color = rng.choice(pool)
        severity, what = 2, f"a different colour ({color} instead of {s.color})"
    if color.lower() == s.color.lower():
        return None
    err = Discrepancy("style", severity, f"{where}{noun} '{s.name}'", f"'{s.name}' is drawn in {what}")
    new_p = _with_series(p, replace(s, color=color))
    return Perturbation("color", _with_panel(spec, i, new_p, f"p{i}.plot.s{s.sid}.color"), (err,))


# ----------------------------------------------------------------------------------------------------------------
# Markers and line styles


_MARKER_NAMES = {
    "o": "circle",
    "s": "square",
    "^": "triangle",
    "D": "diamond",
    "v": "down-triangle",
    "x": "cross",
    "*": "star",
    "P": "plus",
    "": "no",
}


def perturb_marker_style(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """A line's marker shape, markers added/removed, dashes, or line width changed."""
    options = []
    for i, p in enumerate(spec.panels):
        if p.kind not in ("line", "multi_line", "scatter", "errorbar") or (p.kind == "errorbar" and p.errorbar_bars):
            continue
        options += [(i, s) for s in p.series if _is_free(spec, f"p{i}.plot.s{s.sid}.style", f"p{i}.plot.s{s.sid}.name")]
    if not options:
        return None
    i, s = rng.choice(options)
    p = spec.panels[i]
    markers = ("o", "s", "^", "D", "v", "x", "*")
    name = _MARKER_NAMES
    moves = ["marker"]
    if p.kind in ("line", "multi_line"):
        moves += ["toggle_marker", "dash", "width"]
    elif p.kind == "errorbar":
        moves += ["dash"]
    move = rng.choice(moves)
    where = f"{_where(spec, i)}{_SERIES_NOUN[p.kind]} '{s.name}'"
    if move == "marker" and (s.marker or p.kind in ("scatter", "errorbar")):
        current = s.marker or "o"
        new_marker = rng.choice([m for m in markers if m != current])
        new_s = replace(s, marker=new_marker)
        err = Discrepancy("style", 1, where, f"{name[new_marker]} markers instead of {name[current]} markers")
    elif move in ("marker", "toggle_marker"):
        new_marker = "" if s.marker else rng.choice(markers[:5])
        new_s = replace(s, marker=new_marker)
        text = "markers are missing on the line" if s.marker else f"{name[new_marker]} markers are added to the line"
        err = Discrepancy("style", 1, where, text)
    elif move == "dash":
        if p.kind == "errorbar":
            new_ls = "--" if s.linestyle == "-" else "-"
        else:
            new_ls = rng.choice([ls for ls in ("-", "--", ":", "-.") if ls != s.linestyle])
        words = {"-": "solid", "--": "dashed", ":": "dotted", "-.": "dash-dotted"}
        new_s = replace(s, linestyle=new_ls)
        old_ls = s.linestyle if p.kind != "errorbar" else ("-" if s.linestyle == "-" else "--")
        err = Discrepancy("style", 2, where, f"the line is {words[new_ls]} instead of {words[old_ls]}")
    else:
        new_w = 4.0 if s.linewidth <= 2.0 else 1.0
        new_s = replace(s, linewidth=new_w)
        err = Discrepancy(
            "style", 1, where, f"the line is {'thicker' if new_w > s.linewidth else 'thinner'} than in the reference"
        )
    new_p = _with_series(p, new_s)
    return Perturbation("marker_style", _with_panel(spec, i, new_p, f"p{i}.plot.s{s.sid}.style"), (err,))
