"""Seed generation: a random but plausible ``ChartSpec`` (``make_chart_seed``)."""

from __future__ import annotations

import random

from src.data.seeds.chart.spec import (
    CHART_KINDS,
    CMAPS,
    LEGEND_LOCS,
    PALETTES,
    STYLES,
    SUBPLOT_PANEL_KINDS,
    Annotation,
    ChartSpec,
    CodeStyle,
    Panel,
    Series,
)
from src.data.seeds.chart.topics import (
    ANNOTATION_TEXTS,
    CATEGORY_TOPICS,
    DISTRIBUTION_TOPICS,
    ERRORBAR_TOPICS,
    HEATMAP_TOPICS,
    PIE_TOPICS,
    RANKING_TOPICS,
    SCATTER_TOPICS,
    Topic,
)


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


def _categories(rng: random.Random, topic: Topic, lo: int, hi: int) -> tuple[str, ...]:
    n = min(rng.randint(lo, hi), len(topic.categories))
    start = rng.randint(0, len(topic.categories) - n)
    return topic.categories[start : start + n]


def _title(topic: Topic, cats: tuple[str, ...]) -> str:
    return topic.title.format(span=f"{cats[0]}\u2013{cats[-1]}")


def _category_panel(rng: random.Random, kind: str, small: bool) -> Panel:
    """bar, grouped/stacked bar, line, multi-line, area and error-bar panels over categories."""
    if kind == "errorbar":
        title, xlabel, ylabel, all_cats, all_names, low, high = rng.choice(ERRORBAR_TOPICS)
        topic = Topic(title, xlabel, ylabel, all_cats, all_names, low, high)
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
