"""Source emission: the matplotlib script a ``ChartSpec`` stands for (``chart_source``), in its ``CodeStyle``."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import matplotlib.style

from src.data.seeds.chart.spec import ChartSpec, CodeStyle, Panel, Series, color_literal


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
