"""Chart seeds: a structured ``ChartSpec`` and the matplotlib script it stands for.

A seed is a spec, not code, so that perturbations (``src/data/perturb/chart/``) edit a field and know exactly what
changed on the image. ``chart_source`` writes the script the way ChartMimic-style datasets do: imports, data literals,
``plt.subplots``, styling calls, ``plt.tight_layout()`` and ``plt.savefig``/``plt.show()``.

How the code is *written* (variable names, colour notation, loops vs. one call per series, statement order) lives in
``CodeStyle`` and never changes pixels; the equivalence transforms vary only that part. All data are literals: a
script must render the same image every time, so nothing is random at render time.
"""

from src.data.seeds.chart.code import chart_source, with_code_style
from src.data.seeds.chart.sampler import make_chart_seed
from src.data.seeds.chart.spec import (
    CHART_KINDS,
    CMAPS,
    LEGEND_LOCS,
    PALETTES,
    PANEL_KINDS,
    ChartSpec,
    CodeStyle,
    Panel,
    Series,
    color_literal,
    hex_to_hls,
    hls_to_hex,
)
from src.data.seeds.chart.topics import (
    CATEGORY_TOPICS,
    DISTRIBUTION_TOPICS,
    ERRORBAR_TOPICS,
    HEATMAP_TOPICS,
    PIE_TOPICS,
    RANKING_TOPICS,
    SCATTER_TOPICS,
)

__all__ = [
    "CATEGORY_TOPICS",
    "CHART_KINDS",
    "CMAPS",
    "ChartSpec",
    "CodeStyle",
    "DISTRIBUTION_TOPICS",
    "ERRORBAR_TOPICS",
    "HEATMAP_TOPICS",
    "LEGEND_LOCS",
    "PALETTES",
    "PANEL_KINDS",
    "PIE_TOPICS",
    "Panel",
    "RANKING_TOPICS",
    "SCATTER_TOPICS",
    "Series",
    "chart_source",
    "color_literal",
    "hex_to_hls",
    "hls_to_hex",
    "make_chart_seed",
    "with_code_style",
]
