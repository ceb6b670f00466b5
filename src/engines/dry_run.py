"""An engine that records what it is asked instead of generating: the requests a run would send, read before renting
GPUs (``tools/main_job.py --dry-run``).

Every completion comes back empty, an answer no parser can read, so a judge asks again exactly as its protocol says
for an unreadable critique: the recorded attempts per pair are the protocol's most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from PIL import Image

from src.engines.engine import ChatRequest, Completion, SamplingSettings, WeightUpdate


@dataclass(frozen=True)
class RecordedCall:
    request: ChatRequest
    n: int
    sampling: SamplingSettings


class DryRunEngine:
    """A ``GenerationEngine`` that generates nothing and keeps every request it was given, in order."""

    def __init__(self) -> None:
        self.weights_version = 0
        self.calls: list[RecordedCall] = []

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        sampling = sampling or SamplingSettings()
        self.calls += [RecordedCall(r, n, sampling) for r in requests]
        return [[Completion(text="", finish_reason="stop") for _ in range(n)] for _ in requests]

    def update_weights(self, update: WeightUpdate) -> None:
        self.weights_version = update.version

    def close(self) -> None:
        pass


def describe_call(call: RecordedCall) -> dict[str, Any]:
    """A JSON view of one request: roles and texts in order, each image's size and the bytes it would travel as
    (``OpenAIEngine``'s data URL)."""
    from src.engines.openai_engine import image_data_url

    messages = []
    for message in call.request.messages:
        content = message["content"]
        parts: list[dict[str, Any]] = [{"type": "text", "text": content}] if isinstance(content, str) else []
        for part in content if isinstance(content, list) else []:
            if part.get("type") == "image" and isinstance(part.get("image"), Image.Image):
                image = part["image"]
                parts.append(
                    {
                        "type": "image",
                        "size": list(image.size),
                        "format": call.request.image_format,
                        "data_url_bytes": len(image_data_url(image, call.request.image_format)),
                    }
                )
            elif part.get("type") == "image":
                parts.append({"type": "image", "source": str(part.get("image") or part.get("url"))})
            else:
                parts.append({k: v for k, v in part.items() if k != "image"})
        messages.append({"role": message["role"], "content": parts})
    return {"n": call.n, "sampling": asdict(call.sampling), "messages": messages}
