"""Perturbations labelled ``data``: a plotted value changed, a series left out, or a series the reference lacks."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from src.data.perturb.base import Perturbation
from src.data.perturb.chart.bookkeeping import (
    _ELEMENT_NOUN,
    _REL_BANDS,
    _SERIES_NOUN,
    _fits_axis,
    _fmt,
    _hue_distance,
    _is_free,
    _round,
    _severity_of_change,
    _where,
    _with_panel,
    _with_series,
)
from src.data.schema import Discrepancy
from src.data.seeds.chart import (
    CATEGORY_TOPICS,
    DISTRIBUTION_TOPICS,
    ERRORBAR_TOPICS,
    PALETTES,
    ChartSpec,
    Series,
)

# ----------------------------------------------------------------------------------------------------------------
# Data values

_DATA_KINDS = ("bar", "grouped_bar", "stacked_bar", "barh", "line", "multi_line", "area", "errorbar", "scatter")


def perturb_data_value(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """One value (bar, point, wedge share, heatmap cell) or one box's samples scaled by a graded amount."""
    candidates: list[tuple[int, Series, int]] = []
    for i, p in enumerate(spec.panels):
        if p.kind in (*_DATA_KINDS, "pie", "donut", "heatmap"):
            peak = max(abs(v) for s in p.series for v in s.values)
            for s in p.series:
                for j, v in enumerate(s.values):
                    ids = (f"p{i}.plot.s{s.sid}.v{j}", f"p{i}.plot.s{s.sid}.name", f"p{i}.plot.cat{j}")
                    if v >= 0.25 * peak and _is_free(spec, *ids):
                        candidates.append((i, s, j))
        elif p.kind == "box":
            candidates += [(i, s, -1) for s in p.series if _is_free(spec, f"p{i}.plot.s{s.sid}")]
    rng.shuffle(candidates)
    for i, s, j in candidates[:12]:
        p = spec.panels[i]
        severity = rng.choice((1, 2, 3))
        rel = rng.uniform(*_REL_BANDS[severity]) * rng.choice((-1, 1))
        if p.kind == "box":
            new_values = tuple(round(v * (1 + rel), 1) for v in s.values)
            new_p = _with_series(p, replace(s, values=new_values))
            if not _fits_axis(new_p):
                continue
            old_med, new_med = float(np.median(s.values)), float(np.median(new_values))
            err = Discrepancy(
                "data",
                _severity_of_change(abs(rel)),
                f"{_where(spec, i)}box '{s.name}'",
                f"the distribution of '{s.name}' is shifted {'up' if rel > 0 else 'down'}: median about "
                f"{new_med:,.1f} instead of {old_med:,.1f} ({'+' if rel > 0 else '-'}{100 * abs(rel):.0f}%)",
            )
            return Perturbation("data_value", _with_panel(spec, i, new_p, f"p{i}.plot.s{s.sid}"), (err,))
        old = s.values[j]
        decimals = 1 if p.kind in ("pie", "donut") else p.decimals
        new = _round(old * (1 + rel), decimals)
        actual = abs(new - old) / abs(old)
        if new == old or actual < 0.04 or new <= 0:
            continue
        new_s = replace(s, values=s.values[:j] + (new,) + s.values[j + 1 :])
        new_p = _with_series(p, new_s)
        if p.kind == "heatmap":
            rest = [v for r in p.series for v in r.values]
            # Inside the matrix's range, the colour scale (auto vmin/vmax) of the other cells does not move.
            if not (min(rest) < new < max(rest)) or old in (min(rest), max(rest)):
                continue
        elif p.kind not in ("pie", "donut") and not _fits_axis(new_p):
            continue
        severity = _severity_of_change(actual)
        noun = _ELEMENT_NOUN[p.kind]
        if p.kind in ("pie", "donut"):
            total_old = sum(r.values[0] for r in p.series)
            total_new = total_old - old + new
            location = f"{_where(spec, i)}wedge '{s.name}'"
            description = (
                f"the '{s.name}' wedge is {'larger' if new > old else 'smaller'}: "
                f"{100 * new / total_new:.1f}% instead of {100 * old / total_old:.1f}%"
            )
        elif p.kind == "heatmap":
            location = f"{_where(spec, i)}cell ('{s.name}', '{p.categories[j]}')"
            description = f"the cell value is {_fmt(new, decimals)} instead of {_fmt(old, decimals)}"
        elif p.kind == "scatter":
            location = f"{_where(spec, i)}point at x={s.x[j]:g} of series '{s.name}'"
            description = f"the point sits at y={_fmt(new, decimals)} instead of y={_fmt(old, decimals)}"
        else:
            of_series = f" of series '{s.name}'" if len(p.series) > 1 else ""
            location = f"{_where(spec, i)}{noun} '{p.categories[j]}'{of_series}"
            description = f"the {noun} shows {_fmt(new, decimals)} instead of {_fmt(old, decimals)}"
        description += f" ({'+' if new > old else '-'}{100 * actual:.0f}%)"
        err = Discrepancy("data", severity, location, description)
        return Perturbation("data_value", _with_panel(spec, i, new_p, f"p{i}.plot.s{s.sid}.v{j}"), (err,))
    return None


