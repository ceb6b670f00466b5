"""Chart perturbations with exact labels, and code rewrites that render the same pixels.

Each ``CHART_PERTURBATIONS`` entry edits one field group of a ``ChartSpec`` and returns the ``Discrepancy`` it caused,
so labels are true by construction. Severity follows the magnitude (Visual-ERM grades 1 minor, 2 medium, 3 severe):
a data value off by ~5% is 1, by ~15% is 2, by ~40% is 3; a shade change 1, another hue 2, two series' colours
swapped 3 (the legend now misleads); a typo 1, a changed label 2, a wrong title 3.

Composition: the synthesis pipeline applies several perturbations to one running spec. Element ids in
``spec.touched`` are dotted paths (``p0.plot.s2.v3`` = panel 0, series 2, value 3; ``p0.legend``; ``fig.layout``).
Everything a chart-type change redraws (series, values, ticks, value axis) sits under ``p<i>.plot``; titles,
labels, legend, grid and annotations sit beside it and survive a type change. A perturbation refuses an element
when it, an ancestor or a descendant was already touched, so no later step can remove or overwrite what an earlier
label describes. Locations name reference-side elements, so a perturbation
also refuses an element whose name an earlier step changed.

Every edit is sized to move pixels at the rendered size: targets are values ≥ 25% of the panel's largest, minor
changes are ≥ 4%, and changes that would push data outside an explicit axis range are refused.
"""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np

from src.data.perturb.base import EquivalenceFn, Perturbation, PerturbFn
from src.data.schema import Discrepancy
from src.data.seeds.chart import (
    CATEGORY_TOPICS,
    CMAPS,
    DISTRIBUTION_TOPICS,
    ERRORBAR_TOPICS,
    HEATMAP_TOPICS,
    LEGEND_LOCS,
    PALETTES,
    PANEL_KINDS,
    PIE_TOPICS,
    RANKING_TOPICS,
    SCATTER_TOPICS,
    ChartSpec,
    CodeStyle,
    Panel,
    Series,
    chart_source,
    hex_to_hls,
    hls_to_hex,
    with_code_style,
)

# ----------------------------------------------------------------------------------------------------------------
# Bookkeeping


def _is_free(spec: ChartSpec, *ids: str) -> bool:
    """True when no id, none of its ancestors and none of its descendants was touched before."""
    for eid in ids:
        for t in spec.touched:
            if t == eid or t.startswith(eid + ".") or eid.startswith(t + "."):
                return False
    return True


def _touched_under(spec: ChartSpec, prefix: str, suffix: str) -> bool:
    return any(t.startswith(prefix + ".") and t.endswith(suffix) for t in spec.touched)


def _with_panel(spec: ChartSpec, i: int, panel: Panel, *touch: str) -> ChartSpec:
    panels = spec.panels[:i] + (panel,) + spec.panels[i + 1 :]
    return replace(spec, panels=panels, touched=spec.touched | frozenset(touch))


def _with_series(panel: Panel, series: Series) -> Panel:
    return replace(panel, series=tuple(series if s.sid == series.sid else s for s in panel.series))


def _where(spec: ChartSpec, i: int) -> str:
    """Location prefix for panel ``i``; ordinals survive a change of the subplot arrangement."""
    return f"subplot {i + 1}, " if len(spec.panels) > 1 else ""


def _fmt(v: float, decimals: int) -> str:
    return f"{v:,.{decimals}f}"


def _round(v: float, decimals: int) -> float:
    return float(round(v, decimals)) if decimals else float(round(v))


_ELEMENT_NOUN = {
    "bar": "bar",
    "grouped_bar": "bar",
    "stacked_bar": "bar segment",
    "barh": "bar",
    "line": "point",
    "multi_line": "point",
    "area": "band",
    "errorbar": "mean",
    "scatter": "point",
    "pie": "wedge",
    "donut": "wedge",
    "box": "box",
    "heatmap": "cell",
    "hist": "histogram",
}
_SERIES_NOUN = {
    "bar": "bars",
    "grouped_bar": "bars",
    "stacked_bar": "bar segments",
    "barh": "bars",
    "line": "line",
    "multi_line": "line",
    "area": "band",
    "errorbar": "series",
    "scatter": "points",
    "pie": "wedge",
    "donut": "wedge",
    "box": "box",
    "heatmap": "row",
    "hist": "histogram",
}


