"""SVG backend: cairosvg to PNG on white, at ``job.svg_size`` square as the paper's pipeline (336x336).

Untrusted SVG is refused anything outside itself: the ``url_fetcher`` serves inline ``data:`` URLs and answers
every other URL (``file://``, ``http://``) with an empty SVG, so the render goes on with that part absent and the
result's message names what was refused; and a DOCTYPE declaring entities is rejected as
``invalid_input`` before parsing (cairosvg's own defusedxml guard would also refuse it; we do not rely on one
layer). Rendering runs in the warm worker, not a forked child, because a fork would cost more than the ~2 ms
render; a pathological file is stopped by a ``SIGALRM`` deadline, and if cairo hangs inside C the pool's
backstop kills and replaces the whole worker.
"""

from __future__ import annotations

import io
import re
import signal
import time

import numpy as np

from src.render import image as image_ops
from src.render.job import RenderJob, RenderResult

_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_DOCTYPE_SUBSET = re.compile(r"<!DOCTYPE[^>\[]*\[", re.IGNORECASE)


_EMPTY_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"></svg>'


class _Deadline(Exception):
    pass


class RefusingFetcher:
    """cairosvg ``url_fetcher``: inline ``data:`` URLs only; anything else renders as nothing and is noted."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def __call__(self, url: str, resource_type: str) -> bytes:
        if url.startswith("data:"):
            from cairosvg.url import fetch

            return fetch(url, resource_type)
        self.refused.append(url[:200])
        return _EMPTY_SVG


def _on_alarm(signum: int, frame: object) -> None:
    raise _Deadline


def _is_flat(pixels: memoryview) -> bool:
    argb = np.frombuffer(pixels, dtype=np.uint32)
    return bool((argb == argb[0]).all())


def render_svg(job: RenderJob, markup: str, timeout_s: float) -> RenderResult:
    """Render one SVG document; every failure is a ``RenderResult``."""
    from cairosvg.parser import Tree
    from cairosvg.surface import PNGSurface

    start = time.perf_counter()
    if _ENTITY_DECL.search(markup) or _DOCTYPE_SUBSET.search(markup):
        return RenderResult.failure("invalid_input", "SVG declares XML entities or an internal DTD subset; refused")
    fetcher = RefusingFetcher()
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        # Surface by hand (what PNGSurface.convert does) so the blank check reads cairo's pixels directly instead
        # of decoding the PNG again: ~1 ms of a ~5 ms job. convert()/svg2png would not pass url_fetcher on anyway.
        tree = Tree(bytestring=markup.encode("utf-8"), url_fetcher=fetcher, unsafe=False)
        output = io.BytesIO()
        surface = PNGSurface(tree, output, 96, None, None, None, 1, job.svg_size, job.svg_size, "white")
        surface.cairo.flush()
        blank = _is_flat(surface.cairo.get_data())
        surface.finish()
    except _Deadline:
        return RenderResult.failure("timeout", f"SVG render exceeded {timeout_s:g} s", time.perf_counter() - start)
    except MemoryError as exc:
        return RenderResult.failure("memory", f"MemoryError: {exc}", time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - malformed XML, bad attributes, defusedxml refusals: many types
        return RenderResult.failure("invalid_input", f"{type(exc).__name__}: {exc}", time.perf_counter() - start)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if blank:
        size = f"{job.svg_size}x{job.svg_size}"
        return RenderResult.failure("blank", f"the {size} image is a single flat colour", time.perf_counter() - start)
    png = output.getvalue()
    if job.svg_size > job.max_side:
        png = image_ops.finalize_png(png, job.max_side)
    note = f"external resources refused (not drawn): {', '.join(fetcher.refused)}" if fetcher.refused else ""
    return RenderResult(ok=True, png=png, message=note, seconds=time.perf_counter() - start)
