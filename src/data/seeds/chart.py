"""Chart seeds: a structured ``ChartSpec`` and the matplotlib script it stands for.

A seed is a spec, not code, so that perturbations (``src/data/perturb/chart.py``) edit a field and know exactly what
changed on the image. ``chart_source`` writes the script the way ChartMimic-style datasets do: imports, data literals,
``plt.subplots``, styling calls, ``plt.tight_layout()`` and ``plt.savefig``/``plt.show()``.

How the code is *written* (variable names, colour notation, loops vs. one call per series, statement order) lives in
``CodeStyle`` and never changes pixels; the equivalence transforms vary only that part. All data are literals: a
script must render the same image every time, so nothing is random at render time.
"""

from __future__ import annotations

import colorsys
import random
import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

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


# ----------------------------------------------------------------------------------------------------------------
# Topics: plausible wording and value ranges


@dataclass(frozen=True)
class _Topic:
    title: str
    xlabel: str
    ylabel: str
    categories: tuple[str, ...]
    series: tuple[str, ...]
    low: float
    high: float


_YEARS = tuple(str(y) for y in range(2012, 2024))
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_QUARTERS = ("Q1", "Q2", "Q3", "Q4")

CATEGORY_TOPICS: tuple[_Topic, ...] = (
    _Topic(
        "Quarterly Revenue by Region ({span})",
        "Quarter",
        "Revenue (USD millions)",
        _QUARTERS,
        ("North America", "Europe", "Asia Pacific", "Latin America"),
        60,
        420,
    ),
    _Topic(
        "Monthly Active Users by Platform",
        "Month",
        "Active users (millions)",
        _MONTHS,
        ("iOS", "Android", "Web", "Desktop"),
        8,
        85,
    ),
    _Topic(
        "Model Accuracy on Reasoning Benchmarks",
        "Benchmark",
        "Accuracy (%)",
        ("MMLU", "GSM8K", "HumanEval", "ARC-C", "HellaSwag", "MATH"),
        ("Llama-2-70B", "Mistral-7B", "Qwen-14B", "GPT-3.5"),
        25,
        92,
    ),
    _Topic(
        "Energy Consumption by Sector ({span})",
        "Year",
        "Consumption (TWh)",
        _YEARS,
        ("Residential", "Commercial", "Industrial", "Transport"),
        120,
        880,
    ),
    _Topic(
        "Website Traffic by Source",
        "Week",
        "Sessions (thousands)",
        tuple(f"W{i}" for i in range(1, 11)),
        ("Organic Search", "Direct", "Social", "Referral", "Email"),
        4,
        60,
    ),
    _Topic(
        "Crop Yield by Fertilizer Treatment",
        "Field plot",
        "Yield (t/ha)",
        tuple(f"Plot {c}" for c in "ABCDEFG"),
        ("Control", "Nitrogen", "Phosphate", "Compost"),
        2.2,
        9.5,
    ),
    _Topic(
        "Hospital Admissions by Department",
        "Month",
        "Admissions",
        _MONTHS,
        ("Cardiology", "Oncology", "Pediatrics", "Emergency"),
        180,
        1250,
    ),
    _Topic(
        "Smartphone Shipments by Vendor ({span})",
        "Year",
        "Units shipped (millions)",
        _YEARS,
        ("Samsung", "Apple", "Xiaomi", "Oppo", "vivo"),
        40,
        310,
    ),
    _Topic(
        "CO2 Emissions per Capita",
        "Year",
        "Emissions (t per person)",
        _YEARS,
        ("United States", "Germany", "China", "India"),
        1.6,
        16.5,
    ),
    _Topic(
        "Median API Latency by Service",
        "Hour of day",
        "Latency (ms)",
        ("00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"),
        ("Auth", "Search", "Checkout", "Recommendations"),
        35,
        420,
    ),
    _Topic(
        "Student Enrollment by Faculty ({span})",
        "Academic year",
        "Students enrolled",
        _YEARS,
        ("Engineering", "Medicine", "Law", "Arts", "Sciences"),
        800,
        5200,
    ),
    _Topic(
        "Average Monthly Rainfall",
        "Month",
        "Rainfall (mm)",
        _MONTHS,
        ("London", "Seattle", "Singapore", "Mumbai"),
        12,
        210,
    ),
)

RANKING_TOPICS: tuple[_Topic, ...] = (
    _Topic(
        "Top Programming Languages by Usage",
        "Share of developers (%)",
        "",
        ("Python", "JavaScript", "Java", "C#", "TypeScript", "C++", "Go", "Rust", "Kotlin"),
        ("Usage",),
        8,
        68,
    ),
    _Topic(
        "Renewable Electricity Share by Country",
        "Share of generation (%)",
        "",
        ("Norway", "Brazil", "Canada", "Spain", "Germany", "United Kingdom", "China", "Japan"),
        ("Share",),
        12,
        95,
    ),
    _Topic(
        "Average Customer Rating by Product Line",
        "Mean rating (1\u20135)",
        "",
        ("Headphones", "Smartwatches", "Tablets", "Laptops", "Speakers", "Cameras"),
        ("Rating",),
        2.8,
        4.8,
    ),
    _Topic(
        "Annual Visitors to National Parks",
        "Visitors (millions)",
        "",
        ("Great Smoky Mountains", "Grand Canyon", "Zion", "Rocky Mountain", "Acadia", "Yosemite", "Yellowstone"),
        ("Visitors",),
        2.5,
        14.5,
    ),
)