def _names_visible(panel: Panel) -> bool:
    """Series names show on the image: in a legend, on pie wedges, as box ticks or heatmap rows."""
    if panel.kind in ("box", "heatmap"):
        return True
    if panel.kind in ("pie", "donut"):
        return True
    return panel.legend_loc is not None


def _value_extent(panel: Panel) -> tuple[float, float]:
    """Smallest and largest plotted value on the value axis (stack totals, error-bar tips, histogram counts)."""
    if panel.kind in ("stacked_bar", "area"):
        totals = [sum(col) for col in zip(*(s.values for s in panel.series), strict=True)]
        return min(min(s.values) for s in panel.series), max(totals)
    if panel.kind == "hist":
        # Each series is one ax.hist call with its own bin edges, so counts are per series.
        top = max(np.histogram(s.values, bins=panel.bins)[0].max() for s in panel.series)
        return 0.0, float(top)
    tips = [v + (s.errors[j] if s.errors else 0.0) for s in panel.series for j, v in enumerate(s.values)]
    lows = [v - (s.errors[j] if s.errors else 0.0) for s in panel.series for j, v in enumerate(s.values)]
    return min(lows), max(tips)


def _fits_axis(panel: Panel) -> bool:
    """The changed panel's data still sit inside its explicit axis range (clipped data would hide a change)."""
    lo, hi = _value_extent(panel)
    if panel.value_scale == "log" and lo <= 0:
        return False
    if panel.value_lim is None:
        return True
    return lo >= panel.value_lim[0] and hi <= 0.97 * panel.value_lim[1]


def _severity_of_change(rel: float) -> int:
    """Grade by the percentage the label states (rounded), so label text and severity never disagree."""
    pct = round(100 * rel)
    return 1 if pct < 10 else (2 if pct < 30 else 3)


_REL_BANDS = {1: (0.05, 0.08), 2: (0.14, 0.22), 3: (0.38, 0.55)}


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
# Colours


def _hue_distance(a: str, b: str) -> float:
    ha, hb = hex_to_hls(a)[0], hex_to_hls(b)[0]
    d = abs(ha - hb)
    return min(d, 1 - d)


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
# Text

# A mistyped letter is its right-hand neighbour on a QWERTY row (left-hand for the last key of a row).
_KEYBOARD_NEIGHBOURS = {
    row[k]: row[k + 1] if k + 1 < len(row) else row[k - 1]
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for k in range(len(row))
}


def make_typo(text: str, rng: random.Random) -> str | None:
    """A realistic typo in one word of ≥ 4 letters: two letters swapped, one dropped, or one mistyped."""
    words = [(k, w) for k, w in enumerate(text.split(" ")) if sum(c.isalpha() for c in w) >= 4]
    if not words:
        return None
    k, word = rng.choice(words)
    letters = [n for n, c in enumerate(word) if c.isalpha()]
    for _ in range(10):
        op = rng.choice(("swap", "drop", "mistype"))
        n = rng.choice(letters[1:-1] or letters)
        if op == "swap" and n + 1 < len(word) and word[n + 1].isalpha() and word[n] != word[n + 1]:
            new = word[:n] + word[n + 1] + word[n] + word[n + 2 :]
        elif op == "drop":
            new = word[:n] + word[n + 1 :]
        elif op == "mistype" and word[n].lower() in _KEYBOARD_NEIGHBOURS:
            c = _KEYBOARD_NEIGHBOURS[word[n].lower()]
            new = word[:n] + (c.upper() if word[n].isupper() else c) + word[n + 1 :]
        else:
            continue
        if new != word:
            parts = text.split(" ")
            parts[k] = new
            return " ".join(parts)
    return None


