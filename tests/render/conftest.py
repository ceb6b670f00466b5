"""One warm pool for the whole render test session (starting one costs ~2 s), realistic sources, a hit counter."""

from __future__ import annotations

import http.server
import io
import socket
import threading
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from src.render import RenderPool

BAR_CHART = """
import matplotlib.pyplot as plt
import numpy as np

quarters = ["Q1", "Q2", "Q3", "Q4"]
revenue_2023 = [12.4, 15.1, 14.8, 18.2]
revenue_2024 = [13.9, 16.4, 17.2, 21.5]
x = np.arange(len(quarters))
width = 0.38

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.bar(x - width / 2, revenue_2023, width, label="2023", color="#4C72B0")
ax.bar(x + width / 2, revenue_2024, width, label="2024", color="#DD8452")
ax.set_xticks(x)
ax.set_xticklabels(quarters)
ax.set_ylabel("Revenue (M$)")
ax.set_title("Quarterly revenue, 2023 vs 2024")
ax.legend(loc="upper left")
ax.grid(axis="y", linestyle="--", alpha=0.5)
for i, v in enumerate(revenue_2024):
    ax.annotate(f"{v:.1f}", (x[i] + width / 2, v), ha="center", va="bottom", fontsize=8)
plt.tight_layout()
"""

LINE_CHART = """
import matplotlib.pyplot as plt

years = [2016, 2017, 2018, 2019, 2020, 2021, 2022]
solar = [1.2, 1.8, 2.5, 3.4, 4.6, 6.1, 7.9]
wind = [3.9, 4.4, 4.8, 5.3, 5.9, 6.6, 7.2]
plt.figure(figsize=(6, 4))
plt.plot(years, solar, marker="o", color="goldenrod", label="Solar")
plt.plot(years, wind, marker="s", linestyle="--", color="steelblue", label="Wind")
plt.xlabel("Year")
plt.ylabel("Share of generation (%)")
plt.title("Renewable share by source")
plt.legend()
plt.grid(True, alpha=0.3)
"""

HTML_TABLE = """<table>
  <caption>Table 2: Results on the test split</caption>
  <thead>
    <tr><th rowspan="2">Model</th><th colspan="2">Accuracy (%)</th><th rowspan="2">Params</th></tr>
    <tr><th>Top-1</th><th>Top-5</th></tr>
  </thead>
  <tbody>
    <tr><td>ResNet-50</td><td align="right">76.1</td><td align="right">92.9</td><td>25.6M</td></tr>
    <tr><td><b>ViT-B/16</b></td><td align="right"><b>81.8</b></td><td align="right">95.9</td><td>86.6M</td></tr>
    <tr><td><i>ConvNeXt-T</i></td><td align="right">82.1</td><td align="right">95.9</td><td>28.6M</td></tr>
  </tbody>
</table>"""

MARKDOWN_TABLE = """| Region | Q1 sales | Q2 sales | Growth |
|:-------|---------:|---------:|:------:|
| North  | 1,204 | 1,377 | **+14.4%** |
| South  | 980 | 912 | *-6.9%* |
| West   | 1,560 | 1,702 | +9.1% |
"""

ICON_SVG = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#6EC6FF"/><stop offset="1" stop-color="#1E88E5"/>
    </linearGradient>
  </defs>
  <rect x="4" y="4" width="56" height="56" rx="10" fill="url(#sky)"/>
  <circle cx="44" cy="20" r="7" fill="#FFD54F" stroke="#F9A825" stroke-width="2"/>
  <path d="M8 50 L24 30 L34 42 L42 34 L56 50 Z" fill="#43A047"/>
  <g transform="translate(10 12) rotate(-10)"><polygon points="0,0 10,3 0,6" fill="#fff"/></g>
  <text x="32" y="60" font-size="6" text-anchor="middle" fill="#263238">Landscape</text>
</svg>"""


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


CALLER_SECRET = "hf_vermTestSecretDoNotLeak0123456789"  # set in the caller's environment of ``lone_pool``


@pytest.fixture(scope="session")
def lone_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RenderPool]:
    """One worker (so consecutive jobs share it), started from a caller whose environment holds a token."""
    import os

    scratch = tmp_path_factory.mktemp("lone-scratch")
    saved = os.environ.get("HF_TOKEN")
    os.environ["HF_TOKEN"] = CALLER_SECRET
    try:
        p = RenderPool(workers=1, timeout_s=5, memory_mb=768, scratch_dir=str(scratch), worker_grace_s=3)
        p.start()
    finally:
        if saved is None:
            os.environ.pop("HF_TOKEN", None)
        else:
            os.environ["HF_TOKEN"] = saved
    p.scratch_root = scratch  # type: ignore[attr-defined]
    yield p
    p.close()


def verdict_colour(png: bytes) -> str:
    """'red' or 'blue': what a hostile job painted to say whether its attack worked (see ``paint``)."""
    rgb = pixels(png)[pixels(png).shape[0] // 2, pixels(png).shape[1] // 2].astype(int)
    return "red" if rgb[0] > 200 and rgb[2] < 60 else "blue" if rgb[2] > 200 and rgb[0] < 60 else f"other {rgb}"


# Appended to a hostile chart job: a full-figure patch, red when ``leaked`` is true, blue when not, with the
# evidence in the title so a failing test shows what got through.
PAINT = """
import matplotlib.pyplot as plt
fig = plt.figure(figsize=(2, 2))
fig.patch.set_facecolor("red" if leaked else "blue")
fig.suptitle(str(evidence)[:80], fontsize=4)
"""


@pytest.fixture(scope="session")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RenderPool]:
    scratch = tmp_path_factory.mktemp("scratch")
    with RenderPool(workers=2, timeout_s=3, memory_mb=768, scratch_dir=str(scratch), worker_grace_s=2) as p:
        p.scratch_root = scratch  # type: ignore[attr-defined]  # for tests asserting scratch dirs are removed
        yield p


class HitCounter:
    """A real HTTP server on 127.0.0.1 that counts every request and TCP connection it receives."""

    def __init__(self) -> None:
        self.hits = 0
        self.connections = 0
        counter = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                counter.hits += 1
                body = b"<html><body style='background:#ff0000'>LEAK</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def get_request(self) -> tuple[socket.socket, object]:
                counter.connections += 1
                return super().get_request()

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hit_counter() -> Iterator[HitCounter]:
    counter = HitCounter()
    yield counter
    counter.close()