PIE_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Cloud Infrastructure Market Share (2023)", ("AWS", "Microsoft Azure", "Google Cloud", "Alibaba Cloud", "Others")),
    ("Household Budget Allocation", ("Housing", "Food", "Transport", "Healthcare", "Savings", "Leisure")),
    ("Electricity Generation Mix", ("Natural Gas", "Coal", "Nuclear", "Hydro", "Wind", "Solar")),
    ("Preferred Work Arrangement (Survey, n=1,200)", ("Fully remote", "Hybrid", "On-site", "No preference")),
    ("Traffic Share by Browser", ("Chrome", "Safari", "Edge", "Firefox", "Other")),
)

DISTRIBUTION_TOPICS: tuple[tuple[str, str, str, float, float, tuple[str, ...]], ...] = (
    # title, value label, count label, mean, sd, group names (box/hist overlays)
    (
        "Distribution of Final Exam Scores",
        "Score",
        "Number of students",
        68,
        11,
        ("Section A", "Section B", "Section C", "Section D", "Section E"),
    ),
    ("Customer Order Values", "Order value (USD)", "Orders", 74, 21, ("Web", "Mobile app", "In store", "Phone")),
    ("Patient Age at Diagnosis", "Age (years)", "Patients", 57, 13, ("Clinic 1", "Clinic 2", "Clinic 3", "Clinic 4")),
    ("API Response Latency", "Latency (ms)", "Requests", 240, 55, ("us-east", "eu-west", "ap-south", "sa-east")),
    (
        "Salary Distribution by Department",
        "Annual salary (USD thousands)",
        "Employees",
        92,
        18,
        ("Engineering", "Sales", "Marketing", "Finance", "Support"),
    ),
    (
        "Reaction Time by Condition",
        "Reaction time (ms)",
        "Trials",
        430,
        60,
        ("Baseline", "Caffeine", "Sleep-deprived", "Dual-task"),
    ),
)

SCATTER_TOPICS: tuple[tuple[str, str, str, tuple[float, float], tuple[float, float], tuple[str, ...]], ...] = (
    (
        "Advertising Spend vs. Weekly Sales",
        "Ad spend (USD thousands)",
        "Units sold",
        (5, 60),
        (200, 1400),
        ("TV", "Online", "Print"),
    ),
    (
        "GDP per Capita vs. Life Expectancy",
        "GDP per capita (USD thousands)",
        "Life expectancy (years)",
        (2, 70),
        (58, 84),
        ("Africa", "Asia", "Europe"),
    ),
    (
        "Study Hours vs. Exam Score",
        "Weekly study hours",
        "Exam score",
        (1, 25),
        (40, 98),
        ("Cohort 2022", "Cohort 2023"),
    ),
    (
        "Engine Displacement vs. Fuel Economy",
        "Displacement (L)",
        "Fuel economy (mpg)",
        (1.0, 6.5),
        (14, 48),
        ("Sedan", "SUV", "Truck"),
    ),
)

HEATMAP_TOPICS: tuple[tuple[str, tuple[str, ...], tuple[str, ...], str, float, float], ...] = (
    (
        "Monthly Sales by Store",
        ("Store A", "Store B", "Store C", "Store D", "Store E", "Store F"),
        _MONTHS[:8],
        "Units sold",
        120,
        980,
    ),
    (
        "Average Hourly Website Visits",
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
        ("6h", "9h", "12h", "15h", "18h", "21h"),
        "Visits",
        40,
        620,
    ),
    (
        "Hotel Occupancy Rate by City (%)",
        ("Paris", "Rome", "Berlin", "Madrid", "Vienna"),
        ("Jan", "Mar", "May", "Jul", "Sep", "Nov"),
        "Occupancy (%)",
        35,
        96,
    ),
    (
        "Defects per Production Line and Shift",
        ("Line 1", "Line 2", "Line 3", "Line 4"),
        ("Shift A", "Shift B", "Shift C", "Shift D", "Shift E"),
        "Defects",
        3,
        48,
    ),
)

ERRORBAR_TOPICS: tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...], float, float], ...] = (
    (
        "Mean Reaction Time by Condition (\u00b1 SD)",
        "Condition",
        "Reaction time (ms)",
        ("Control", "Low dose", "Medium dose", "High dose"),
        ("Session 1", "Session 2"),
        320,
        520,
    ),
    (
        "Blood Pressure Reduction After 12 Weeks",
        "Treatment arm",
        "Systolic reduction (mmHg)",
        ("Placebo", "Drug A", "Drug B", "Drug A + B"),
        ("Women", "Men"),
        3,
        18,
    ),
    (
        "Throughput vs. Batch Size",
        "Batch size",
        "Throughput (samples/s)",
        ("8", "16", "32", "64", "128", "256"),
        ("GPU A", "GPU B", "GPU C"),
        150,
        2400,
    ),
    (
        "Plant Growth Under Light Conditions",
        "Week",
        "Height (cm)",
        ("Week 1", "Week 2", "Week 3", "Week 4", "Week 5"),
        ("Full sun", "Partial shade", "LED"),
        4,
        38,
    ),
)

ANNOTATION_TEXTS: tuple[str, ...] = ("Peak", "Record high", "Product launch", "Policy change", "All-time high")


# ----------------------------------------------------------------------------------------------------------------
# Seed generation


def _decimals_for(high: float) -> int:
    return 0 if high >= 150 else (1 if high >= 10 else 2)


def _round(value: float, decimals: int) -> float:
    return float(round(value, decimals)) if decimals else float(round(value))