_UNIT_SWAPS = (
    ("USD", "EUR"),
    ("millions", "billions"),
    ("thousands", "millions"),
    ("(%)", "(count)"),
    ("(ms)", "(s)"),
    ("(mm)", "(cm)"),
    ("TWh", "GWh"),
    ("(years)", "(months)"),
    ("(cm)", "(mm)"),
)


def _relabel_axis(label: str, rng: random.Random) -> str | None:
    for a, b in rng.sample(_UNIT_SWAPS, len(_UNIT_SWAPS)):
        if a in label:
            return label.replace(a, b)
    others = [t.ylabel for t in CATEGORY_TOPICS] + [t.xlabel for t in CATEGORY_TOPICS]
    others = [o for o in others if o and o != label]
    return rng.choice(others) if label else None


def _other_titles(current: str) -> list[str]:
    titles = [t.title.replace(" ({span})", "") for t in CATEGORY_TOPICS] + [t[0] for t in ERRORBAR_TOPICS]
    titles += [t[0] for t in DISTRIBUTION_TOPICS]
    return [t for t in titles if t != current]


def perturb_text(spec: ChartSpec, rng: random.Random) -> Perturbation | None:
    """Title, axis label, legend entry, tick label, annotation or colour-bar label: a typo (1) or other words."""
    options: list[tuple[str, int, object]] = []
    if len(spec.panels) > 1 and spec.suptitle and _is_free(spec, "fig.suptitle"):
        options.append(("suptitle", -1, None))
    for i, p in enumerate(spec.panels):
        for field_name in ("title", "xlabel", "ylabel"):
            if getattr(p, field_name) and _is_free(spec, f"p{i}.{field_name}"):
                options.append((field_name, i, None))
        if _names_visible(p):
            options += [("name", i, s) for s in p.series if _is_free(spec, f"p{i}.plot.s{s.sid}")]
        if p.kind not in ("scatter", "hist", "pie", "donut", "box") and not (
            p.kind in ("line", "multi_line", "area") and all(c.isdigit() for c in p.categories)
        ):
            options += [("tick", i, j) for j in range(len(p.categories)) if _is_free(spec, f"p{i}.plot.cat{j}")]
        options += [("annotation", i, k) for k in range(len(p.annotations)) if _is_free(spec, f"p{i}.annot{k}")]
        if p.colorbar_label and _is_free(spec, f"p{i}.colorbar"):
            options.append(("colorbar", i, None))
    rng.shuffle(options)
    for what, i, target in options[:10]:
        typo = rng.random() < 0.5
        if what == "suptitle":
            old = spec.suptitle
            new = make_typo(old, rng) if typo else rng.choice(_other_titles(old))
            if not new or new == old:
                continue
            err = Discrepancy(
                "text", 1 if typo else 3, "figure title", _text_description("figure title", old, new, typo)
            )
            return Perturbation("text", replace(spec, suptitle=new, touched=spec.touched | {"fig.suptitle"}), (err,))
        p = spec.panels[i]
        where = _where(spec, i)
        if what in ("title", "xlabel", "ylabel"):
            old = getattr(p, what)
            if typo:
                new = make_typo(old, rng)
            else:
                new = rng.choice(_other_titles(old)) if what == "title" else _relabel_axis(old, rng)
            if not new or new == old:
                continue
            place = {"title": "title", "xlabel": "x-axis label", "ylabel": "y-axis label"}[what]
            severity = 1 if typo else (3 if what == "title" else 2)
            err = Discrepancy("text", severity, f"{where}{place}", _text_description(place, old, new, typo))
            if what == "title":
                changed = replace(p, title=new)
            elif what == "xlabel":
                changed = replace(p, xlabel=new)
            else:
                changed = replace(p, ylabel=new)
            return Perturbation("text", _with_panel(spec, i, changed, f"p{i}.{what}"), (err,))
        if what == "name":
            s = target
            assert isinstance(s, Series)
            new = make_typo(s.name, rng) if typo else None
            if new is None:
                pool = [n for n in _sibling_names(s.name) if n not in {r.name for r in p.series}]
                new, typo = (rng.choice(pool) if pool else None), False
            if not new or new in {r.name for r in p.series}:
                continue
            place = {"box": "x-axis tick label", "heatmap": "y-axis tick label"}.get(p.kind, "legend entry")
            if p.kind in ("pie", "donut") and p.legend_loc is None:
                place = "wedge label"
            err = Discrepancy(
                "text", 1 if typo else 2, f"{where}{place} '{s.name}'", _text_description(place, s.name, new, typo)
            )
            new_p = _with_series(p, replace(s, name=new))
            return Perturbation("text", _with_panel(spec, i, new_p, f"p{i}.plot.s{s.sid}.name"), (err,))
        if what == "tick":
            j = target
            assert isinstance(j, int)
            old = p.categories[j]
            new = make_typo(old, rng) if typo else None
            if new is None:
                pool = [c for c in _sibling_names(old) if c not in p.categories]
                new, typo = (rng.choice(pool) if pool else None), False
            if not new or new in p.categories:
                continue
            axis = "y" if p.kind == "barh" else "x"
            err = Discrepancy(
                "text",
                1 if typo else 2,
                f"{where}{axis}-axis tick label '{old}'",
                _text_description("tick label", old, new, typo),
            )
            cats = p.categories[:j] + (new,) + p.categories[j + 1 :]
            return Perturbation("text", _with_panel(spec, i, replace(p, categories=cats), f"p{i}.plot.cat{j}"), (err,))
        if what == "annotation":
            k = target
            assert isinstance(k, int)
            a = p.annotations[k]
            new = make_typo(a.text, rng) if typo else None
            if not new:
                head, _, tail = a.text.partition(":")
                new = (
                    rng.choice([t for t in ("Peak", "Record high", "Low point", "Forecast") if t != head]) + ":" + tail
                )
                typo = False
            err = Discrepancy(
                "text",
                1 if typo else 2,
                f"{where}annotation '{a.text}'",
                _text_description("annotation", a.text, new, typo),
            )
            notes = p.annotations[:k] + (replace(a, text=new),) + p.annotations[k + 1 :]
            return Perturbation("text", _with_panel(spec, i, replace(p, annotations=notes), f"p{i}.annot{k}"), (err,))
        if what == "colorbar":
            new = make_typo(p.colorbar_label, rng) if typo else _relabel_axis(p.colorbar_label, rng)
            if not new or new == p.colorbar_label:
                continue
            err = Discrepancy(
                "text",
                1 if typo else 2,
                f"{where}colour bar label",
                _text_description("colour bar label", p.colorbar_label, new, typo),
            )
            return Perturbation("text", _with_panel(spec, i, replace(p, colorbar_label=new), f"p{i}.colorbar"), (err,))
    return None


