"""Equivalences: rewrites of a chart's code (colour notation, names, statement order, loops, setters) that render the
same pixels; they change only the seed's ``CodeStyle``."""

from __future__ import annotations

import random
from dataclasses import replace

from src.data.perturb.base import EquivalenceFn
from src.data.seeds.chart import ChartSpec, CodeStyle, chart_source, with_code_style


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
