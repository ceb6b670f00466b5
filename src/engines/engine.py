"""The one generation contract shared by the policy and the judge: chat requests with images → ``n`` completions.

Every engine (``HFEngine``, ``OpenAIEngine``, ``VLLMEngine``) implements ``GenerationEngine``; callers (the judge,
the rollout Callback, evaluation tools) depend on this module only, so an engine is picked in the YAML and nothing
else changes.

Messages use the Hugging Face chat layout that ``processor.apply_chat_template`` reads::

    [{"role": "user", "content": [{"type": "image", "image": <PIL.Image>},
                                  {"type": "text", "text": "..."}]}]

Images are PIL images in the request; an engine that talks HTTP encodes them as data URLs in
``ChatRequest.image_format`` (the released judge was trained on JPEG thumbnails, our own critic on PNG).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

ImageFormat = Literal["png", "jpeg"]
FinishReason = Literal["stop", "length", "error"]


SERVER_DEFAULT_FIELDS = ("n", "top_p", "top_k", "presence_penalty", "repetition_penalty")


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample; field names follow vLLM/OpenAI so they travel over HTTP unchanged.

    Args:
        temperature: 0 means greedy decoding.
        top_p: nucleus mass kept; 1.0 keeps all.
        top_k: tokens kept; 0 keeps all (vLLM's -1 is accepted and means the same).
        max_new_tokens: completion budget in tokens (OpenAI's ``max_tokens``).
        presence_penalty: OpenAI's additive penalty on tokens already present in the completion.
        repetition_penalty: vLLM/HF multiplicative penalty; 1.0 is off.
        seed: makes sampling reproducible where the engine supports it.
        server_defaults: request fields (``SERVER_DEFAULT_FIELDS``) an HTTP engine leaves out, so the server's own
            defaults apply, for a request equal field by field to a client that never sends them (the released
            table reward sends only temperature, max_tokens and a repetition penalty). In-process engines use the
            values above.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    max_new_tokens: int = 1024
    presence_penalty: float = 0.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    server_defaults: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "server_defaults", tuple(self.server_defaults))  # a JSON list reads back as a list
        unknown = sorted(set(self.server_defaults) - set(SERVER_DEFAULT_FIELDS))
        if unknown:
            raise ValueError(f"server_defaults: {unknown} are not among {SERVER_DEFAULT_FIELDS}")
        if self.temperature < 0:
            raise ValueError(f"temperature: must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p: must be in (0, 1], got {self.top_p}")
        if self.top_k < -1:
            raise ValueError(f"top_k: must be >= -1 (0 or -1 keep all), got {self.top_k}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens: must be >= 1, got {self.max_new_tokens}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty: must be > 0, got {self.repetition_penalty}")


@dataclass(frozen=True)
class ChatRequest:
    """One prompt: chat messages (HF layout, PIL images inline) and how HTTP engines encode its images."""

    messages: list[dict[str, Any]]
    image_format: ImageFormat = "png"
    tag: str = field(default="", compare=False)  # caller's id, echoed in logs only


@dataclass
class Completion:
    """One sampled answer.

    ``token_ids`` and ``logprobs`` (the engine's log-probability of each sampled token) are filled where the engine
    can give them; GRPO uses them for the truncated importance-sampling correction. ``error`` is set, with
    ``finish_reason="error"``, when the engine gave up on this request (timeouts, every server down) — callers treat
    it like an unparseable answer instead of crashing the step.
    """

    text: str
    finish_reason: FinishReason = "stop"
    token_ids: list[int] | None = None
    logprobs: list[float] | None = None
    prompt_tokens: int = 0
    error: str | None = None


@dataclass(frozen=True)
class WeightUpdate:
    """New policy weights for an engine, in whichever form the trainer has them.

    Args:
        version: monotonically increasing; engines record it so a test (and the logs) can tell which weights served
            a completion.
        adapter_dir: a peft adapter saved with ``save_pretrained`` (servers hot-load it: vLLM's
            ``/v1/load_lora_adapter``, ours too).
        state_dict: full (merged) weights by name, for in-process engines that load tensors directly.
        module: the live trained module, for an engine that generates with that very module (no copy).
    """

    version: int
    adapter_dir: Path | None = None
    state_dict: dict[str, Any] | None = None
    module: Any = None


class EngineError(RuntimeError):
    """The engine cannot serve at all (not installed, misconfigured, no server reachable); names the cause."""


@runtime_checkable
class GenerationEngine(Protocol):
    """What every engine offers. ``generate`` returns one list of ``n`` completions per request, in order."""

    weights_version: int

    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]: ...

    def update_weights(self, update: WeightUpdate) -> None: ...

    def close(self) -> None: ...
