"""Render jobs and results: the contract between callers and the renderer pool.

A failed render is data (``RenderResult(ok=False, error_kind=..., message=...)``), never an exception out of the
pool, so a GRPO step with one broken rollout still scores the other 255.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Literal

Domain = Literal["chart", "table", "svg"]
DOMAINS: tuple[Domain, ...] = ("chart", "table", "svg")
RenderMode = Literal["project", "released"]
RENDER_MODES: tuple[RenderMode, ...] = ("project", "released")
# The longest side the public reward's critic gets per domain (its tables are thumbnailed to 768 px after the crop).
RELEASED_MAX_SIDE: dict[str, int] = {"chart": 1024, "svg": 1024, "table": 768}
RELEASED_SVG_SIZE = 336  # its SVG output size, on white

ErrorKind = Literal[
    "no_code",  # nothing that looks like code of the domain was found
    "syntax",  # the code does not parse
    "runtime",  # the code raised
    "timeout",  # wall-clock or CPU limit reached
    "memory",  # address-space cap reached
    "forbidden",  # the code tried something the sandbox refuses (process, network, file outside scratch)
    "invalid_input",  # malformed HTML/SVG/markdown, or bad job options
    "blank",  # rendered, but the image is all background
    "crashed",  # the worker died (segfault, os._exit, killed) without a verdict
]
ERROR_KINDS: tuple[str, ...] = ErrorKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RenderJob:
    """One piece of source to turn into pixels.

    Args:
        domain: which renderer: matplotlib ``chart`` code, HTML/Markdown ``table``, or ``svg``.
        source: the code as a model wrote it (may be wrapped in a markdown fence or chatty text).
        max_side: longest side of the output PNG in pixels; larger renders are downscaled (paper: 1024 for
            charts/SVG, 768 for tables).
        svg_size: output width/height for SVG (paper: 336), before ``max_side`` applies.
        table_width: browser viewport width for tables, in CSS pixels.
        dpi: matplotlib savefig DPI.
        mode: ``project`` (this project's extraction, page template and checks) or ``released``: the images the public
            Visual-ERM reward renders, so a policy is rewarded on what the released critic was trained to compare.
            Released charts and SVG: the last fenced ``python``/``svg`` block (its language decides the renderer), the
            code's ``savefig``/``show`` calls blanked out and the current figure saved at its own DPI, and only a pure
            white image counts as blank. Released tables: the answer as it is, as the body of the released page
            template, captured at ``RELEASED_TABLE_VIEWPORT`` and cropped around the corner colour (see
            ``src.render.table``). ``dpi``, ``table_width`` and ``svg_size`` do not apply.
        trace: charts only: also return what matplotlib drew (text, gridspec cells, plotting calls, colours) as
            ``RenderResult.trace``, recorded inside the sandboxed child (``chart_trace.py``) for ChartMimic-style
            metrics. Part of the cache key; traced jobs bypass the PNG cache.
    """

    domain: Domain
    source: str
    max_side: int = 1024
    svg_size: int = 336
    table_width: int = 1024
    dpi: int = 100
    trace: bool = False
    mode: RenderMode = "project"
    tag: str = field(default="", compare=False)  # caller's id; not part of the cache key

    def problem(self) -> str | None:
        """Why this job cannot be rendered as given (names the field), or None when its options are sane."""
        if self.domain not in DOMAINS:
            return f"domain: {self.domain!r} is not one of {DOMAINS}"
        if not isinstance(self.source, str):
            return f"source: expected a string, got {type(self.source).__name__}"
        if self.mode not in RENDER_MODES:
            return f"mode: {self.mode!r} is not one of {RENDER_MODES}"
        if not isinstance(self.trace, bool):
            return f"trace: expected a bool, got {type(self.trace).__name__}"
        if self.trace and self.mode == "released":
            return "trace: not recorded in the released mode (the metrics that read it score our own renders)"
        for name, low, high in (
            ("max_side", 16, 8192),
            ("svg_size", 1, 8192),
            ("table_width", 64, 8192),
            ("dpi", 10, 1200),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                return f"{name}: {value!r} is not an integer in [{low}, {high}]"
        return None

    def cache_key(self) -> str:
        """Content address: the same domain, source and options always map to the same PNG."""
        payload = asdict(self)
        payload.pop("tag")
        if payload["mode"] == "project":  # keys written before the field existed stay valid
            payload.pop("mode")
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class RenderResult:
    """Outcome of one job; ``png`` is set exactly when ``ok``; ``trace`` only for a rendered chart job with
    ``trace=True`` (untrusted: the job's own code could have written it; read it with ``chart_trace.read_trace``)."""

    ok: bool
    png: bytes | None
    error_kind: str | None = None
    message: str = ""
    seconds: float = 0.0
    cached: bool = False
    trace: dict | None = None

    @classmethod
    def failure(cls, error_kind: str, message: str, seconds: float = 0.0) -> RenderResult:
        if error_kind not in ERROR_KINDS:
            raise ValueError(f"unknown render error kind {error_kind!r}; expected one of {ERROR_KINDS}")
        return cls(ok=False, png=None, error_kind=error_kind, message=message[:2000], seconds=seconds)


class JobFailure(Exception):
    """A backend's verdict on its job (``kind`` from ``ERROR_KINDS``), raised where the job runs and sent back as a
    ``RenderResult``: the sandboxed child cannot return a result object to the worker, only a kind and a message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind if kind in ERROR_KINDS else "runtime"
        self.message = message