def _sibling_names(name: str) -> list[str]:
    """Other names from every word list that holds ``name``: a replacement that fits the chart's topic."""
    lists: list[tuple[str, ...]] = []
    for t in (*CATEGORY_TOPICS, *RANKING_TOPICS):
        lists += [t.categories, t.series]
    lists += [t[5] for t in DISTRIBUTION_TOPICS] + [t[1] for t in PIE_TOPICS] + [t[5] for t in SCATTER_TOPICS]
    lists += [t[3] for t in ERRORBAR_TOPICS] + [t[4] for t in ERRORBAR_TOPICS]
    lists += [t[1] for t in HEATMAP_TOPICS] + [t[2] for t in HEATMAP_TOPICS]
    return list(dict.fromkeys(n for names in lists if name in names for n in names if n != name))


def _text_description(place: str, old: str, new: str, typo: bool) -> str:
    kind = "has a typo" if typo else "reads differently"
    return f"the {place} {kind}: '{new}' instead of '{old}'"


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


CHART_PERTURBATIONS: dict[str, PerturbFn] = {
    "data_value": perturb_data_value,
    "chart_type": perturb_chart_type,
    "color": perturb_color,
    "text": perturb_text,
    "missing_series": perturb_missing_series,
    "extra_series": perturb_extra_series,
    "missing_element": perturb_missing_element,
    "axis_range": perturb_axis_range,
    "axis_scale": perturb_axis_scale,
    "legend_position": perturb_legend_position,
    "subplot_layout": perturb_subplot_layout,
    "marker_style": perturb_marker_style,
}

