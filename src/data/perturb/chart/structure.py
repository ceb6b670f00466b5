"""Perturbations labelled ``structure``: another chart type, a missing element, a changed value axis, or a moved
legend or subplot grid."""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.perturb.base import Perturbation
from src.data.perturb.chart.bookkeeping import (
    _fits_axis,
    _fmt,
    _is_free,
    _round,
    _touched_under,
    _value_extent,
    _where,
    _with_panel,
)
from src.data.schema import Discrepancy
from src.data.seeds.chart import LEGEND_LOCS, PANEL_KINDS, ChartSpec

# ----------------------------------------------------------------------------------------------------------------
# Chart type

_TYPE_CHANGES: dict[str, tuple[tuple[str, int], ...]] = {
    "bar": (("line", 3), ("barh", 2)),
    "line": (("bar", 3),),
    "grouped_bar": (("stacked_bar", 3), ("multi_line", 3)),
    "stacked_bar": (("grouped_bar", 3),),
    "multi_line": (("grouped_bar", 3), ("area", 3)),
    "area": (("multi_line", 3),),
    "barh": (("bar", 2),),
    "pie": (("donut", 2),),
    "donut": (("pie", 2),),
}
_KIND_PHRASE = {
    "bar": "a bar chart",
    "line": "a line chart",
    "grouped_bar": "grouped bars",
    "stacked_bar": "stacked bars",
    "multi_line": "lines",
    "area": "a stacked area chart",
    "barh": "horizontal bars",
    "pie": "a pie chart",
    "donut": "a donut chart",
}


