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
  (the server fetches nothing), their pixel count is read from the header and capped before decoding, and every
  failure becomes a 4xx JSON error in OpenAI's shape (``{"error": {"message", "type", "code"}}``) — the process never
  dies on input.
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
from collections.abc import AsyncIterator, Callable
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
    """The fields we read from a chat-completions request; others (``user``, ``metadata``...) are ignored."""

    model_config = ConfigDict(extra="ignore")

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


def decode_data_url(url: str, max_pixels: int) -> Image.Image:
    """A PNG/JPEG data URL as an RGB image; ``RequestRefused`` (400) with the reason otherwise."""
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
        width, height = image.size  # from the header; nothing decoded yet
        if width * height > max_pixels:
            raise RequestRefused(400, f"image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}")
        if image.format not in ("PNG", "JPEG"):
            raise RequestRefused(400, f"image is {image.format}; only PNG and JPEG are accepted")
        image.load()
        return image.convert("RGB")
    except RequestRefused:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise RequestRefused(400, f"cannot decode image: {exc}") from exc


def to_hf_messages(messages: list[dict[str, Any]], settings: ServerSettings) -> list[dict[str, Any]]:
    """OpenAI chat messages (``image_url`` parts) → the HF layout the engine takes (PIL images inline)."""
    if not messages:
        raise RequestRefused(400, "messages: empty")
    out: list[dict[str, Any]] = []
    images = 0
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
                parts.append({"type": "image", "image": decode_data_url(url, settings.max_image_pixels)})
            else:
                raise RequestRefused(400, f"messages[{i}].content[{j}]: expected a text or image_url part")
        out.append({"role": role, "content": parts})
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
        self._pending = 0  # waiting + running generation requests
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

    async def generate(
        self, request: ChatRequest, n: int, sampling: SamplingSettings, adapter: str | None, budget_given: bool = True
    ) -> Any:
        if not self.alive():
            raise RequestRefused(503, "the engine thread is not running", "unavailable")
        with self._lock:
            if self._pending >= self.settings.max_queue:
                raise RequestRefused(
                    429, f"queue full: {self._pending} requests waiting or running (limit {self.settings.max_queue})"
                )
            self._pending += 1
        loop = asyncio.get_running_loop()
        job = _Job(request, n, sampling, adapter, loop.create_future(), loop, budget_given)
        self._queue.put(job)
        try:
            return await job.future
        finally:
            with self._lock:
                self._pending -= 1

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

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        scheduler.start()
        try:
            yield
        finally:
            await run_in_threadpool(scheduler.stop)

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
        messages = await run_in_threadpool(to_hf_messages, body.messages, settings)  # decoding is CPU work
        budget_given = body.max_tokens is not None or body.max_completion_tokens is not None
        work = asyncio.ensure_future(
            scheduler.generate(ChatRequest(messages=messages), body.n, sampling, adapter, budget_given)
        )
        while not (await asyncio.wait({work}, timeout=_DISCONNECT_POLL_S))[0]:
            if await request.is_disconnected():  # the client gave up: drop its request before it costs a generate
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
