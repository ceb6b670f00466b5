"""Helpers every chart perturbation shares: the ``touched`` bookkeeping that lets perturbations compose, panel and
series replacement, location and number phrasing, and the checks that keep an edit visible on the axis."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from src.data.seeds.chart import ChartSpec, Panel, Series, hex_to_hls


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


def _hue_distance(a: str, b: str) -> float:
    ha, hb = hex_to_hls(a)[0], hex_to_hls(b)[0]
    d = abs(ha - hb)
    return min(d, 1 - d)
