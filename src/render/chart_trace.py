"""What a chart program drew, recorded by instrumenting matplotlib inside the sandboxed child (ChartMimic-style).

ChartMimic's low-level metrics compare what the reference and the candidate *drew*: the strings on the canvas, the
gridspec cells of the subplots, the plotting calls, and the colours of what those calls made. Reading that from
the source would miss loops and helpers, and running the code in the evaluating process would run untrusted code
there, so the chart job itself records it: ``draw_traced_chart`` runs in the child (``zygote._run``) in place of
``draw_chart`` and returns the same pixels plus a small JSON-safe trace that travels in the result header.

How each part is recorded:
- plot calls: ``Axes`` plotting methods (``bar``, ``plot``, ``scatter``, ``pie``, ...) are wrapped; only the
  outermost call counts (``hist`` calls ``bar`` internally; that is one ``hist``), and the artists it added to
  the axes are tagged with the call, so colours are read later from their *final* state (``set_color`` after
  the call is honoured).
- text: ``Text.draw`` is wrapped, so exactly the strings drawn in the saved figure's last draw count (tick labels
  out of view are not drawn, hence not counted).
- layout: every axes with a ``SubplotSpec``, as ``(nrows, ncols, row_start, row_stop, col_start, col_stop)``.
- colours: per tagged artist, its distinct face colours (edge colours where the face is transparent), as
  ``#rrggbb`` with the plot call's name.

The trace describes the figure whose pixels are returned: it is taken in the same ``_draw`` that produced them
(the last one). Untrusted code could forge its own trace; it only ever scores itself with it, and
``read_trace`` bounds and type-checks whatever arrives.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Axes methods that draw data; the names ChartMimic's chart-type metric compares.
PLOT_METHODS: tuple[str, ...] = (
    "plot", "bar", "barh", "scatter", "pie", "hist", "hist2d", "boxplot", "violinplot", "errorbar", "fill",
    "fill_between", "fill_betweenx", "stackplot", "step", "stem", "imshow", "matshow", "pcolor", "pcolormesh",
    "contour", "contourf", "hexbin", "quiver", "streamplot", "axhline", "axvline", "axhspan", "axvspan", "hlines",
    "vlines", "broken_barh", "eventplot", "loglog", "semilogx", "semilogy", "polar", "table", "plot_surface",
    "plot_wireframe", "bar3d", "scatter3D", "plot3D",
)  # fmt: skip
# Bounds that keep a trace well inside the child's 64 KiB result header.
MAX_TEXTS = 300
MAX_TEXT_CHARS = 80
MAX_ITEMS = 300
MAX_COLOURS_PER_ARTIST = 32
MAX_TRACE_BYTES = 48_000  # serialized; the child's result header holds at most 64 KiB
_TAG = "_verm_plot_call"


@dataclass(frozen=True)
class ChartTrace:
    """A validated trace: what one chart program drew."""

    texts: tuple[str, ...]
    layout: tuple[tuple[int, int, int, int, int, int], ...]
    plot_calls: tuple[str, ...]
    colours: tuple[tuple[str, str], ...]  # (plot call, "#rrggbb")


class TraceError(ValueError):
    """A trace that is not what ``draw_traced_chart`` writes (missing, wrong types); names the field."""


def draw_traced_chart(code: str, dpi: int, max_side: int) -> tuple[int, int, memoryview, dict]:
    """``draw_chart`` with matplotlib instrumented; returns its pixels and the trace of the same draw. Child only."""
    from matplotlib.axes import Axes
    from matplotlib.text import Text

    from src.render import chart

    drawn_texts: list[str] = []
    calls = itertools.count()
    depth = [0]
    result: dict[str, dict] = {}

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def traced(ax: Any, *args: Any, **kwargs: Any) -> Any:
            if depth[0]:
                return method(ax, *args, **kwargs)
            before = {id(child) for child in ax.get_children()}
            depth[0] += 1
            try:
                return method(ax, *args, **kwargs)
            finally:
                depth[0] -= 1
                call = (name, next(calls))
                for child in ax.get_children():
                    if id(child) not in before and not hasattr(child, _TAG):
                        setattr(child, _TAG, call)
                ax.__dict__.setdefault("_verm_calls", []).append(name)

        return traced

    for name in PLOT_METHODS:
        for cls in _axes_classes(Axes):
            method = cls.__dict__.get(name)
            if callable(method):
                setattr(cls, name, wrap(name, method))

    original_text_draw = Text.draw

    def traced_text_draw(self: Text, renderer: Any) -> Any:
        if self.get_visible() and renderer is not None:
            text = self.get_text().strip()
            if text and len(drawn_texts) < MAX_TEXTS:
                drawn_texts.append(text[:MAX_TEXT_CHARS])
        return original_text_draw(self, renderer)

    Text.draw = traced_text_draw  # type: ignore[method-assign,assignment]
    original_draw = chart._draw

    def tracing_draw(fig: Any, dpi: int, max_side: int) -> tuple[int, int, memoryview]:
        drawn_texts.clear()
        pixels = original_draw(fig, dpi, max_side)
        result["trace"] = _figure_trace(fig, list(drawn_texts))
        return pixels

    chart._draw = tracing_draw  # type: ignore[assignment]
    width, height, pixels = chart.draw_chart(code, dpi, max_side)
    return width, height, pixels, result.get("trace", {"texts": [], "layout": [], "plot_calls": [], "colours": []})


def _axes_classes(axes_cls: type) -> list[type]:
    """``Axes`` and the 3-D axes where it is importable (its plotting methods are its own, not Axes')."""
    classes = [axes_cls]
    try:
        from mpl_toolkits.mplot3d import Axes3D

        classes.append(Axes3D)
    except ImportError:  # pragma: no cover - part of matplotlib, but optional in slim installs
        pass
    return classes


def _figure_trace(fig: Any, texts: list[str]) -> dict:
    layout: list[list[int]] = []
    plot_calls: list[str] = []
    colours: list[list[str]] = []
    for ax in fig.get_axes():
        if not ax.get_visible():
            continue
        spec = ax.get_subplotspec()
        if spec is not None and len(layout) < MAX_ITEMS:
            nrows, ncols = spec.get_gridspec().get_geometry()
            rows, cols = spec.rowspan, spec.colspan
            layout.append([nrows, ncols, rows.start, rows.stop, cols.start, cols.stop])
        plot_calls += ax.__dict__.get("_verm_calls", [])
        seen: set[tuple[Any, str]] = set()
        for child in ax.get_children():
            call = getattr(child, _TAG, None)
            if call is None or not child.get_visible():
                continue
            found = _artist_colours(child)
            if found is None:
                continue
            for colour in found[: 4 * MAX_COLOURS_PER_ARTIST]:
                hex_colour = _hex(colour)
                if hex_colour is not None and (call, hex_colour) not in seen and len(colours) < MAX_ITEMS:
                    seen.add((call, hex_colour))
                    colours.append([call[0], hex_colour])
    trace = {"texts": texts, "layout": layout, "plot_calls": plot_calls[:MAX_ITEMS], "colours": colours}
    return fit_trace(trace)


def fit_trace(trace: dict, budget: int = MAX_TRACE_BYTES) -> dict:
    """Shorten the lists until the JSON fits ``budget`` bytes (non-ASCII text costs 6 bytes a character escaped):
    the result header is cut at 64 KiB, and a cut header would turn a good render into a crash."""
    while len(json.dumps(trace)) > budget:
        longest = max(("texts", "colours", "plot_calls", "layout"), key=lambda k: len(json.dumps(trace[k])))
        trace[longest] = trace[longest][: len(trace[longest]) // 2]
        trace["truncated"] = True
    return trace


def _artist_colours(artist: object) -> list[Any] | None:
    """The colours a viewer sees of one plotted artist (face, else edge where the face is transparent)."""
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    view: Any = artist  # matplotlib's stubs type colours too loosely to index
    if isinstance(artist, Line2D):
        return [view.get_color()]
    if isinstance(artist, Patch):
        face = view.get_facecolor()
        return [face if view.get_fill() and face[3] > 0 else view.get_edgecolor()]
    if isinstance(artist, Collection):
        faces = [c for c in view.get_facecolors() if c[3] > 0]
        return faces if faces else list(view.get_edgecolors())
    return None


def _hex(colour: Any) -> str | None:
    from matplotlib.colors import to_hex

    try:
        return to_hex(colour, keep_alpha=False)
    except (ValueError, TypeError):
        return None


def read_trace(raw: object) -> ChartTrace:
    """Validate a trace that came back from a child; bounded so a forged one cannot cost more than a real one."""
    if not isinstance(raw, dict):
        raise TraceError(f"trace: expected a mapping, got {type(raw).__name__}")
    if len(json.dumps(raw, default=str)) > 1 << 16:
        raise TraceError("trace: larger than a chart job can send")

    def items(key: str) -> list:
        value = raw.get(key)
        if not isinstance(value, list):
            raise TraceError(f"trace.{key}: expected a list, got {type(value).__name__}")
        return value[: MAX_ITEMS if key != "texts" else MAX_TEXTS]

    texts = items("texts")
    if not all(isinstance(t, str) for t in texts):
        raise TraceError("trace.texts: expected strings")
    layout = []
    for cell in items("layout"):
        if not (isinstance(cell, list) and len(cell) == 6 and all(type(v) is int for v in cell)):
            raise TraceError(f"trace.layout: expected 6 integers per cell, got {cell!r:.80}")
        layout.append(tuple(cell))
    calls = items("plot_calls")
    if not all(isinstance(c, str) for c in calls):
        raise TraceError("trace.plot_calls: expected strings")
    colours = []
    for entry in items("colours"):
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, str) for v in entry)):
            raise TraceError(f"trace.colours: expected [call, '#rrggbb'] pairs, got {entry!r:.80}")
        if not (len(entry[1]) == 7 and entry[1][0] == "#" and all(c in "0123456789abcdef" for c in entry[1][1:])):
            raise TraceError(f"trace.colours: {entry[1]!r:.20} is not #rrggbb")
        colours.append((entry[0], entry[1]))
    return ChartTrace(tuple(texts), tuple(layout), tuple(calls), tuple(colours))  # type: ignore[arg-type]