def _trend_series(rng: random.Random, n: int, low: float, high: float, decimals: int) -> tuple[float, ...]:
    """A plausible series: a level, a drift and noise, kept inside [low, high]."""
    level = rng.uniform(low + 0.15 * (high - low), high - 0.2 * (high - low))
    drift = rng.uniform(-0.06, 0.09) * (high - low)
    out = []
    for _ in range(n):
        level = min(max(level + drift + rng.gauss(0, 0.07 * (high - low)), low), high)
        out.append(_round(level, decimals))
    return tuple(out)


def _samples(rng: random.Random, n: int, mean: float, sd: float) -> tuple[float, ...]:
    return tuple(round(max(rng.gauss(mean, sd), 0.0), 1) for _ in range(n))


def _colors(rng: random.Random, n: int) -> list[str]:
    palette = rng.choice(PALETTES)
    start = rng.randrange(len(palette)) if rng.random() < 0.3 else 0
    return [palette[(start + i) % len(palette)] for i in range(n)]


def _categories(rng: random.Random, topic: _Topic, lo: int, hi: int) -> tuple[str, ...]:
    n = min(rng.randint(lo, hi), len(topic.categories))
    start = rng.randint(0, len(topic.categories) - n)
    return topic.categories[start : start + n]


def _title(topic: _Topic, cats: tuple[str, ...]) -> str:
    return topic.title.format(span=f"{cats[0]}\u2013{cats[-1]}")


def _category_panel(rng: random.Random, kind: str, small: bool) -> Panel:
    """bar, grouped/stacked bar, line, multi-line, area and error-bar panels over categories."""
    if kind == "errorbar":
        title, xlabel, ylabel, all_cats, all_names, low, high = rng.choice(ERRORBAR_TOPICS)
        topic = _Topic(title, xlabel, ylabel, all_cats, all_names, low, high)
    else:
        topic = rng.choice(CATEGORY_TOPICS)
    n_series = {"bar": 1, "line": 1, "grouped_bar": rng.randint(2, 3), "stacked_bar": rng.randint(2, 4)}.get(
        kind, rng.randint(2, 4)
    )
    if kind == "errorbar":
        n_series = rng.randint(1, min(3, len(topic.series)))
    n_series = min(n_series, len(topic.series))
    lo, hi = {"bar": (4, 7), "grouped_bar": (3, 5), "stacked_bar": (3, 6), "errorbar": (3, 6)}.get(kind, (6, 10))
    if small:
        hi = min(hi, 6)
        lo = min(lo, hi)
    cats = _categories(rng, topic, lo, hi)
    decimals = _decimals_for(topic.high)
    names = rng.sample(topic.series, n_series)
    colors = _colors(rng, n_series)
    line_like = kind in ("line", "multi_line", "errorbar")
    markers = rng.sample(["o", "s", "^", "D", "v", "P"], n_series)
    styles = ["-", "--", "-.", ":"]
    series = []
    for j, (name, color) in enumerate(zip(names, colors, strict=True)):
        low, high = topic.low, topic.high
        if kind in ("stacked_bar", "area"):
            high = low + (high - low) / n_series
        values = _trend_series(rng, len(cats), low, high, decimals)
        errors: tuple[float, ...] = ()
        if kind == "errorbar":
            errors = tuple(_round(max(v * rng.uniform(0.04, 0.12), 10 ** (-decimals)), decimals) for v in values)
        series.append(
            Series(
                sid=j,
                name=name,
                values=values,
                color=color,
                errors=errors,
                marker=(markers[j] if rng.random() < 0.75 else "") if line_like else "",
                linestyle=(styles[j % 4] if kind == "multi_line" and rng.random() < 0.4 else "-"),
                linewidth=rng.choice([1.5, 2.0, 2.5]),
            )
        )
    legend = n_series > 1 or (kind == "line" and rng.random() < 0.3)
    annotations: tuple[Annotation, ...] = ()
    if kind in ("bar", "line", "multi_line") and not small and rng.random() < 0.45:
        first = series[0].values
        k = max(range(len(first)), key=first.__getitem__)
        annotations = (
            Annotation(
                f"{rng.choice(ANNOTATION_TEXTS)}: {first[k]:,.{decimals}f}",
                k,
                first[k],
                _round(first[k] * 1.12, decimals),
            ),
        )
    top = (
        max(sum(vals) for vals in zip(*(s.values for s in series), strict=True))
        if kind in ("stacked_bar", "area")
        else max(v + (s.errors[i] if s.errors else 0) for s in series for i, v in enumerate(s.values))
    )
    value_lim = None
    if annotations or rng.random() < 0.3:
        value_lim = (0.0, float(_round(top * rng.uniform(1.22, 1.4), max(decimals - 1, 0))))
    return Panel(
        kind=kind,
        title=_title(topic, cats),
        xlabel=topic.xlabel,
        ylabel=topic.ylabel,
        categories=cats,
        series=tuple(series),
        decimals=decimals,
        legend_loc=rng.choice(LEGEND_LOCS) if legend else None,
        legend_outside=legend and not small and rng.random() < 0.15,
        grid=rng.random() < 0.6,
        value_lim=value_lim,
        annotations=annotations,
        bar_labels=kind == "bar" and not small and rng.random() < 0.35,
        tick_rotation=45 if len(cats) > 7 or (kind != "line" and max(map(len, cats)) > 6) else 0,
        bar_width=0.8 if kind == "grouped_bar" else rng.choice([0.5, 0.6, 0.7]),
        errorbar_bars=kind == "errorbar" and n_series == 1 and rng.random() < 0.6,
        despine=rng.random() < 0.35,
    )


