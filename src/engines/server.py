"""An OpenAI-compatible chat server in front of an ``HFEngine``: the judge (or a policy) as an HTTP service.

    python tools/serve_openai.py --model PATH_OR_ID --host 127.0.0.1 --port 8000 [--served-model-name NAME]

It speaks the subset of the API that the public Visual-ERM reward code and our ``OpenAIEngine`` use, in vLLM's
dialect: ``/v1/models``, ``/v1/chat/completions`` (``n``, ``temperature``, ``top_p``, ``max_tokens``,
``presence_penalty``, ``seed``, and vLLM's ``top_k``, ``repetition_penalty``, ``return_tokens_as_token_ids``; images
as PNG or JPEG data URLs; ``usage``), ``/v1/load_lora_adapter`` and ``/v1/unload_lora_adapter`` (a loaded adapter is
then addressed by its ``lora_name`` as ``model``), and ``/health``.

Decisions, and why:
- One thread owns the engine (``BatchScheduler``). Requests that arrive while it is busy, or within a short batching
  window of each other, go into one ``generate`` call: on a GPU (and even on a CPU for small models) a batch of 32
  costs little more than one, so throughput grows with load instead of queueing. Requests are grouped by adapter,
  ``n`` and sampling settings, since one ``generate`` call samples one way. A seeded sampled request runs alone, so
  the same seed gives the same answer whatever else is in flight.
- Adapter loads/unloads go through the same thread, in arrival order with generation: no lock, no half-loaded state.
- The queue is bounded (waiting + running requests): beyond it a request is refused at once with 429 and the reason,
  which a client retries with backoff, instead of waiting until its timeout.
- Everything a client sends is untrusted: the body size is capped while reading, images must be PNG/JPEG data URLs
  (the server fetches nothing), and every failure becomes a 4xx JSON error in OpenAI's shape (``{"error":
  {"message", "type", "code"}}``) — the process never dies on input. Sampling values must be finite and in range,
  so that a NaN temperature or a seed of 2**70 is the client's 400, not a failure inside ``generate``.
- A request is admitted before any image is decoded: it takes its queue slot first (429 when full), then its
  images' sizes are read from their headers and capped per image and per request (decoding is the cost), then the
  pixels it will hold are reserved from a server-wide budget (429 when spent), and only then are its images
  decoded, one at a time (at most ``decode_workers`` at once), each downscaled right away to the size the model's
  processor would resize it to. So a request the server will not serve costs no decoding, and what waiting
  requests hold is bounded by ``max_pending_pixels`` (a burst is measured in ``tests/engines/test_server.py``).
- A request whose client hangs up while it waits in the queue is dropped before generation (the handler polls the
  connection), so clients that time out under overload do not keep costing generate calls.
- Listens on 127.0.0.1 unless told otherwise: it executes nothing, but it does spend the machine's accelerator.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import queue
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.concurrency import run_in_threadpool

from src.engines.engine import ChatRequest, Completion, EngineError, SamplingSettings
from src.engines.hf_engine import EncodedPrompt, HFEngine, InvalidRequestError

_DATA_URL = re.compile(r"data:image/(?P<kind>png|jpeg|jpg);base64,(?P<data>.*)", re.DOTALL)
_DISCONNECT_POLL_S = 0.5  # how often a waiting handler checks that its client is still there


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


# -- the engine thread ----------------------------------------------------------------------------------------------
@dataclass
class _Job:
    request: ChatRequest
    n: int
    sampling: SamplingSettings
    adapter: str | None
    future: asyncio.Future[list[Completion]]
    loop: asyncio.AbstractEventLoop
    budget_given: bool = True  # False: max_tokens was not in the request; the context decides

    def batch_key(self) -> tuple[Any, ...]:
        sampling = self.sampling
        if sampling.temperature == 0:  # greedy ignores seed and truncation: any greedy request can share a batch
            sampling = replace(sampling, seed=None, top_p=1.0, top_k=0)
        elif sampling.seed is not None:
            return (id(self),)  # runs alone, so its seed reproduces its answer
        return (self.adapter, self.n, sampling)


@dataclass
class _Control:
    action: Callable[[], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class BatchScheduler:
    """The one thread that runs the engine: gathers queued requests into batches, and runs adapter loads in order."""

    def __init__(self, engine: HFEngine, settings: ServerSettings) -> None:
        self.engine, self.settings = engine, settings
        self._queue: queue.Queue[_Job | _Control | None] = queue.Queue()
        self._pending = 0  # admitted requests: decoding, waiting or running
        self._held_pixels = 0  # decoded image pixels the admitted requests hold (or have reserved)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches_run = 0
        self.largest_batch = 0
        self.dropped = 0  # queued requests whose client went away before their batch ran

    @property
    def pending(self) -> int:
        return self._pending

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="engine", daemon=True)
        self._thread.start()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=60)
        while True:  # whatever is still queued is answered, never dropped silently
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                _resolve(item.loop, item.future, error=RequestRefused(503, "server is shutting down", "unavailable"))

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """A queue slot for one request, from before its images are decoded until it is answered; 429 when full."""
        if not self.alive():
            raise RequestRefused(503, "the engine thread is not running", "unavailable")
        with self._lock:
            if self._pending >= self.settings.max_queue:
                raise RequestRefused(
                    429, f"queue full: {self._pending} requests waiting or running (limit {self.settings.max_queue})"
                )
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1

    @contextlib.contextmanager
    def holding(self, pixels: int) -> Iterator[None]:
        """Reserve ``pixels`` of decoded images from the server's budget while a request holds them; 429 when spent."""
        limit = self.settings.max_pending_pixels
        if pixels > limit:
            raise RequestRefused(400, f"the request's images hold {pixels} pixels once decoded; the limit is {limit}")
        with self._lock:
            if self._held_pixels + pixels > limit:
                raise RequestRefused(
                    429, f"decoded-image budget full: {self._held_pixels} of {limit} pixels held by waiting requests"
                )
            self._held_pixels += pixels
        try:
            yield
        finally:
            with self._lock:
                self._held_pixels -= pixels

    async def generate(
        self, request: ChatRequest, n: int, sampling: SamplingSettings, adapter: str | None, budget_given: bool = True
    ) -> Any:
        """Queue one admitted request (see ``admitted``) and wait for its completions."""
        if not self.alive():
            raise RequestRefused(503, "the engine thread is not running", "unavailable")
        loop = asyncio.get_running_loop()
        job = _Job(request, n, sampling, adapter, loop.create_future(), loop, budget_given)
        self._queue.put(job)
        return await job.future

    async def control(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` on the engine thread between batches (adapter loads and unloads)."""
        if not self.alive():
            raise RequestRefused(503, "the engine thread is not running", "unavailable")
        loop = asyncio.get_running_loop()
        item = _Control(action, loop.create_future(), loop)
        self._queue.put(item)
        return await item.future

    def _run(self) -> None:
        carried: list[_Job | _Control | None] = []  # an item taken while gathering a batch that must not join it
        while True:
            item = carried.pop() if carried else self._queue.get()
            if item is None:
                return
            if isinstance(item, _Control):
                self._run_control(item)
                continue
            batch = [item]
            deadline = time.monotonic() + self.settings.batch_window_s
            while len(batch) < self.settings.max_batch_requests:
                remaining = deadline - time.monotonic()
                try:  # take what is already queued, then wait out the window for more
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(nxt, _Job):
                    carried.append(nxt)  # a control action or the stop runs after this batch, in arrival order
                    break
                batch.append(nxt)
            self._run_batch(batch)

    def _run_control(self, item: _Control) -> None:
        try:
            result = item.action()
        except Exception as exc:  # reported to the caller, the thread lives on
            _resolve(item.loop, item.future, error=exc)
        else:
            _resolve(item.loop, item.future, result=result)

    def _run_batch(self, batch: list[_Job]) -> None:
        groups: dict[tuple[Any, ...], list[tuple[_Job, EncodedPrompt]]] = {}
        for job in batch:  # one bad prompt fails alone, before anything is generated
            if job.future.cancelled():  # its client went away while it waited: generate nothing for it
                self.dropped += 1
                continue
            try:
                prompt = self._encode(job)  # first: it may set the job's token budget, which is part of the key
                groups.setdefault(job.batch_key(), []).append((job, prompt))
            except InvalidRequestError as exc:
                _resolve(job.loop, job.future, error=RequestRefused(400, str(exc)))
            except Exception as exc:
                _resolve(job.loop, job.future, error=RequestRefused(400, f"cannot encode the request: {exc}"))
        for members in groups.values():
            jobs = [job for job, _ in members]
            first = jobs[0]
            try:
                results = self.engine.generate_encoded([p for _, p in members], first.n, first.sampling, first.adapter)
            except Exception as exc:  # a failed batch answers its requests; the server lives on
                reason = f"generation failed: {type(exc).__name__}: {exc}"
                for job in jobs:
                    _resolve(job.loop, job.future, error=RequestRefused(500, reason, "internal_error"))
                continue
            self.batches_run += 1
            self.largest_batch = max(self.largest_batch, len(jobs))
            for job, completions in zip(jobs, results, strict=True):
                _resolve(job.loop, job.future, result=completions)

    def _encode(self, job: _Job) -> EncodedPrompt:
        """Encode; a request without ``max_tokens`` gets what the context leaves (vLLM's default), capped."""
        if not job.budget_given:
            prompt = self.engine.encode(job.request, replace(job.sampling, max_new_tokens=1))
            budget = min(job.sampling.max_new_tokens, self.engine.max_context - prompt.num_tokens)
            job.sampling = replace(job.sampling, max_new_tokens=budget)
            return prompt
        return self.engine.encode(job.request, job.sampling)


def _resolve(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any = None, error: Exception | None = None
) -> None:
    def settle() -> None:
        if future.done():  # the client went away and the handler was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # loop already closed at shutdown: nobody is waiting any more
        loop.call_soon_threadsafe(settle)


# -- the HTTP layer -------------------------------------------------------------------------------------------------
def _error(status: int, message: str, code: str = "invalid_request_error") -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "code": code}}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestRefused(413, f"request body is {declared} bytes; the limit is {limit}", "payload_too_large")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRefused(413, f"request body exceeds {limit} bytes", "payload_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def _choice(index: int, completion: Completion, body: ChatCompletionBody, tokenizer: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {
        "index": index,
        "message": {"role": "assistant", "content": completion.text},
        "finish_reason": completion.finish_reason,
        "logprobs": None,
    }
    if body.logprobs and completion.token_ids is not None and completion.logprobs is not None:
        tokens = (
            [f"token_id:{t}" for t in completion.token_ids]
            if body.return_tokens_as_token_ids
            else tokenizer.convert_ids_to_tokens(completion.token_ids)
        )
        choice["logprobs"] = {
            "content": [
                {"token": tok, "logprob": lp, "bytes": None, "top_logprobs": []}
                for tok, lp in zip(tokens, completion.logprobs, strict=True)
            ]
        }
    return choice


def create_app(engine: HFEngine, settings: ServerSettings | None = None) -> FastAPI:
    """The ASGI app; the engine thread starts and stops with the app's lifespan."""
    settings = settings or ServerSettings()
    scheduler = BatchScheduler(engine, settings)
    created = int(time.time())
    image_target = processor_image_target(engine.processor)
    # Decoding gets threads of its own, few of them: on the server's shared thread pool (40 threads) every thread
    # that decodes grows a malloc arena that keeps the freed full-size pixels, so memory would grow with the pool.
    decoders = ThreadPoolExecutor(settings.decode_workers, thread_name_prefix="image-decode")

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        try:
            yield
        finally:
            await run_in_threadpool(scheduler.stop)
            decoders.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="Visual-ERM OpenAI-compatible server", lifespan=lifespan)
    app.state.scheduler = scheduler
    app.state.settings = settings

    @app.exception_handler(RequestRefused)
    async def refused(_: Request, exc: RequestRefused) -> JSONResponse:
        return _error(exc.status, exc.message, exc.code)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return _error(500, f"{type(exc).__name__}: {exc}", "internal_error")

    @app.get("/health")
    async def health() -> JSONResponse:
        if not scheduler.alive():
            return _error(503, "the engine thread is not running", "unavailable")
        return JSONResponse({"status": "ok", "pending": scheduler.pending})

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        def card(name: str, parent: str | None) -> dict[str, Any]:
            return {"id": name, "object": "model", "created": created, "owned_by": "visual-erm", "parent": parent}

        base = card(settings.served_model_name, None)
        return {"object": "list", "data": [base, *(card(a, settings.served_model_name) for a in engine.adapters)]}

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        raw = await _read_body(request, settings.max_body_bytes)
        try:
            body = ChatCompletionBody.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:5])
            raise RequestRefused(400, f"invalid request: {problems}") from exc
        if body.model == settings.served_model_name:
            adapter: str | None = "" if engine.adapters else None
        elif body.model in engine.adapters:
            adapter = body.model
        else:
            raise RequestRefused(404, f"The model `{body.model}` does not exist.", "model_not_found")
        sampling = sampling_from_body(body, settings)
        budget_given = body.max_tokens is not None or body.max_completion_tokens is not None
        with scheduler.admitted():  # before any image is decoded (see the module docstring)
            messages = await run_in_threadpool(read_messages, body.messages, settings)  # headers only
            with scheduler.holding(held_pixels(messages, image_target)):
                await asyncio.get_running_loop().run_in_executor(decoders, decode_messages, messages, image_target)
                work = asyncio.ensure_future(
                    scheduler.generate(ChatRequest(messages=messages), body.n, sampling, adapter, budget_given)
                )
                while not (await asyncio.wait({work}, timeout=_DISCONNECT_POLL_S))[0]:
                    if await request.is_disconnected():  # the client gave up: drop it before it costs a generate
                        work.cancel()
                        raise RequestRefused(499, "client closed the connection", "client_closed")
                completions = work.result()
        tokenizer = engine.processor.tokenizer
        prompt_tokens = completions[0].prompt_tokens if completions else 0
        completion_tokens = sum(len(c.token_ids or ()) for c in completions)
        return JSONResponse(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.model,
                "choices": [_choice(i, c, body, tokenizer) for i, c in enumerate(completions)],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        )

    @app.post("/v1/load_lora_adapter")
    async def load_lora_adapter(request: Request) -> JSONResponse:
        body = await _json_object(request, settings, ("lora_name", "lora_path"))
        name, path = body["lora_name"], body["lora_path"]
        if name == settings.served_model_name or name in engine.adapters:
            raise RequestRefused(400, f"The lora adapter '{name}' has already been loaded.")
        try:
            await scheduler.control(lambda: engine.load_adapter(name, Path(path)))
        except EngineError as exc:
            raise RequestRefused(400, str(exc)) from exc
        return JSONResponse(f"Success: LoRA adapter '{name}' added successfully.")

    @app.post("/v1/unload_lora_adapter")
    async def unload_lora_adapter(request: Request) -> JSONResponse:
        body = await _json_object(request, settings, ("lora_name",))
        name = body["lora_name"]
        if name not in engine.adapters:
            raise RequestRefused(404, f"The lora adapter '{name}' cannot be found.", "not_found")
        await scheduler.control(lambda: engine.unload_adapter(name))
        return JSONResponse(f"Success: LoRA adapter '{name}' removed successfully.")

    return app


async def _json_object(request: Request, settings: ServerSettings, required: tuple[str, ...]) -> dict[str, Any]:
    import json

    raw = await _read_body(request, settings.max_body_bytes)
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise RequestRefused(400, f"body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RequestRefused(400, "body must be a JSON object")
    for key in required:
        if not isinstance(body.get(key), str) or not body[key]:
            raise RequestRefused(400, f"{key}: a non-empty string is required")
    return body


# -- running it -----------------------------------------------------------------------------------------------------
class BackgroundServer:
    """Serve an app with uvicorn on a thread of this process (tests, benchmarks); ``base_url`` ends in ``/v1``.

    Binds its own socket first (port 0 = a free one), so the URL is known before the first request.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self, timeout_s: float = 60.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise EngineError(f"server on {self.host}:{self.port} did not start within {timeout_s} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=60)
        self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