# The category each kind's labels mostly carry (missing_element also labels text and style): synthesis draws kinds
# so that categories, not kinds, are balanced — otherwise the most-subdivided category dominates the labels.
CHART_KIND_CATEGORY: dict[str, str] = {
    "data_value": "data",
    "missing_series": "data",
    "extra_series": "data",
    "chart_type": "structure",
    "axis_range": "structure",
    "axis_scale": "structure",
    "legend_position": "structure",
    "subplot_layout": "structure",
    "missing_element": "structure",
    "text": "text",
    "color": "style",
    "marker_style": "style",
}


# ----------------------------------------------------------------------------------------------------------------
# Equivalences: other code, same pixels


def _renamed(code: CodeStyle, rng: random.Random) -> CodeStyle:
    names = [("fig", "ax"), ("figure", "axis"), ("f", "ax1"), ("fig1", "plot_ax")]
    fig_var, ax_var = rng.choice([n for n in names if n != (code.fig_var, code.ax_var)])
    prefix = rng.choice([p for p in ("", "chart_", "my_") if p != code.data_prefix])
    return replace(code, fig_var=fig_var, ax_var=ax_var, data_prefix=prefix)


def _distinct_source(spec: ChartSpec, rewritten: ChartSpec, rng: random.Random) -> str:
    """The rewritten source; when the rewrite does not apply to this chart, variables are renamed as well."""
    source = chart_source(rewritten)
    if source == chart_source(spec):
        source = chart_source(replace(rewritten, code=_renamed(rewritten.code, rng)))
    return source


def equivalent_color_notation(spec: ChartSpec, rng: random.Random) -> str:
    """Colours written as '#1f77b4', '#1F77B4', 'tab:blue' or (31/255, 119/255, 180/255)."""
    notation = rng.choice([n for n in ("hex", "HEX", "name", "rgb") if n != spec.code.color_notation])
    return _distinct_source(spec, with_code_style(spec, color_notation=notation), rng)


def equivalent_renamed_variables(spec: ChartSpec, rng: random.Random) -> str:
    """Other names for the figure, the axes and the data variables."""
    return chart_source(replace(spec, code=_renamed(spec.code, rng)))


def equivalent_reordered_labels(spec: ChartSpec, rng: random.Random) -> str:
    """Title and axis-label statements in another order (independent statements)."""
    orders = [("title", "xlabel", "ylabel"), ("xlabel", "ylabel", "title"), ("ylabel", "title", "xlabel")]
    order = rng.choice([o for o in orders if o != spec.code.label_order])
    return _distinct_source(spec, with_code_style(spec, label_order=order), rng)


def equivalent_loop_unrolled(spec: ChartSpec, rng: random.Random) -> str:
    """Series drawn in a loop over a dict, or one plotting call per series."""
    return _distinct_source(spec, with_code_style(spec, series_loop=not spec.code.series_loop), rng)


def equivalent_keyword_setter(spec: ChartSpec, rng: random.Random) -> str:
    """``ax.set(xlabel=..., ylabel=...)`` instead of one setter call each, or the reverse."""
    return _distinct_source(spec, with_code_style(spec, use_ax_set=not spec.code.use_ax_set), rng)


CHART_EQUIVALENCES: dict[str, EquivalenceFn] = {
    "color_notation": equivalent_color_notation,
    "renamed_variables": equivalent_renamed_variables,
    "reordered_labels": equivalent_reordered_labels,
    "loop_unrolled": equivalent_loop_unrolled,
    "keyword_setter": equivalent_keyword_setter,
}
