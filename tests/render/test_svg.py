"""SVG backend through the real pool: realistic icons; no entities, no files, no network."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from src.render import RenderJob, RenderPool
from tests.render.conftest import ICON_SVG, HitCounter, pixels

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE svg [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<svg xmlns="http://www.w3.org/2000/svg"><text x="0" y="10">&lol9;</text></svg>"""

XXE = """<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<svg xmlns="http://www.w3.org/2000/svg" width="200" height="40"><text x="0" y="20">&xxe;</text></svg>"""


def test_icon_renders_on_white_at_svg_size(pool: RenderPool) -> None:
    a, b = pool.render([RenderJob("svg", ICON_SVG), RenderJob("svg", f"```svg\n{ICON_SVG}\n```")])
    assert a.ok and b.ok and a.png == b.png
    img = pixels(a.png).astype(int)
    assert img.shape == (336, 336, 3)
    assert (img[0, 0] == 255).all()  # the transparent corner outside the rounded rect is white
    assert (np.abs(img - [0x43, 0xA0, 0x47]).sum(axis=2) < 12).sum() > 2000  # the green hill


def test_entities_are_refused(pool: RenderPool) -> None:
    laughs, xxe = pool.render([RenderJob("svg", BILLION_LAUGHS), RenderJob("svg", XXE)])
    assert laughs.error_kind == "invalid_input" and xxe.error_kind == "invalid_input"
    assert laughs.seconds < 2


def test_external_images_are_not_fetched(pool: RenderPool, hit_counter: HitCounter, tmp_path: Path) -> None:
    red = tmp_path / "red.png"
    Image.new("RGB", (50, 50), (255, 0, 0)).save(red)
    body = (
        f'<image href="file://{red}" x="0" y="0" width="50" height="50"/>'
        f'<image href="{red}" x="50" y="0" width="50" height="50"/>'
        f'<image href="{hit_counter.url}/logo.png" x="0" y="50" width="50" height="50"/>'
        f'<use href="{hit_counter.url}/sprite.svg#icon"/>'
        '<rect x="60" y="60" width="30" height="30" fill="#1565C0"/>'
    )
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">{body}</svg>'
    (result,) = pool.render([RenderJob("svg", svg)])
    assert result.ok and "refused" in result.message
    img = pixels(result.png).astype(int)
    assert ((img[..., 0] > 200) & (img[..., 1] < 60)).sum() == 0  # no red from the local file
    assert (np.abs(img - [0x15, 0x65, 0xC0]).sum(axis=2) < 12).sum() > 1000  # the rest still drew
    assert hit_counter.hits == 0 and hit_counter.connections == 0


def test_inline_data_images_still_work(pool: RenderPool) -> None:
    import base64
    import io

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 0, 255)).save(buf, format="PNG")
    data = base64.b64encode(buf.getvalue()).decode()
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><image href="data:image/png;base64,{data}" width="8" height="8"/></svg>'
    (result,) = pool.render([RenderJob("svg", svg)])
    assert result.ok and (pixels(result.png)[..., 2] > 200).mean() > 0.9


def test_malformed_empty_and_missing_svg(pool: RenderPool) -> None:
    broken, empty, prose = pool.render(
        [
            RenderJob("svg", '<svg xmlns="http://www.w3.org/2000/svg"><g><rect></svg>'),
            RenderJob("svg", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'),
            RenderJob("svg", "A red circle on a white background."),
        ]
    )
    assert broken.error_kind == "invalid_input"
    assert empty.error_kind == "blank"
    assert prose.error_kind == "no_code"


def _png_bomb(side: int) -> bytes:
    """A valid 1-bit greyscale PNG of ``side`` x ``side`` zeros: ~side^2/8 bytes raw, a few dozen KiB compressed."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _gzip_layers(payload_mb: int, layers: int) -> bytes:
    """``payload_mb`` MiB of SVG whitespace, gzipped ``layers`` times, built without holding the payload."""
    import gzip
    import io

    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as stream:
        stream.write(b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">')
        for _ in range(payload_mb):
            stream.write(b" " * (1 << 20))
        stream.write(b'<rect width="10" height="10" fill="red"/></svg>')
    data = buffer.getvalue()
    for _ in range(layers - 1):
        data = gzip.compress(data, 9)
    return data


def _worker_rss_mb(pool: RenderPool) -> float:
    """Resident memory of the pool's workers and everything they forked (template, children)."""
    total = 0
    todo = list(pool.worker_pids())
    while todo:
        pid = todo.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        rss = [line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")]
        total += int(rss[0]) if rss else 0  # a child still exiting has no memory left to count
        todo += [int(c) for c in children]
    return total / 1024


def test_a_png_decompression_bomb_is_refused_before_decoding(pool: RenderPool) -> None:
    import base64

    bomb = base64.b64encode(_png_bomb(16000)).decode()  # 1 GiB of ARGB once decoded, ~40 KiB here
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        f'<image href="data:image/png;base64,{bomb}" width="64" height="64"/>'
        '<rect width="20" height="20" fill="#1565C0"/></svg>'
    )
    before = _worker_rss_mb(pool)
    result, after = pool.render([RenderJob("svg", svg), RenderJob("svg", ICON_SVG)])
    assert result.error_kind == "invalid_input" and "16000x16000" in result.message, result.message
    assert result.seconds < pool.timeout_s
    assert _worker_rss_mb(pool) - before < 150  # nothing near the 1 GiB the decode would take
    assert after.ok


def test_gzip_inside_gzip_is_inflated_within_a_budget(pool: RenderPool) -> None:
    import base64

    bomb = base64.b64encode(_gzip_layers(payload_mb=100, layers=2)).decode()  # 100 MiB of SVG behind ~1 KiB
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
        f'<image href="data:image/svg+xml;base64,{bomb}" width="64" height="64"/></svg>'
    )
    small = base64.b64encode(_gzip_layers(payload_mb=1, layers=3)).decode()  # a small nested gzip still draws
    fine = svg.replace(bomb, small)
    result, nested = pool.render([RenderJob("svg", svg), RenderJob("svg", fine)])
    assert result.error_kind == "invalid_input" and "budget" in result.message, result.message
    assert result.seconds < pool.timeout_s
    assert nested.ok, nested.message
    img = pixels(nested.png).astype(int)
    assert ((img[..., 0] > 200) & (img[..., 1] < 60)).mean() > 0.01  # the inner SVG's red rect, drawn


