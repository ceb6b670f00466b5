"""Policy metrics per domain (charts: ChartMimic low-level F1s; tables: TEDS, TEDS-S, edit distance; SVG: SSIM,
MSE, embedding cosine) and the evaluation that renders a policy's answers and scores them (``policy.py``)."""
