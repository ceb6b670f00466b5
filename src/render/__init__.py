"""Code → pixels for charts (matplotlib), tables (Chromium) and SVG (cairosvg), sandboxed and pooled.

Keep one ``RenderPool`` open for as long as the process renders; see ``pool.py``.
"""

from src.render.job import DOMAINS, ERROR_KINDS, RenderJob, RenderResult
from src.render.pool import RenderPool

__all__ = ["DOMAINS", "ERROR_KINDS", "RenderJob", "RenderPool", "RenderResult"]