def _barh_panel(rng: random.Random) -> Panel:
    topic = rng.choice(RANKING_TOPICS)
    cats = tuple(rng.sample(topic.categories, rng.randint(5, len(topic.categories))))
    decimals = _decimals_for(topic.high)
    values = sorted((_round(rng.uniform(topic.low, topic.high), decimals) for _ in cats), reverse=rng.random() < 0.5)
    return Panel(
        kind="barh",
        title=topic.title,
        xlabel=topic.xlabel,
        ylabel=topic.ylabel,
        categories=cats,
        series=(Series(0, topic.series[0], tuple(values), _colors(rng, 1)[0]),),
        decimals=decimals,
        grid=rng.random() < 0.6,
        bar_labels=rng.random() < 0.4,
        bar_width=rng.choice([0.5, 0.6, 0.7]),
        despine=rng.random() < 0.5,
    )


def _scatter_panel(rng: random.Random) -> Panel:
    title, xlabel, ylabel, (x0, x1), (y0, y1), groups = rng.choice(SCATTER_TOPICS)
    n_groups = rng.randint(1, len(groups))
    colors = _colors(rng, n_groups)
    markers = rng.sample(["o", "s", "^", "D"], n_groups)
    series = []
    dx = 2 if x1 < 10 else 1
    dy = 1 if y1 < 200 else 0
    for j in range(n_groups):
        n = rng.randint(12, 28)
        xs = tuple(round(rng.uniform(x0, x1), dx) for _ in range(n))
        slope = (y1 - y0) / (x1 - x0) * rng.uniform(0.4, 0.8)
        base = y0 + rng.uniform(0.05, 0.25) * (y1 - y0)
        ys = tuple(_round(min(max(base + slope * (x - x0) + rng.gauss(0, 0.07 * (y1 - y0)), y0), y1), dy) for x in xs)
        series.append(Series(j, groups[j], ys, colors[j], x=xs, marker=markers[j] if n_groups > 1 else "o"))
    return Panel(
        kind="scatter",
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
        categories=(),
        series=tuple(series),
        decimals=dy,
        legend_loc=rng.choice(LEGEND_LOCS) if n_groups > 1 else None,
        grid=rng.random() < 0.6,
        despine=rng.random() < 0.3,
    )


def _pie_panel(rng: random.Random, kind: str) -> Panel:
    title, labels = rng.choice(PIE_TOPICS)
    n = rng.randint(4, len(labels))
    raw = [rng.uniform(6, 40) for _ in range(n)]
    total = sum(raw)
    shares = [round(100 * r / total, 1) for r in raw]
    colors = _colors(rng, n)
    series = tuple(Series(j, labels[j], (shares[j],), colors[j]) for j in range(n))
    return Panel(
        kind=kind,
        title=title,
        xlabel="",
        ylabel="",
        categories=(),
        series=series,
        decimals=1,
        legend_loc=rng.choice(("center left", "upper right", "lower left", "upper left"))
        if rng.random() < 0.4
        else None,
    )


def _hist_panel(rng: random.Random) -> Panel:
    title, xlabel, ylabel, mean, sd, groups = rng.choice(DISTRIBUTION_TOPICS)
    n_groups = 1 if rng.random() < 0.6 else 2
    colors = _colors(rng, n_groups)
    series = tuple(
        Series(j, groups[j], _samples(rng, rng.randint(90, 160), mean * (1 + 0.18 * j), sd), colors[j])
        for j in range(n_groups)
    )
    return Panel(
        kind="hist",
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
        categories=(),
        series=series,
        legend_loc=rng.choice(LEGEND_LOCS[:2]) if n_groups > 1 else None,
        grid=rng.random() < 0.5,
        bins=rng.choice([12, 15, 20, 25]),
        despine=rng.random() < 0.4,
    )


def _box_panel(rng: random.Random) -> Panel:
    title, xlabel, _, mean, sd, groups = rng.choice(DISTRIBUTION_TOPICS)
    n = rng.randint(3, len(groups))
    colors = _colors(rng, n)
    series = tuple(
        Series(j, groups[j], _samples(rng, rng.randint(20, 36), mean * rng.uniform(0.75, 1.3), sd), colors[j])
        for j in range(n)
    )
    return Panel(
        kind="box",
        title=title.replace("Distribution of ", "") + (" by Group" if "by" not in title else ""),
        xlabel=rng.choice(("Group", "Cohort", "Category")),
        ylabel=xlabel,
        categories=(),
        series=series,
        grid=rng.random() < 0.6,
        despine=rng.random() < 0.3,
    )


def _heatmap_panel(rng: random.Random) -> Panel:
    title, rows, cols, label, low, high = rng.choice(HEATMAP_TOPICS)
    rows = rows[: rng.randint(4, len(rows))]
    cols = cols[: rng.randint(4, len(cols))]
    decimals = 0
    series = tuple(
        Series(j, r, tuple(_round(rng.uniform(low, high), decimals) for _ in cols), "#000000")
        for j, r in enumerate(rows)
    )
    return Panel(
        kind="heatmap",
        title=title,
        xlabel="",
        ylabel="",
        categories=cols,
        series=series,
        decimals=decimals,
        cmap=rng.choice(CMAPS),
        colorbar_label=label,
        text_threshold=_round(low + 0.6 * (high - low), 0) if rng.random() < 0.7 else 0.0,
    )


def _panel(rng: random.Random, kind: str, small: bool = False) -> Panel:
    if kind == "barh":
        return _barh_panel(rng)
    if kind == "scatter":
        return _scatter_panel(rng)
    if kind in ("pie", "donut"):
        return _pie_panel(rng, kind)
    if kind == "hist":
        return _hist_panel(rng)
    if kind == "box":
        return _box_panel(rng)
    if kind == "heatmap":
        return _heatmap_panel(rng)
    return _category_panel(rng, kind, small)


