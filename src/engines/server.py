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
import contextlib
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from src.engines.engine import ChatRequest, Completion, EngineError
from src.engines.hf_engine import HFEngine
from src.engines.server_requests import (
    ChatCompletionBody,
    RequestRefused,
    ServerSettings,
    decode_messages,
    held_pixels,
    processor_image_target,
    read_messages,
    sampling_from_body,
)
from src.engines.server_scheduler import BatchScheduler

_DISCONNECT_POLL_S = 0.5  # how often a waiting handler checks that its client is still there


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
