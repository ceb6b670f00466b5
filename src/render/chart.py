"""Matplotlib backend: untrusted plotting code runs in a sandboxed child of the worker's clean template.

Why a warm template: the worker imports matplotlib and draws one warm-up chart once (fonts, caches, text layout
primed) before it forks its template (``zygote.py``), so every job gets a pristine, already-warm interpreter for a
few ms instead of the ~0.4 s a fresh Python costs (the paper's reward code starts one per chart). Isolation comes
for free: the child's rcParams, globals and leaked figures die with it, so no job can change the next one's image,
and neither the worker nor the template ever runs untrusted code or holds another job's data.

What is saved: the figure the code saved last (its ``savefig`` calls are captured, not written to their paths,
so ``plt.close()`` right after ``savefig`` still works), else the current figure, like the ``savefig`` the paper
appends. ``plt.show()`` does nothing. Figures larger than twice ``max_side`` px are drawn at a lower DPI (the
same picture, fewer pixels) because the judge sees at most ``max_side`` px anyway.

The child sends raw RGBA with its size; the worker checks the size against the byte count and does the PNG
encoding, so nothing the untrusted child writes is ever parsed by more than a length check and a JSON header.
"""

from __future__ import annotations

import builtins
import os
import re
import traceback

from src.render.job import JobFailure, RenderMode

MAX_RENDER_SIDE = 4096  # px; figures larger than min(this, 2 * max_side) are drawn at a lower DPI
MIN_DPI = 20