def _code_style(rng: random.Random) -> CodeStyle:
    fig_var, ax_var = rng.choice([("fig", "ax"), ("fig", "ax"), ("figure", "axis"), ("f", "ax1")])
    return CodeStyle(
        fig_var=fig_var,
        ax_var=ax_var,
        data_prefix=rng.choice(["", "", "", "chart_"]),
        color_notation=rng.choice(["hex", "hex", "HEX", "name"]),
        series_loop=rng.random() < 0.6,
        use_ax_set=rng.random() < 0.2,
        label_order=tuple(rng.sample(["title", "xlabel", "ylabel"], 3))
        if rng.random() < 0.3
        else CodeStyle.label_order,
        ending=rng.choice(["savefig", "savefig", "show"]),
        output_name=rng.choice(["output.png", "output.png", "chart.png", "figure.png"]),
    )


def make_chart_seed(rng: random.Random) -> ChartSpec:
    """One chart spec of a kind drawn uniformly from ``CHART_KINDS``; the same rng state gives the same spec."""
    if not isinstance(rng, random.Random):
        raise TypeError(f"make_chart_seed: rng must be a random.Random, got {type(rng).__name__}")
    kind = rng.choice(CHART_KINDS)
    style = rng.choice(STYLES)
    code = _code_style(rng)
    if kind == "subplots":
        nrows, ncols = rng.choice([(1, 2), (2, 1), (1, 3), (2, 2)])
        panels = tuple(_panel(rng, rng.choice(SUBPLOT_PANEL_KINDS), small=True) for _ in range(nrows * ncols))
        suptitle = rng.choice(
            ("Operations Dashboard", "Key Metrics Overview", "Annual Report: Selected Indicators", "Quarterly Review")
        )
        size = {(1, 2): (12, 5), (2, 1): (8, 9), (1, 3): (15, 4.5), (2, 2): (12, 9)}[(nrows, ncols)]
        return ChartSpec(kind, size, panels, nrows, ncols, suptitle, style, rng.choice([9, 10]), code)
    panel = _panel(rng, kind)
    if kind in ("pie", "donut"):
        size = rng.choice([(7, 7), (8, 6), (9, 6)])
    elif kind == "heatmap":
        size = rng.choice([(9, 6), (10, 6), (8, 6)])
    else:
        size = rng.choice([(8, 5), (10, 6), (9, 5.5), (7, 5), (12, 6)])
    return ChartSpec(kind, size, (panel,), style=style, font_size=rng.choice([10, 10, 11, 12]), code=code)


# ----------------------------------------------------------------------------------------------------------------
# Source emission


def _num(v: float, decimals: int) -> str:
    return f"{v:.{decimals}f}" if decimals else str(int(round(v)))


def _list(values: tuple[float, ...] | list[float], decimals: int, per_line: int = 12, indent: str = "    ") -> str:
    items = [_num(v, decimals) for v in values]
    if len(items) <= per_line:
        return "[" + ", ".join(items) + "]"
    rows = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "[\n" + ",\n".join(indent + r for r in rows) + ",\n]"


def _ident(name: str) -> str:
    slug = re.sub(r"\W+", "_", name.lower()).strip("_") or "series"
    return f"s_{slug}" if slug[0].isdigit() else slug


def _label_calls(panel: Panel, ax: str, code: CodeStyle) -> list[str]:
    """Title and axis-label statements, in the code style's order (order never changes pixels)."""
    texts = {"title": panel.title, "xlabel": panel.xlabel, "ylabel": panel.ylabel}
    present = [k for k in code.label_order if texts[k]]
    if not present:
        return []
    title = f"{ax}.set_title({panel.title!r}, fontsize=14, fontweight='bold', pad=12)"
    if code.use_ax_set:
        axis_labels = [k for k in present if k != "title"]
        calls = [f"{ax}.set(" + ", ".join(f"{k}={texts[k]!r}" for k in axis_labels) + ")"] if axis_labels else []
        return ([title] if panel.title else []) + calls
    return [title if k == "title" else f"{ax}.set_{k}({texts[k]!r})" for k in present]