def _fan_out(depth: int) -> str:
    """``<use>`` of ten ``<use>`` of ten ...: 10**depth rectangles from a 2 KB source."""
    defs = ['<rect id="g0" width="1" height="1" fill="black"/>']
    for level in range(1, depth + 1):
        uses = "".join(f'<use href="#g{level - 1}" x="{j}"/>' for j in range(10))
        defs.append(f'<g id="g{level}">{uses}</g>')
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><defs>{"".join(defs)}</defs>'
        f'<use href="#g{depth}"/></svg>'
    )


PATHOLOGICAL_SVG = {
    "use_fan_out": _fan_out(5),
    "huge_path_data": '<svg xmlns="http://www.w3.org/2000/svg" width="300" height="300"><path d="M0 0 '
    + " ".join(f"L{(i * 37) % 300} {(i * 91) % 300}" for i in range(400_000))
    + '" stroke="black" stroke-dasharray="0.3 0.2" fill="none"/></svg>',
    "deep_nesting": '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    + "<g>" * 50_000
    + '<rect width="5" height="5"/>'
    + "</g>" * 50_000
    + "</svg>",
    "huge_canvas_pattern": '<svg xmlns="http://www.w3.org/2000/svg" width="100000000" height="100000000">'
    '<defs><pattern id="p" width="90000000" height="90000000" patternUnits="userSpaceOnUse">'
    '<rect width="50000000" height="50000000" fill="red"/></pattern></defs>'
    '<rect width="100%" height="100%" fill="url(#p)"/></svg>',
}
SLACK_S = 2.0  # documented in the README: every job ends within timeout_s + this, under load


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL_SVG))
def test_pathological_svg_ends_within_its_time_limit(pool: RenderPool, name: str) -> None:
    start = time.perf_counter()
    result, after = pool.render([RenderJob("svg", PATHOLOGICAL_SVG[name]), RenderJob("svg", ICON_SVG)])
    assert time.perf_counter() - start - after.seconds < pool.timeout_s + SLACK_S
    assert result.error_kind in {None, "timeout", "memory", "invalid_input"}, (result.error_kind, result.message)
    assert after.ok, after.message  # the worker is usable right after


def test_use_fan_out_is_stopped_by_the_deadline(pool: RenderPool) -> None:
    (result,) = pool.render([RenderJob("svg", _fan_out(5))])  # ~10 s of cairosvg work on this machine
    assert result.error_kind == "timeout" and result.seconds < pool.timeout_s + SLACK_S


def test_shared_batches_give_every_job_the_picture_and_verdict_it_gets_alone(lone_pool: RenderPool) -> None:
    """``svg_batch``: the same PNGs and verdicts, in order, as one clean child per job; a job that stalls its child
    mid-batch ends as a timeout of its own (retried first in a fresh child), and the jobs after it still render."""
    icons = [ICON_SVG.replace("Landscape", f"Icon {i}") for i in range(5)]
    jobs = [RenderJob("svg", s) for s in icons[:3]]
    jobs += [
        RenderJob("svg", "<svg>not closed"),
        RenderJob("chart", "import matplotlib.pyplot as plt\nplt.plot([1, 2])"),
    ]
    jobs += [RenderJob("svg", PATHOLOGICAL_SVG["use_fan_out"])] + [RenderJob("svg", s) for s in icons[3:]]
    alone = lone_pool.render(jobs)
    start = time.perf_counter()
    shared = lone_pool.render(jobs, svg_batch=8)
    assert time.perf_counter() - start < 3 * lone_pool.timeout_s  # the stalled job's two tries, and the rest
    assert [r.error_kind for r in shared] == [r.error_kind for r in alone]
    assert [r.error_kind for r in shared][-3:] == ["timeout", None, None]
    assert [r.png for r in shared if r.error_kind != "timeout"] == [r.png for r in alone if r.error_kind != "timeout"]