def import_matplotlib() -> None:
    """Import and warm matplotlib with the Agg backend; call once in the worker before any fork."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    # One realistic chart primes the font cache, text layout, mathtext and tick machinery for every child.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(6, 3))
    xs = np.arange(5)
    ax1.bar(xs, [3, 5, 2, 6, 4], color="tab:blue", label="2023")
    ax1.plot(xs, [2, 4, 3, 5, 6], "o--", color="tab:orange", label="2024")
    ax1.set_title("Revenue by quarter ($\\times 10^3$)")
    ax1.set_xlabel("Quarter")
    ax1.legend(loc="upper left")
    ax1.grid(True, alpha=0.3)
    ax2.pie([30, 45, 25], labels=["A", "B", "C"], autopct="%1.1f%%")
    ax2.annotate("peak", xy=(0, 0))
    fig.tight_layout()
    fig.canvas.draw()
    plt.close("all")


# The released reward's edit of a chart script: each match becomes a comment, so a call inside a block leaves the
# block empty (an IndentationError there too) and the rest of its line is commented out with it.
_RELEASED_REMOVALS = (
    re.compile(r"plt\.savefig\s*\(.*?\)", re.DOTALL),
    re.compile(r"fig\.savefig\s*\(.*?\)", re.DOTALL),
    re.compile(r"plt\.show\s*\(\s*\)"),
    re.compile(r"fig\.show\s*\(\s*\)"),
)
_RELEASED_MARK = "# save/show removed for the released render"


def released_chart_script(code: str) -> str:
    """The script the public Visual-ERM reward runs for ``code``: pyplot imported when used but not imported, and
    every ``plt.savefig(...)``/``fig.savefig(...)`` (up to its first ``)``) and ``plt.show()``/``fig.show()``
    commented out; the figure current at the end is then saved (``draw_chart(..., mode="released")``)."""
    if "matplotlib.pyplot" not in code and "plt." in code:
        code = "import matplotlib.pyplot as plt\n" + code
    for pattern in _RELEASED_REMOVALS:
        code = pattern.sub(_RELEASED_MARK, code)
    return code


def draw_chart(code: str, dpi: int, max_side: int, mode: RenderMode = "project") -> tuple[int, int, memoryview]:
    """Run the code and draw the figure it saved last (else the current one) as RGBA. Runs only in the child.

    ``released``: run ``released_chart_script(code)`` and draw the current figure (a new empty one when there is
    none) at the DPI ``savefig`` would use, whatever the code saved before.

    Raises ``JobFailure`` for a verdict (syntax, no figure) and lets the code's own exceptions through for
    ``classify_chart_exception``.
    """
    if mode == "released":
        code = released_chart_script(code)
    try:
        compiled = compile(code, "<chart>", "exec")
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes in the source
        raise JobFailure("syntax", _syntax_message(exc)) from None

    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    snapshots: list[tuple[int, int, memoryview]] = []

    def captured_savefig(fig: Figure, *args: object, **kwargs: object) -> None:
        snapshots[:] = [_draw(fig, dpi, max_side)]

    # Deliberately swapped for a capture with a looser signature: user code may pass any savefig arguments.
    Figure.savefig = captured_savefig  # type: ignore[method-assign,assignment]
    plt.show = lambda *args, **kwargs: None
    exec(compiled, {"__name__": "__main__", "__builtins__": builtins})
    if mode == "released":
        figure = plt.gcf()
        saved_dpi = plt.rcParams["savefig.dpi"]
        return _draw(figure, figure.get_dpi() if saved_dpi == "figure" else float(saved_dpi), max_side)
    if not snapshots:
        if not plt.get_fignums():
            raise JobFailure("blank", "the code made no figure")
        snapshots.append(_draw(plt.gcf(), dpi, max_side))
    return snapshots[-1]


def _draw(fig: object, dpi: float, max_side: int) -> tuple[int, int, memoryview]:
    """The figure's pixels as it is now: a view of the buffer of a canvas nothing will draw on again.

    Not a copy (1.6 MB and ~400 page faults in the child for an 800x500 chart): the figure gets a new canvas for
    whatever the code draws after a ``savefig``, so the saved pixels stay as they were saved."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    width_in, height_in = fig.get_size_inches()  # type: ignore[attr-defined]
    render_side = min(MAX_RENDER_SIDE, 2 * max_side)  # twice the output keeps downscaling sharp
    if max(width_in, height_in, 1e-3) * dpi > render_side:
        dpi = render_side / max(width_in, height_in)
        if dpi < MIN_DPI:  # below this FreeType cannot size text: the figure is absurd, not just large
            raise ValueError(f"the figure is {width_in:g}x{height_in:g} inches, too large to render")
    fig.set_dpi(dpi)  # type: ignore[attr-defined]
    canvas = FigureCanvasAgg(fig)  # type: ignore[arg-type]
    canvas.draw()
    buffer = canvas.buffer_rgba()
    FigureCanvasAgg(fig)  # type: ignore[arg-type]  # later draws of this figure go to a new buffer
    height, width = buffer.shape[:2]
    return width, height, buffer


def _syntax_message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    return f"{type(exc).__name__}: {exc}"


def _caused_by_refusal(exc: BaseException) -> bool:
    """A PermissionError anywhere in the chain (urllib wraps the sandbox's EPERM in ``URLError.reason``)."""
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        err = todo.pop()
        if not isinstance(err, BaseException) or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, PermissionError):
            return True
        todo += [err.__cause__, err.__context__, getattr(err, "reason", None)]
    return False


def classify_chart_exception(exc: BaseException) -> tuple[str, str]:
    """(error kind, message) for an exception out of untrusted chart code; the line number is the code's own."""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == "<chart>":
            where = f" (line {frame.lineno})"
            break
    message = f"{type(exc).__name__}: {exc}{where}"[:2000]
    if isinstance(exc, MemoryError):
        return "memory", message
    if _caused_by_refusal(exc):
        return "forbidden", message
    if isinstance(exc, SystemExit):
        return "runtime", f"the code called sys.exit({exc.code!r}){where}"
    if isinstance(exc, SyntaxError):  # exec() of a string, or a module the code imports
        return "syntax", _syntax_message(exc)
    return "runtime", message