class _Writer:
    """Accumulates the script's data block and plotting block for one figure."""

    def __init__(self, spec: ChartSpec) -> None:
        self.spec = spec
        self.code = spec.code
        self.data: list[str] = []
        self.plot: list[str] = []
        self.uses_numpy = False

    def color(self, c: str) -> str:
        return color_literal(c, self.code.color_notation)

    def colors(self, series: tuple[Series, ...]) -> str:
        return "[" + ", ".join(self.color(s.color) for s in series) + "]"

    def var(self, name: str, panel_index: int) -> str:
        suffix = f"_{panel_index + 1}" if len(self.spec.panels) > 1 else ""
        return f"{self.code.data_prefix}{name}{suffix}"

    def panel(self, p: Panel, i: int, ax: str) -> None:
        getattr(self, f"_{p.kind if p.kind not in ('pie', 'donut') else 'pie'}")(p, i, ax)
        self._decorations(p, i, ax)

    # -- kinds -------------------------------------------------------------------------------------------------
    def _categories_var(self, p: Panel, i: int) -> str:
        cats = self.var("categories" if self.code.data_prefix else "labels", i)
        if p.kind in ("line", "multi_line", "area") and all(c.isdigit() for c in p.categories):
            self.data.append(f"{cats} = [{', '.join(p.categories)}]")
        else:
            self.data.append(f"{cats} = {list(p.categories)!r}")
        return cats

    def _series_dict(self, p: Panel, i: int) -> str:
        name = self.var("data", i)
        body = "".join(f"    {s.name!r}: {_list(s.values, p.decimals, indent='        ')},\n" for s in p.series)
        self.data.append(f"{name} = {{\n{body}}}")
        return name

    def _series_vars(self, p: Panel, i: int) -> list[str]:
        names = []
        for s in p.series:
            v = self.var(_ident(s.name), i)
            self.data.append(f"{v} = {_list(s.values, p.decimals)}")
            names.append(v)
        return names

    def _bar(self, p: Panel, i: int, ax: str) -> None:
        cats = self._categories_var(p, i)
        vals = self.var("values", i)
        s = p.series[0]
        self.data.append(f"{vals} = {_list(s.values, p.decimals)}")
        self.plot.append(
            f"bars = {ax}.bar({cats}, {vals}, width={p.bar_width}, color={self.color(s.color)}, "
            f"edgecolor='black', linewidth=0.6, label={s.name!r})"
        )
        if p.bar_labels:
            self.plot.append(f"{ax}.bar_label(bars, fmt='%.{p.decimals}f', padding=3, fontsize=9)")

    def _barh(self, p: Panel, i: int, ax: str) -> None:
        cats = self._categories_var(p, i)
        vals = self.var("values", i)
        s = p.series[0]
        self.data.append(f"{vals} = {_list(s.values, p.decimals)}")
        self.plot.append(f"bars = {ax}.barh({cats}, {vals}, height={p.bar_width}, color={self.color(s.color)})")
        self.plot.append(f"{ax}.invert_yaxis()  # largest category on top")
        if p.bar_labels:
            self.plot.append(f"{ax}.bar_label(bars, fmt='%.{p.decimals}f', padding=4, fontsize=9)")

    def _grouped_bar(self, p: Panel, i: int, ax: str) -> None:
        self.uses_numpy = True
        cats = self._categories_var(p, i)
        n = len(p.series)
        self.plot.append(f"x = np.arange(len({cats}))")
        self.plot.append(f"width = {p.bar_width} / {n}")
        if self.code.series_loop:
            data = self._series_dict(p, i)
            colors = self.var("colors", i)
            self.data.append(f"{colors} = {self.colors(p.series)}")
            self.plot.append(f"for k, (name, vals) in enumerate({data}.items()):")
            self.plot.append(
                f"    {ax}.bar(x + (k - ({n} - 1) / 2) * width, vals, width, label=name, color={colors}[k])"
            )
        else:
            for k, (s, v) in enumerate(zip(p.series, self._series_vars(p, i), strict=True)):
                off = k - (n - 1) / 2
                # k*width for |k|=1, 0.5, 1.5 ... gives the same floats as the loop's (k - (n-1)/2) * width.
                pos = (
                    "x" if off == 0 else f"x {'+' if off > 0 else '-'} {'' if abs(off) == 1 else f'{abs(off)} * '}width"
                )
                self.plot.append(f"{ax}.bar({pos}, {v}, width, label={s.name!r}, color={self.color(s.color)})")
        self.plot.append(f"{ax}.set_xticks(x)")
        self.plot.append(f"{ax}.set_xticklabels({cats})")

    def _stacked_bar(self, p: Panel, i: int, ax: str) -> None:
        self.uses_numpy = True
        cats = self._categories_var(p, i)
        if self.code.series_loop:
            data = self._series_dict(p, i)
            colors = self.var("colors", i)
            self.data.append(f"{colors} = {self.colors(p.series)}")
            self.plot.append(f"bottom = np.zeros(len({cats}))")
            self.plot.append(f"for k, (name, vals) in enumerate({data}.items()):")
            self.plot.append(f"    {ax}.bar({cats}, vals, {p.bar_width}, bottom=bottom, label=name, color={colors}[k])")
            self.plot.append("    bottom += np.array(vals)")
        else:
            names = self._series_vars(p, i)
            for k, (s, v) in enumerate(zip(p.series, names, strict=True)):
                bottom = "" if k == 0 else ", bottom=" + " + ".join(f"np.array({b})" for b in names[:k])
                self.plot.append(
                    f"{ax}.bar({cats}, {v}, {p.bar_width}{bottom}, label={s.name!r}, color={self.color(s.color)})"
                )

    def _line_kwargs(self, s: Series) -> str:
        out = f"color={self.color(s.color)}, linewidth={s.linewidth}"
        if s.linestyle != "-":
            out += f", linestyle={s.linestyle!r}"
        if s.marker:
            out += f", marker={s.marker!r}, markersize=6"
        return out

    def _line(self, p: Panel, i: int, ax: str) -> None:
        cats = self._categories_var(p, i)
        s = p.series[0]
        vals = self.var("values", i)
        self.data.append(f"{vals} = {_list(s.values, p.decimals)}")
        self.plot.append(f"{ax}.plot({cats}, {vals}, {self._line_kwargs(s)}, label={s.name!r})")

    def _multi_line(self, p: Panel, i: int, ax: str) -> None:
        cats = self._categories_var(p, i)
        if self.code.series_loop:
            data = self._series_dict(p, i)
            styles = self.var("styles", i)
            entries = []
            for s in p.series:
                kw = {"color": f"__C{s.sid}__", "linewidth": s.linewidth}
                if s.linestyle != "-":
                    kw["linestyle"] = s.linestyle
                if s.marker:
                    kw["marker"] = s.marker
                    kw["markersize"] = 6
                text = "dict(" + ", ".join(f"{k}={v!r}" for k, v in kw.items()) + ")"
                entries.append(text.replace(f"'__C{s.sid}__'", self.color(s.color)))
            self.data.append(f"{styles} = [\n" + "".join(f"    {e},\n" for e in entries) + "]")
            self.plot.append(f"for (name, vals), style in zip({data}.items(), {styles}):")
            self.plot.append(f"    {ax}.plot({cats}, vals, label=name, **style)")
        else:
            for s, v in zip(p.series, self._series_vars(p, i), strict=True):
                self.plot.append(f"{ax}.plot({cats}, {v}, {self._line_kwargs(s)}, label={s.name!r})")

    def _area(self, p: Panel, i: int, ax: str) -> None:
        cats = self._categories_var(p, i)
        names = self._series_vars(p, i)
        labels = [s.name for s in p.series]
        self.plot.append(
            f"{ax}.stackplot({cats}, {', '.join(names)}, labels={labels!r}, colors={self.colors(p.series)}, alpha=0.85)"
        )
        self.plot.append(f"{ax}.margins(x=0)")

    def _errorbar(self, p: Panel, i: int, ax: str) -> None:
        cats = self._categories_var(p, i)
        if p.errorbar_bars:
            s = p.series[0]
            means, errs = self.var("means", i), self.var("errors", i)
            self.data.append(f"{means} = {_list(s.values, p.decimals)}")
            self.data.append(f"{errs} = {_list(s.errors, p.decimals)}")
            self.plot.append(
                f"{ax}.bar({cats}, {means}, yerr={errs}, capsize=5, width={p.bar_width}, "
                f"color={self.color(s.color)}, edgecolor='black', label={s.name!r})"
            )
            return
        for s in p.series:
            v = self.var(_ident(s.name), i)
            self.data.append(f"{v}_mean = {_list(s.values, p.decimals)}")
            self.data.append(f"{v}_sd = {_list(s.errors, p.decimals)}")
            fmt = (s.marker or "o") + ("-" if s.linestyle == "-" else "--")
            self.plot.append(
                f"{ax}.errorbar({cats}, {v}_mean, yerr={v}_sd, fmt={fmt!r}, capsize=4, "
                f"color={self.color(s.color)}, linewidth={s.linewidth}, label={s.name!r})"
            )

    def _scatter(self, p: Panel, i: int, ax: str) -> None:
        for s in p.series:
            v = self.var(_ident(s.name), i)
            dx = 2 if max(s.x) < 10 else 1
            self.data.append(f"{v}_x = {_list(s.x, dx, per_line=10)}")
            self.data.append(f"{v}_y = {_list(s.values, p.decimals, per_line=10)}")
            self.plot.append(
                f"{ax}.scatter({v}_x, {v}_y, s=45, color={self.color(s.color)}, marker={s.marker or 'o'!r}, "
                f"alpha=0.85, edgecolors='white', linewidths=0.5, label={s.name!r})"
            )

    def _pie(self, p: Panel, i: int, ax: str) -> None:
        labels, sizes, colors = self.var("labels", i), self.var("shares", i), self.var("colors", i)
        self.data.append(f"{labels} = {[s.name for s in p.series]!r}")
        self.data.append(f"{sizes} = {_list([s.values[0] for s in p.series], 1)}")
        self.data.append(f"{colors} = {self.colors(p.series)}")
        wedge = "dict(width=0.42, edgecolor='white')" if p.kind == "donut" else "dict(edgecolor='white')"
        label_arg = "" if p.legend_loc else f"labels={labels}, "
        pct = "0.79" if p.kind == "donut" else "0.65"
        self.plot.append(
            f"wedges, texts, autotexts = {ax}.pie({sizes}, {label_arg}colors={colors}, autopct='%1.1f%%', "
            f"startangle=90, counterclock=False, pctdistance={pct}, wedgeprops={wedge})"
        )
        self.plot.append(f"{ax}.axis('equal')")

    def _hist(self, p: Panel, i: int, ax: str) -> None:
        alpha = 0.6 if len(p.series) > 1 else 0.85
        for s in p.series:
            v = self.var(_ident(s.name), i) if len(p.series) > 1 else self.var("samples", i)
            self.data.append(f"{v} = {_list(s.values, 1, per_line=12)}")
            self.plot.append(
                f"{ax}.hist({v}, bins={p.bins}, color={self.color(s.color)}, edgecolor='white', alpha={alpha}, "
                f"label={s.name!r})"
            )

    def _box(self, p: Panel, i: int, ax: str) -> None:
        groups, colors = self.var("groups", i), self.var("colors", i)
        body = "".join(f"    {_list(s.values, 1, per_line=12, indent='        ')},\n" for s in p.series)
        self.data.append(f"{groups} = {[s.name for s in p.series]!r}")
        self.data.append(f"{self.var('samples', i)} = [\n{body}]")
        self.data.append(f"{colors} = {self.colors(p.series)}")
        self.plot.append(
            f"bp = {ax}.boxplot({self.var('samples', i)}, patch_artist=True, tick_labels={groups}, widths=0.55, "
            "medianprops=dict(color='black', linewidth=1.5))"
        )
        self.plot.append(f"for patch, color in zip(bp['boxes'], {colors}):")
        self.plot.append("    patch.set_facecolor(color)")
        self.plot.append("    patch.set_alpha(0.8)")

    def _heatmap(self, p: Panel, i: int, ax: str) -> None:
        self.uses_numpy = True
        rows, cols, m = self.var("rows", i), self.var("columns", i), self.var("matrix", i)
        self.data.append(f"{rows} = {[s.name for s in p.series]!r}")
        self.data.append(f"{cols} = {list(p.categories)!r}")
        body = "".join(f"    {_list(s.values, p.decimals)},\n" for s in p.series)
        self.data.append(f"{m} = np.array([\n{body}])")
        fig = self.code.fig_var
        self.plot.append(f"im = {ax}.imshow({m}, cmap={p.cmap!r}, aspect='auto')")
        if p.colorbar_label:
            self.plot.append(f"cbar = {fig}.colorbar(im, ax={ax})")
            self.plot.append(f"cbar.set_label({p.colorbar_label!r})")
        self.plot.append(f"{ax}.set_xticks(np.arange(len({cols})), labels={cols})")
        self.plot.append(f"{ax}.set_yticks(np.arange(len({rows})), labels={rows})")
        if p.text_threshold:
            self.plot.append(f"for r in range(len({rows})):")
            self.plot.append(f"    for c in range(len({cols})):")
            self.plot.append(f"        value = {m}[r, c]")
            self.plot.append(
                f"        {ax}.text(c, r, f'{{value:.0f}}', ha='center', va='center', fontsize=8,\n"
                f"                color='white' if value > {_num(p.text_threshold, 0)} else 'black')"
            )

    # -- shared decorations ------------------------------------------------------------------------------------
    def _decorations(self, p: Panel, i: int, ax: str) -> None:
        self.plot.extend(_label_calls(p, ax, self.code))
        if p.value_lim is not None:
            lo, hi = p.value_lim
            self.plot.append(f"{ax}.set_{p.value_axis}lim({_num(lo, 1)}, {_num(hi, max(p.decimals, 1))})")
        if p.value_scale != "linear":
            self.plot.append(f"{ax}.set_{p.value_axis}scale({p.value_scale!r})")
        if p.tick_rotation:
            self.plot.append(f"{ax}.tick_params(axis='x', rotation={p.tick_rotation})")
        for a in p.annotations:
            x = a.index
            if p.kind in ("line", "multi_line") and all(c.isdigit() for c in p.categories):
                x = int(p.categories[a.index])
            self.plot.append(
                f"{ax}.annotate({a.text!r}, xy=({x}, {_num(a.y, p.decimals)}), xytext=({x}, "
                f"{_num(a.y_text, p.decimals)}),\n"
                f"            ha='center', fontsize=9, arrowprops=dict(arrowstyle='->', color='dimgray'))"
            )
        if p.kind in ("pie", "donut"):
            if p.legend_loc:
                self.plot.append(f"{ax}.legend(wedges, {self.var('labels', i)}, loc={p.legend_loc!r}, frameon=False)")
        elif p.legend_loc:
            if p.legend_outside:
                self.plot.append(f"{ax}.legend(loc='upper left', bbox_to_anchor=(1.02, 1), frameon=False)")
            else:
                self.plot.append(f"{ax}.legend(loc={p.legend_loc!r}, fontsize=9, frameon=True)")
        style_rc = matplotlib.style.library.get(self.spec.style)
        style_grid = style_rc is not None and bool(style_rc.get("axes.grid", False))
        if p.kind not in ("pie", "donut", "heatmap"):
            if p.grid:
                axis = "x" if p.kind == "barh" else ("both" if p.kind == "scatter" else "y")
                self.plot.append(f"{ax}.grid(axis={axis!r}, linestyle='--', alpha=0.5)")
                self.plot.append(f"{ax}.set_axisbelow(True)")
            elif style_grid:
                self.plot.append(f"{ax}.grid(False)")
        elif style_grid:
            self.plot.append(f"{ax}.grid(False)")
        if p.despine and p.kind not in ("pie", "donut", "heatmap"):
            self.plot.append(f"{ax}.spines[['top', 'right']].set_visible(False)")


