"""A scripted critic engine (a test double of ``GenerationEngine``) and rendered-image helpers for reward tests.

The scripted critic really looks at the two images it is sent: it answers an empty critique when they are
pixel-identical and one error per differing quarter of the image otherwise, so judge tests check that images reach
the engine in the right order and that rewards follow what the critic saw. ``script`` overrides the answer per call
(garbage, errors) to exercise retries.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from src.engines.engine import ChatRequest, Completion, SamplingSettings, WeightUpdate
from src.render.job import RenderResult


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def bars_image(heights: Sequence[int], size: tuple[int, int] = (96, 64), color: str = "#1f77b4") -> Image.Image:
    """Bars of the given heights: a stand-in for a rendered chart whose pixels depend on its data."""
    image = Image.new("RGB", size, "white")
    pixels = image.load()
    assert pixels is not None
    width = size[0] // max(1, len(heights))
    rgb = Image.new("RGB", (1, 1), color).getpixel((0, 0))
    for b, h in enumerate(heights):
        for x in range(b * width + 2, (b + 1) * width - 2):
            for y in range(size[1] - h, size[1]):
                pixels[x, y] = rgb
    return image


def rendered(image: Image.Image) -> RenderResult:
    return RenderResult(ok=True, png=png_bytes(image), seconds=0.01)


def quarter_differences(reference: Image.Image, candidate: Image.Image) -> int:
    """How many quarters (left/right x top/bottom) of the candidate differ from the reference."""
    a = np.asarray(reference.convert("RGB"), dtype=np.int16)
    b = np.asarray(candidate.convert("RGB").resize(reference.size), dtype=np.int16)
    h, w = a.shape[:2]
    quarters = [(slice(0, h // 2), slice(0, w // 2)), (slice(0, h // 2), slice(w // 2, w))]
    quarters += [(slice(h // 2, h), slice(0, w // 2)), (slice(h // 2, h), slice(w // 2, w))]
    return sum(bool(np.abs(a[q] - b[q]).max() > 0) for q in quarters)


def comparing_critic(request: ChatRequest) -> str:
    """The answer of a critic that files one severity-2 data error per differing quarter."""
    images = [part["image"] for part in request.messages[-1]["content"] if part["type"] == "image"]
    reference, candidate = images
    errors = [
        {"category": "data_error", "severity": 2, "location": f"quarter {q}", "description": "bars differ"}
        for q in range(quarter_differences(reference, candidate))
    ]
    return "```json\n" + json.dumps({"errors": errors}) + "\n```"


class ScriptedEngine:
    """Answers each request with ``script(request, call_index)``; a returned ``Completion`` is passed through."""

    def __init__(self, script: Callable[[ChatRequest, int], str | Completion] | None = None) -> None:
        self.script = script or (lambda request, call: comparing_critic(request))
        self.calls: list[list[ChatRequest]] = []
        self.samplings: list[SamplingSettings | None] = []
        self.weights_version = 0

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        call = len(self.calls)
        self.calls.append(list(requests))
        self.samplings.append(sampling)
        out = []
        for request in requests:
            answer = self.script(request, call)
            out.append([answer if isinstance(answer, Completion) else Completion(text=answer)] * n)
        return out

    def update_weights(self, update: WeightUpdate) -> None:
        self.weights_version = update.version

    def close(self) -> None:
        pass

    @property
    def requests(self) -> list[ChatRequest]:
        return [r for call in self.calls for r in call]
