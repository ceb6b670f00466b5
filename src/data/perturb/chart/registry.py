"""The chart perturbation kinds by name and the category each labels: the tables synthesis draws from, in one place so
the order of kinds (which seeded draws depend on) is fixed here."""

from __future__ import annotations

from src.data.perturb.base import PerturbFn
from src.data.perturb.chart.data import perturb_data_value, perturb_extra_series, perturb_missing_series
from src.data.perturb.chart.structure import (
    perturb_axis_range,
    perturb_axis_scale,
    perturb_chart_type,
    perturb_legend_position,
    perturb_missing_element,
    perturb_subplot_layout,
)
from src.data.perturb.chart.style import perturb_color, perturb_marker_style
from src.data.perturb.chart.text import perturb_text

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
