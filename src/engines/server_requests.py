"""One chat-completions request read and checked before it reaches the engine: the server's limits, the typed
refusal (an HTTP status and a reason), the sampling values, and the images (opened from their headers and capped,
then decoded and downscaled). Every check on untrusted input lives here, testable without a server.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image
from pydantic import BaseModel, ConfigDict

from src.engines.engine import SamplingSettings

_DATA_URL = re.compile(r"data:image/(?P<kind>png|jpeg|jpg);base64,(?P<data>.*)", re.DOTALL)


@dataclass
class ServerSettings:
    """Limits and batching of one server.

    Args:
        served_model_name: the ``model`` name clients use for the base weights.
        max_batch_requests: requests gathered into one engine call (the engine cuts rows further into its batches).
        batch_window_s: how long the first request of a batch waits for company; the cost of an idle server's
            latency, the gain under load. 10 ms is small next to one decoding step of an 8B model.
        max_queue: waiting + running requests; one more is refused with 429.
        max_body_bytes: request body cap (two 1024 px PNGs in base64 are ~3 MB).
        max_image_pixels: per image, read from the header before decoding (decompression bombs).
        max_request_pixels: all images of one request together, from their headers, before decoding: what
            decoding the request costs.
        max_pending_pixels: decoded pixels (after downscaling to the processor's size) that all admitted requests
            may hold at once; a request that would go past it is refused with 429. The default holds 256
            requests of two 1024² images, ~1.5 GB as RGB.
        decode_workers: threads that decode images, one request at a time each (an image holds up to
            ``max_image_pixels`` until it is downscaled).
        max_images: images per request.
        max_n: completions per request.
        max_tokens_limit: the largest ``max_tokens`` accepted. A request that names none gets what the context
            leaves after its prompt (as in vLLM), capped by this.
    """

    served_model_name: str = "model"
    max_batch_requests: int = 32
    batch_window_s: float = 0.01
    max_queue: int = 256
    max_body_bytes: int = 32 * 1024 * 1024
    max_image_pixels: int = 4096 * 4096
    max_request_pixels: int = 2 * 4096 * 4096
    max_pending_pixels: int = 512 * 1024 * 1024
    decode_workers: int = 2
    max_images: int = 8
    max_n: int = 32
    max_tokens_limit: int = 4096


class RequestRefused(Exception):
    """A request the server will not serve; carries the HTTP status and a reason the client can read."""

    def __init__(self, status: int, message: str, code: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


# -- request parsing --------------------------------------------------------------------------------------------------
class ChatCompletionBody(BaseModel):
    """The fields we read from a chat-completions request; others (``user``, ``metadata``...) are ignored.

    Floats must be finite (JSON's NaN and Infinity, and numbers that overflow to infinity, are refused)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)

    model: str
    messages: list[dict[str, Any]]
    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None
    top_k: int = 0
    repetition_penalty: float = 1.0
    logprobs: bool = False
    top_logprobs: int | None = None
    return_tokens_as_token_ids: bool = False
    stream: bool = False
    stop: str | list[str] | None = None


@dataclass
class _EncodedImage:
    """An image part as sent: its bytes and its header (read, nothing decoded)."""

    image: Image.Image
    width: int
    height: int


ImageTarget = Callable[[int, int], tuple[int, int]]  # (width, height) -> the size the processor resizes it to


def open_data_url(url: str, max_pixels: int) -> _EncodedImage:
    """A PNG/JPEG data URL opened (its header read, nothing decoded); ``RequestRefused`` (400) with the reason."""
    match = _DATA_URL.fullmatch(url.strip())
    if match is None:
        head = url[:40] + ("..." if len(url) > 40 else "")
        raise RequestRefused(400, f"image_url must be a PNG or JPEG data URL (data:image/png;base64,...), got {head!r}")
    try:
        raw = base64.b64decode(match["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestRefused(400, f"image data URL is not valid base64: {exc}") from exc
    try:
        image = Image.open(io.BytesIO(raw))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RequestRefused(400, f"cannot decode image: {exc}") from exc
    width, height = image.size  # from the header; nothing decoded yet
    if width * height > max_pixels:
        raise RequestRefused(400, f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
    if image.format not in ("PNG", "JPEG"):
        raise RequestRefused(400, f"image is {image.format}; only PNG and JPEG are accepted")
    return _EncodedImage(image, width, height)


def decode_image(encoded: _EncodedImage, target: ImageTarget | None) -> Image.Image:
    """Decode to RGB and, where the processor would shrink it, shrink it now to exactly the processor's size: the
    processor then leaves it as it is, and the full-size pixels are dropped before the request waits."""
    try:
        image = encoded.image
        image.load()
        rgb = image.convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RequestRefused(400, f"cannot decode image: {exc}") from exc
    finally:
        encoded.image.close()
    size = _held_size(encoded, target)
    return rgb if size == rgb.size else rgb.resize(size, Image.Resampling.BICUBIC)


def _held_size(encoded: _EncodedImage, target: ImageTarget | None) -> tuple[int, int]:
    """The size an image has once decoded and downscaled."""
    if target is None:
        return encoded.width, encoded.height
    try:
        width, height = target(encoded.width, encoded.height)
    except ValueError as exc:  # the processor's own refusal (e.g. Qwen-VL's aspect ratio limit of 200)
        raise RequestRefused(400, f"image is {encoded.width}x{encoded.height}: {exc}") from exc
    if width * height >= encoded.width * encoded.height:  # the processor enlarges it: small already, leave it
        return encoded.width, encoded.height
    return width, height


def processor_image_target(processor: Any) -> ImageTarget | None:
    """How the engine's processor sizes an image, for processors that resize to a pixel budget (Qwen2-VL and
    Qwen3-VL: sides multiples of patch x merge, pixels within ``size``); None for others (images kept as sent).

    Its PIL backend resizes bicubically, as ``decode_image`` does, so the model sees the same pixels either way;
    with torchvision's backend the size is the same and the resampling PIL's."""
    image_processor = getattr(processor, "image_processor", None)
    size = getattr(image_processor, "size", None)
    patch, merge = getattr(image_processor, "patch_size", None), getattr(image_processor, "merge_size", None)
    if not (size and "longest_edge" in size and "shortest_edge" in size and patch and merge):
        return None
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    factor, low, high = int(patch) * int(merge), int(size["shortest_edge"]), int(size["longest_edge"])

    def target(width: int, height: int) -> tuple[int, int]:
        new_height, new_width = smart_resize(height, width, factor=factor, min_pixels=low, max_pixels=high)
        return new_width, new_height

    return target


def read_messages(messages: list[dict[str, Any]], settings: ServerSettings) -> list[dict[str, Any]]:
    """OpenAI chat messages (``image_url`` parts) → the HF layout the engine takes, with each image opened but not
    decoded (``_EncodedImage``; ``decode_messages`` decodes them); the request's total pixels are capped here."""
    if not messages:
        raise RequestRefused(400, "messages: empty")
    out: list[dict[str, Any]] = []
    images, pixels = 0, 0
    for i, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant"):
            raise RequestRefused(400, f"messages[{i}].role: must be system, user or assistant, got {role!r}")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise RequestRefused(400, f"messages[{i}].content: must be a string or a list of parts")
        parts: list[dict[str, Any]] = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image_url":
                image_url = part.get("image_url")
                url = image_url.get("url") if isinstance(image_url, dict) else image_url
                if not isinstance(url, str):
                    raise RequestRefused(400, f"messages[{i}].content[{j}].image_url.url: missing")
                images += 1
                if images > settings.max_images:
                    raise RequestRefused(400, f"more than {settings.max_images} images in one request")
                encoded = open_data_url(url, settings.max_image_pixels)
                pixels += encoded.width * encoded.height
                if pixels > settings.max_request_pixels:
                    limit = settings.max_request_pixels
                    raise RequestRefused(400, f"the request's images hold over {limit} pixels; that is the limit")
                parts.append({"type": "image", "image": encoded})
            else:
                raise RequestRefused(400, f"messages[{i}].content[{j}]: expected a text or image_url part")
        out.append({"role": role, "content": parts})
    return out


def _encoded_images(messages: list[dict[str, Any]]) -> list[_EncodedImage]:
    return [
        part["image"]
        for message in messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if isinstance(part.get("image"), _EncodedImage)
    ]


def held_pixels(messages: list[dict[str, Any]], target: ImageTarget | None) -> int:
    """Pixels the request's images hold once decoded and downscaled."""
    return sum(w * h for w, h in (_held_size(e, target) for e in _encoded_images(messages)))


def decode_messages(messages: list[dict[str, Any]], target: ImageTarget | None) -> None:
    """Decode every opened image in place, one at a time."""
    for message in messages:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if isinstance(part.get("image"), _EncodedImage):
                part["image"] = decode_image(part["image"], target)


def to_hf_messages(messages: list[dict[str, Any]], settings: ServerSettings) -> list[dict[str, Any]]:
    """OpenAI chat messages → the HF layout with decoded images, in one step (no admission, no downscaling)."""
    out = read_messages(messages, settings)
    decode_messages(out, None)
    return out


def sampling_from_body(body: ChatCompletionBody, settings: ServerSettings) -> SamplingSettings:
    unsupported = {"stream": body.stream, "stop": body.stop, "frequency_penalty": body.frequency_penalty}
    for name, value in unsupported.items():
        if value:
            raise RequestRefused(400, f"{name} is not supported by this server")
    if not 1 <= body.n <= settings.max_n:
        raise RequestRefused(400, f"n: must be in [1, {settings.max_n}], got {body.n}")
    max_tokens = body.max_completion_tokens or body.max_tokens or settings.max_tokens_limit
    if not 1 <= max_tokens <= settings.max_tokens_limit:
        raise RequestRefused(400, f"max_tokens: must be in [1, {settings.max_tokens_limit}], got {max_tokens}")
    # What the engine can take (torch seeds are 64-bit; vLLM refuses presence penalties outside [-2, 2]): anything
    # outside is the client's mistake, not a generation failure.
    ranges: dict[str, tuple[float, float, float | None]] = {
        "presence_penalty": (-2.0, 2.0, body.presence_penalty),
        "top_k": (-1, 2**31 - 1, body.top_k),
        "seed": (-(2**63), 2**64 - 1, body.seed),
    }
    for name, (low, high, value) in ranges.items():
        if value is not None and not low <= value <= high:
            raise RequestRefused(400, f"{name}: must be in [{low:g}, {high:g}], got {value}")
    try:
        return SamplingSettings(
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=max(body.top_k, 0),
            max_new_tokens=max_tokens,
            presence_penalty=body.presence_penalty,
            repetition_penalty=body.repetition_penalty,
            seed=body.seed,
        )
    except ValueError as exc:
        raise RequestRefused(400, str(exc)) from exc