def perturb_chart_type(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """A panel drawn as another chart type (bars as lines, grouped as stacked, pie as donut)."""
    options = [(i, to, sev) for i, p in enumerate(spec.panels) for to, sev in _TYPE_CHANGES.get(p.kind, ())]
    rng.shuffle(options)
    for i, to, severity in options:
        p = spec.panels[i]
        if not _is_free(spec, f"p{i}.plot"):
            continue
        if to == "barh" and (p.annotations or p.value_lim):
            continue
        new_p = replace(p, kind=to, bar_labels=p.bar_labels and to in ("bar", "barh"))
        if to in ("bar", "barh") and p.kind in ("line", "multi_line"):
            new_p = replace(new_p, series=tuple(replace(s, marker="") for s in p.series))
        if to in ("line", "multi_line"):
            new_p = replace(new_p, series=tuple(replace(s, marker=s.marker or "o") for s in p.series))
        if to in ("bar", "barh", "grouped_bar", "stacked_bar", "area") and p.value_scale == "log":
            continue
        if to in ("stacked_bar", "area", "grouped_bar") and not _fits_axis(new_p):
            continue
        err = Discrepancy(
            "structure",
            severity,
            f"{_where(spec, i)}plot area",
            f"the data are drawn as {_KIND_PHRASE[to]} instead of {_KIND_PHRASE[p.kind]}",
        )
        return Perturbation("chart_type", _with_panel(spec, i, new_p, f"p{i}.plot"), (err,))
    return None


# ----------------------------------------------------------------------------------------------------------------
# Missing elements


def perturb_missing_element(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """A legend, gridlines, annotation, colour bar, title or value labels left out."""
    options: list[tuple[str, int, int]] = []
    for i, p in enumerate(spec.panels):
        # A renamed legend entry would vanish with the legend, so a rename blocks the removal.
        legend_free = _is_free(spec, f"p{i}.legend") and not _touched_under(spec, f"p{i}", ".name")
        if p.legend_loc and p.kind not in ("pie", "donut") and legend_free:
            options.append(("legend", i, 0))
        if p.grid and _is_free(spec, f"p{i}.grid"):
            options.append(("grid", i, 0))
        options += [("annotation", i, k) for k in range(len(p.annotations)) if _is_free(spec, f"p{i}.annot{k}")]
        if p.colorbar_label and _is_free(spec, f"p{i}.colorbar"):
            options.append(("colorbar", i, 0))
        if p.title and _is_free(spec, f"p{i}.title"):
            options.append(("title", i, 0))
        if p.bar_labels and _is_free(spec, f"p{i}.plot.barlabels"):
            options.append(("barlabels", i, 0))
    if not options:
        return None
    what, i, k = rng.choice(options)
    p = spec.panels[i]
    where = _where(spec, i)
    if what == "legend":
        loc = "outside the plot, right" if p.legend_outside else p.legend_loc
        err = Discrepancy("structure", 2, f"{where}legend, {loc}", "the legend is missing")
        new_p, eid = replace(p, legend_loc=None, legend_outside=False), f"p{i}.legend"
    elif what == "grid":
        err = Discrepancy("style", 1, f"{where}plot background", "the gridlines are missing")
        new_p, eid = replace(p, grid=False), f"p{i}.grid"
    elif what == "annotation":
        a = p.annotations[k]
        err = Discrepancy(
            "text", 2, f"{where}annotation '{a.text}'", f"the annotation '{a.text}' and its arrow are missing"
        )
        new_p, eid = replace(p, annotations=p.annotations[:k] + p.annotations[k + 1 :]), f"p{i}.annot{k}"
    elif what == "colorbar":
        err = Discrepancy("structure", 2, f"{where}colour bar, right", "the colour bar (and its label) is missing")
        new_p, eid = replace(p, colorbar_label=""), f"p{i}.colorbar"
    elif what == "title":
        err = Discrepancy("text", 2, f"{where}title", f"the title '{p.title}' is missing")
        new_p, eid = replace(p, title=""), f"p{i}.title"
    else:
        err = Discrepancy("text", 2, f"{where}bar value labels", "the value labels above the bars are missing")
        new_p, eid = replace(p, bar_labels=False), f"p{i}.plot.barlabels"
    return Perturbation("missing_element", _with_panel(spec, i, new_p, eid), (err,))


# ----------------------------------------------------------------------------------------------------------------
# Axes

# Panels with a value axis: every kind but the round ones and the heatmap (whose axes are categories).
_AXIS_KINDS = tuple(kind for kind in PANEL_KINDS if kind not in ("pie", "donut", "heatmap"))
_BAR_KINDS = ("bar", "grouped_bar", "stacked_bar", "barh", "hist")


def perturb_axis_range(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """The value axis stretched (data squeezed into part of the plot) or cut above zero (differences exaggerated)."""
    options = [
        i
        for i, p in enumerate(spec.panels)
        if p.kind in _AXIS_KINDS and p.value_scale == "linear" and _is_free(spec, f"p{i}.plot.axis")
    ]
    if not options:
        return None
    i = rng.choice(options)
    p = spec.panels[i]
    lo, hi = _value_extent(p)
    axis = p.value_axis
    digits = max(p.decimals, 1) if hi < 20 else 0
    truncate = p.kind in ("bar", "barh", "grouped_bar", "errorbar") and lo > 0.3 * hi and rng.random() < 0.5
    if truncate and not p.annotations:
        new_lim = (_round(0.6 * lo, digits), _round(1.15 * hi, digits))
        severity = 3
        description = f"the {axis}-axis starts at {_fmt(new_lim[0], digits)} instead of 0, exaggerating the differences"
    else:
        start = p.value_lim[0] if p.value_lim else min(0.0, lo)
        top = (p.value_lim[1] if p.value_lim else hi) * rng.uniform(1.7, 2.2)
        new_lim = (start, _round(top, digits))
        severity = 2
        description = (
            f"the {axis}-axis extends to {_fmt(new_lim[1], digits)}, squeezing the data into the "
            f"{'lower' if axis == 'y' else 'left'} part"
        )
    new_p = replace(p, value_lim=new_lim)
    if not _fits_axis(new_p):
        return None
    err = Discrepancy("structure", severity, f"{_where(spec, i)}{axis}-axis", description)
    return Perturbation("axis_range", _with_panel(spec, i, new_p, f"p{i}.plot.axis"), (err,))


def perturb_axis_scale(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """A linear value axis drawn on a log scale."""
    kinds = ("bar", "grouped_bar", "barh", "line", "multi_line", "scatter", "errorbar")
    options = [
        i
        for i, p in enumerate(spec.panels)
        if p.kind in kinds
        and p.value_scale == "linear"
        and _value_extent(p)[0] > 0
        and not (p.kind == "errorbar" and p.errorbar_bars)
        and _is_free(spec, f"p{i}.plot.axis")
    ]
    if not options:
        return None
    i = rng.choice(options)
    p = spec.panels[i]
    # A zero lower limit is invalid on a log axis: the scale change replaces any explicit range.
    new_p = replace(p, value_scale="log", value_lim=None)
    err = Discrepancy(
        "structure",
        3,
        f"{_where(spec, i)}{p.value_axis}-axis",
        f"the {p.value_axis}-axis uses a logarithmic scale instead of a linear one",
    )
    return Perturbation("axis_scale", _with_panel(spec, i, new_p, f"p{i}.plot.axis"), (err,))


# ----------------------------------------------------------------------------------------------------------------
# Layout


def perturb_legend_position(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """The legend placed at another corner (1), or moved from outside the plot into it (2)."""
    options = [i for i, p in enumerate(spec.panels) if p.legend_loc and _is_free(spec, f"p{i}.legend")]
    if not options:
        return None
    i = rng.choice(options)
    p = spec.panels[i]
    assert p.legend_loc is not None
    locs = ("upper right", "upper left", "lower left", "lower right") if p.kind in ("pie", "donut") else LEGEND_LOCS
    old = "outside the plot, right" if p.legend_outside else p.legend_loc
    new = rng.choice([loc for loc in locs if loc != p.legend_loc or p.legend_outside])
    severity = 2 if p.legend_outside else 1
    err = Discrepancy("structure", severity, f"{_where(spec, i)}legend, {old}", f"the legend is at the {new} instead")
    new_p = replace(p, legend_loc=new, legend_outside=False)
    return Perturbation("legend_position", _with_panel(spec, i, new_p, f"p{i}.legend"), (err,))


_ARRANGEMENTS: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {
    (1, 2): ((2, 1),),
    (2, 1): ((1, 2),),
    (1, 3): ((3, 1),),
    (3, 1): ((1, 3),),
    (2, 2): ((1, 4), (4, 1)),
    (1, 4): ((2, 2),),
    (4, 1): ((2, 2),),
}


def perturb_subplot_layout(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """The subplots arranged in another grid (2×1 instead of 1×2)."""
    if len(spec.panels) < 2 or not _is_free(spec, "fig.layout"):
        return None
    nrows, ncols = rng.choice(_ARRANGEMENTS[(spec.nrows, spec.ncols)])
    # Each panel keeps its size; the figure grows or shrinks around the new grid (capped to a sane 16 in).
    panel_w, panel_h = spec.figsize[0] / spec.ncols, spec.figsize[1] / spec.nrows
    w, h = panel_w * ncols, panel_h * nrows
    scale = min(1.0, 16 / max(w, h))
    figsize = (round(w * scale, 1), round(h * scale, 1))
    err = Discrepancy(
        "structure",
        2,
        "figure layout",
        f"the subplots are arranged in {nrows} row(s) × {ncols} column(s) instead of "
        f"{spec.nrows} row(s) × {spec.ncols} column(s)",
    )
    new = replace(spec, nrows=nrows, ncols=ncols, figsize=figsize, touched=spec.touched | {"fig.layout"})
    return Perturbation("subplot_layout", new, (err,))