def chart_source(spec: ChartSpec) -> str:
    """The standalone matplotlib script that draws ``spec``."""
    w = _Writer(spec)
    code = spec.code
    fig, ax = code.fig_var, code.ax_var
    header = ["import matplotlib.pyplot as plt"]
    setup = []
    if spec.style != "default":
        setup.append(f"plt.style.use({spec.style!r})")
    if spec.font_size != 10:
        setup.append(f"plt.rcParams['font.size'] = {spec.font_size}")
    figure: list[str] = []
    if len(spec.panels) == 1:
        figure.append(f"{fig}, {ax} = plt.subplots(figsize=({spec.figsize[0]}, {spec.figsize[1]}))")
        w.plot.append("")
        w.panel(spec.panels[0], 0, ax)
    else:
        axes = f"{ax}es" if ax in ("ax", "axis") else "axs"
        figure.append(
            f"{fig}, {axes} = plt.subplots({spec.nrows}, {spec.ncols}, figsize=({spec.figsize[0]}, {spec.figsize[1]}))"
        )
        for i, p in enumerate(spec.panels):
            r, c = divmod(i, spec.ncols)
            index = f"{r}, {c}" if spec.nrows > 1 and spec.ncols > 1 else str(i)
            w.plot.append("")
            w.plot.append(f"# Panel {i + 1}: {p.title}")
            w.plot.append(f"{ax} = {axes}[{index}]")
            w.panel(p, i, ax)
        if spec.suptitle:
            w.plot.append("")
            w.plot.append(f"{fig}.suptitle({spec.suptitle!r}, fontsize=16, fontweight='bold')")
    if w.uses_numpy:
        header.append("import numpy as np")
    ending = ["", "plt.tight_layout()"]
    ending.append(f"plt.savefig({code.output_name!r})" if code.ending == "savefig" else "plt.show()")
    parts = [*header, "", *setup, *([""] if setup else []), "# Data", *w.data, "", *figure, *w.plot, *ending]
    return "\n".join(parts) + "\n"


def with_code_style(spec: ChartSpec, **changes: Any) -> ChartSpec:
    """The same chart written differently (the equivalences use this); ``changes`` are ``CodeStyle`` fields."""
    return replace(spec, code=replace(spec.code, **changes))
