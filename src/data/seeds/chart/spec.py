"""What a chart seed is: the spec dataclasses, the kinds of panels and charts, colours and palettes."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field
from typing import Literal

import matplotlib.colors as mcolors
import matplotlib.style

PanelKind = Literal[
    "bar",
    "grouped_bar",
    "stacked_bar",
    "barh",
    "line",
    "multi_line",
    "scatter",
    "pie",
    "donut",
    "hist",
    "box",
    "heatmap",
    "area",
    "errorbar",
]
PANEL_KINDS: tuple[str, ...] = PanelKind.__args__  # type: ignore[attr-defined]
# Top-level kinds: every panel kind as a single chart, plus grids of simple panels.
CHART_KINDS: tuple[str, ...] = (*PANEL_KINDS, "subplots")
# Panels that a subplot grid is made of: the kinds whose small versions still read well.
SUBPLOT_PANEL_KINDS: tuple[str, ...] = ("bar", "barh", "line", "multi_line", "scatter", "hist", "pie", "grouped_bar")
LEGEND_LOCS: tuple[str, ...] = ("upper right", "upper left", "lower right", "lower left", "upper center", "center left")
# Styles that turn gridlines on by default; a spec without grid must switch them off explicitly there.
STYLES: tuple[str, ...] = ("default", "default", "default", "ggplot", "seaborn-v0_8-whitegrid", "bmh", "classic")


@dataclass(frozen=True)
class Series:
    """One plotted data series (a bar group, a line, a wedge, a box, a heatmap row).

    ``sid`` is a stable id for ``touched`` bookkeeping: names and order may change under perturbation, ids do not.
    ``x`` holds scatter x-coordinates; other kinds index ``values`` by the panel's categories.
    """

    sid: int
    name: str
    values: tuple[float, ...]
    color: str
    x: tuple[float, ...] = ()
    errors: tuple[float, ...] = ()
    marker: str = ""
    linestyle: str = "-"
    linewidth: float = 2.0


@dataclass(frozen=True)
class Annotation:
    """An arrow annotation pointing at category ``index`` of the first series (``xy`` in data coordinates)."""

    text: str
    index: int
    y: float
    y_text: float


@dataclass(frozen=True)
class Panel:
    """One axes: what is drawn and how it is labelled."""

    kind: str
    title: str
    xlabel: str
    ylabel: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    decimals: int = 1
    legend_loc: str | None = None
    legend_outside: bool = False
    grid: bool = False
    value_lim: tuple[float, float] | None = None
    value_scale: str = "linear"
    annotations: tuple[Annotation, ...] = ()
    bar_labels: bool = False
    tick_rotation: int = 0
    bins: int = 20
    cmap: str = "viridis"
    colorbar_label: str = ""
    text_threshold: float = 0.0
    bar_width: float = 0.6
    errorbar_bars: bool = False
    despine: bool = False

    def __post_init__(self) -> None:
        if self.kind not in PANEL_KINDS:
            raise ValueError(f"Panel.kind: {self.kind!r} is not one of {PANEL_KINDS}")
        if self.legend_loc is not None and self.legend_loc not in LEGEND_LOCS + ("lower left", "upper left"):
            raise ValueError(f"Panel.legend_loc: {self.legend_loc!r} is not one of {LEGEND_LOCS} or None")
        if self.value_scale not in ("linear", "log"):
            raise ValueError(f"Panel.value_scale: {self.value_scale!r} is not 'linear' or 'log'")
        if not self.series:
            raise ValueError("Panel.series: a panel needs at least one series")
        for s in self.series:
            if (
                self.categories
                and self.kind not in ("scatter", "hist", "box")
                and len(s.values) != len(self.categories)
            ):
                raise ValueError(
                    f"Panel.series[{s.name!r}].values: {len(s.values)} values for {len(self.categories)} categories"
                )

    @property
    def value_axis(self) -> str:
        """The axis that carries the data values (x for horizontal bars)."""
        return "x" if self.kind == "barh" else "y"


@dataclass(frozen=True)
class CodeStyle:
    """How the script is written; none of it changes the rendered pixels."""

    fig_var: str = "fig"
    ax_var: str = "ax"
    data_prefix: str = ""  # prepended to data variable names ("sales_" -> sales_values)
    color_notation: Literal["hex", "HEX", "name", "rgb"] = "hex"
    series_loop: bool = True
    use_ax_set: bool = False  # ax.set(title=..., xlabel=...) instead of one call each
    label_order: tuple[str, ...] = ("title", "xlabel", "ylabel")
    ending: Literal["savefig", "show"] = "savefig"
    output_name: str = "output.png"


@dataclass(frozen=True)
class ChartSpec:
    """A whole figure: one panel, or a grid of panels under a suptitle."""

    kind: str
    figsize: tuple[float, float]
    panels: tuple[Panel, ...]
    nrows: int = 1
    ncols: int = 1
    suptitle: str = ""
    style: str = "default"
    font_size: int = 10
    code: CodeStyle = field(default_factory=CodeStyle)
    touched: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in CHART_KINDS:
            raise ValueError(f"ChartSpec.kind: {self.kind!r} is not one of {CHART_KINDS}")
        if self.nrows * self.ncols != len(self.panels):
            raise ValueError(f"ChartSpec: {len(self.panels)} panels do not fill a {self.nrows}x{self.ncols} grid")
        if self.style != "default" and self.style not in matplotlib.style.available:
            raise ValueError(f"ChartSpec.style: {self.style!r} is not a matplotlib style")

    @property
    def title(self) -> str:
        return self.suptitle if len(self.panels) > 1 else self.panels[0].title


# ----------------------------------------------------------------------------------------------------------------
# Colours


TAB10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
NAMED = ("#4682b4", "#ff8c00", "#2e8b57", "#dc143c", "#6a5acd", "#daa520", "#008080", "#cd5c5c", "#9370db", "#ff6347")
DEEP = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd")
EARTH = ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#6d597a", "#b56576", "#355070", "#83c5be", "#bc6c25")
PALETTES: tuple[tuple[str, ...], ...] = (TAB10, NAMED, DEEP, EARTH)
CMAPS: tuple[str, ...] = ("viridis", "YlGnBu", "Blues", "coolwarm", "magma", "OrRd", "Greens", "plasma")

# matplotlib annotates these tables with its general ColorType; every value in them is a "#rrggbb" string.
_HEX_TO_NAME: dict[str, str] = {v.lower(): k for k, v in mcolors.CSS4_COLORS.items() if isinstance(v, str)}
_HEX_TO_NAME.update({v.lower(): k for k, v in mcolors.TABLEAU_COLORS.items() if isinstance(v, str)})


def color_literal(hex_color: str, notation: str) -> str:
    """Write one colour in the given notation; all notations give the same RGBA in matplotlib."""
    hex_color = hex_color.lower()
    if notation == "HEX":
        return repr(hex_color.upper())
    if notation == "name" and hex_color in _HEX_TO_NAME:
        return repr(_HEX_TO_NAME[hex_color])
    if notation == "rgb":
        r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
        # x/255 evaluates to the same float matplotlib computes from the hex string.
        return f"({r}/255, {g}/255, {b}/255)"
    return repr(hex_color)


def hex_to_hls(hex_color: str) -> tuple[float, float, float]:
    return colorsys.rgb_to_hls(*mcolors.to_rgb(hex_color))


def hls_to_hex(h: float, light: float, s: float) -> str:
    return mcolors.to_hex(colorsys.hls_to_rgb(h, min(max(light, 0.0), 1.0), min(max(s, 0.0), 1.0)))
