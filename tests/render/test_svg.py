"""SVG backend through the real pool: realistic icons; no entities, no files, no network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
