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

from src.data.perturb.chart.data import perturb_data_value, perturb_extra_series, perturb_missing_series
from src.data.perturb.chart.equivalences import (
    CHART_EQUIVALENCES,
    equivalent_color_notation,
    equivalent_keyword_setter,
    equivalent_loop_unrolled,
    equivalent_renamed_variables,
    equivalent_reordered_labels,
)
from src.data.perturb.chart.registry import CHART_KIND_CATEGORY, CHART_PERTURBATIONS
from src.data.perturb.chart.structure import (
    perturb_axis_range,
    perturb_axis_scale,
    perturb_chart_type,
    perturb_legend_position,
    perturb_missing_element,
    perturb_subplot_layout,
)
from src.data.perturb.chart.style import perturb_color, perturb_marker_style
from src.data.perturb.chart.text import make_typo, perturb_text

__all__ = [
    "CHART_EQUIVALENCES",
    "CHART_KIND_CATEGORY",
    "CHART_PERTURBATIONS",
    "equivalent_color_notation",
    "equivalent_keyword_setter",
    "equivalent_loop_unrolled",
    "equivalent_renamed_variables",
    "equivalent_reordered_labels",
    "make_typo",
    "perturb_axis_range",
    "perturb_axis_scale",
    "perturb_chart_type",
    "perturb_color",
    "perturb_data_value",
    "perturb_extra_series",
    "perturb_legend_position",
    "perturb_marker_style",
    "perturb_missing_element",
    "perturb_missing_series",
    "perturb_subplot_layout",
    "perturb_text",
]