# ----------------------------------------------------------------------------------------------------------------
# Missing or extra series


def perturb_missing_series(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """One series (bar group, line, wedge, box, heatmap row, histogram) left out."""
    options = []
    for i, p in enumerate(spec.panels):
        minimum = 3 if p.kind in ("pie", "donut", "box", "heatmap") else 2
        if len(p.series) < minimum:
            continue
        for n, s in enumerate(p.series):
            if n == 0 and p.annotations:
                continue  # the annotation points at the first series
            if _is_free(spec, f"p{i}.plot.s{s.sid}"):
                options.append((i, s))
    if not options:
        return None
    i, s = rng.choice(options)
    p = spec.panels[i]
    new_p = replace(p, series=tuple(r for r in p.series if r.sid != s.sid))
    noun = _SERIES_NOUN[p.kind]
    err = Discrepancy("data", 3, f"{_where(spec, i)}{noun} '{s.name}'", f"the {noun} '{s.name}' is missing")
    return Perturbation("missing_series", _with_panel(spec, i, new_p, f"p{i}.plot.s{s.sid}"), (err,))


_EXTRA_KINDS = ("grouped_bar", "stacked_bar", "multi_line", "area", "errorbar", "box")


def perturb_extra_series(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """A plausible series that the reference does not have (named like its siblings, values in their range)."""
    options = []
    for i, p in enumerate(spec.panels):
        if p.kind not in _EXTRA_KINDS or len(p.series) >= 5 or (p.kind == "errorbar" and p.errorbar_bars):
            continue
        names = {s.name for s in p.series}
        if p.kind == "box":
            pool = [g for t in DISTRIBUTION_TOPICS if names <= set(t[5]) for g in t[5]]
        else:
            pool = [n for t in CATEGORY_TOPICS if names <= set(t.series) for n in t.series]
            pool += [n for t in ERRORBAR_TOPICS if names <= set(t[4]) for n in t[4]]
        pool = [n for n in dict.fromkeys(pool) if n not in names]
        if pool and f"p{i}.plot" not in spec.touched:
            options.append((i, pool))
    rng.shuffle(options)
    for i, pool in options:
        p = spec.panels[i]
        name = rng.choice(pool)
        sid = max(s.sid for s in p.series) + 1
        used = [s.color for s in p.series]
        colors = [c for pal in PALETTES for c in pal if all(_hue_distance(c, u) > 0.08 for u in used)]
        color = rng.choice(colors or [c for c in PALETTES[0] if c not in used])
        template = rng.choice(p.series)
        if p.kind == "box":
            values = tuple(round(v * rng.uniform(0.8, 1.2), 1) for v in template.values)
        else:
            lo = min(min(s.values) for s in p.series)
            hi = max(max(s.values) for s in p.series)
            values = tuple(_round(rng.uniform(lo, hi), p.decimals) for _ in template.values)
        errors = (
            tuple(_round(max(v * 0.08, 10 ** (-p.decimals)), p.decimals) for v in values) if template.errors else ()
        )
        marker = rng.choice([m for m in ("o", "s", "^", "D", "v") if m not in {s.marker for s in p.series}])
        new_s = replace(template, sid=sid, name=name, values=values, color=color, errors=errors)
        if template.marker:
            new_s = replace(new_s, marker=marker)
        new_p = replace(p, series=(*p.series, new_s))
        if not _fits_axis(new_p):
            continue
        noun = _SERIES_NOUN[p.kind]
        err = Discrepancy(
            "data",
            3,
            f"{_where(spec, i)}{noun} '{name}'",
            f"an extra series '{name}' ({noun}) is plotted that the reference does not have",
        )
        return Perturbation("extra_series", _with_panel(spec, i, new_p, f"p{i}.plot.s{sid}"), (err,))
    return None
