"""``OpenAIEngine``: any OpenAI-compatible chat server (ours, ``vllm serve`` of a policy or of the released
``internlm/Visual-ERM``), or several of them, behind the ``GenerationEngine`` protocol.

This is how the judge scales past one machine: give it the base URLs of N servers.

Decisions, and why:
- Each request goes to the server with the least outstanding work (requests sent, not yet answered). Servers of
  different speed then get load in proportion to their speed, without any configuration.
- A server that refuses connections, times out or answers 502/503/504 is taken out of rotation for ``down_for_s``
  and the request is sent again elsewhere at once; after that time the server is tried again (a restarted server
  rejoins by itself). A 429 (queue full) is retried with exponential backoff plus jitter. A request is given up only
  after ``max_attempts``, and then as a ``Completion`` with ``error`` set, never as an exception: one lost judge call
  must not crash a training step (the reward layer decides what an error is worth).
- Other 4xx answers (bad image, unknown model) are the request's fault: not retried, reported in ``error``.
- Images travel as data URLs in ``ChatRequest.image_format``: PNG for our critic, JPEG for the released judge (which
  was trained on JPEGs saved with PIL's defaults, as its public reward code does).
- ``update_weights(WeightUpdate(adapter_dir=...))`` loads the adapter on every server through vLLM's
  ``/v1/load_lora_adapter`` (ours implements it too), switches requests to it, then unloads the previous one. A
  server that is down at that moment gets the current adapter before its next request, so no server silently
  answers with stale weights. The directory must be readable by the servers (a shared filesystem).
- ``request_logprobs`` asks for per-token logprobs with vLLM's ``return_tokens_as_token_ids``, so completions carry
  token ids and logprobs for GRPO's importance-sampling correction; off by default because not every server has it.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import openai
from PIL import Image

from src.engines.engine import ChatRequest, Completion, EngineError, ImageFormat, SamplingSettings, WeightUpdate

_DOWN_STATUSES = (502, 503, 504)


@dataclass
class _Server:
    base_url: str
    client: openai.OpenAI
    outstanding: int = 0
    down_until: float = 0.0
    adapter: str | None = None  # the adapter of ours loaded there
    lock: threading.Lock = field(default_factory=threading.Lock)  # one adapter change at a time per server
    served: int = 0


class _RetryElsewhere(Exception):
    """The server failed in a way another server (or a later try) may not."""


def image_data_url(image: Image.Image, image_format: ImageFormat) -> str:
    """A PIL image as a base64 data URL (JPEG drops alpha, so the image is flattened to RGB first)."""
    buf = io.BytesIO()
    if image_format == "jpeg":
        image.convert("RGB").save(buf, format="JPEG")
    else:
        image.save(buf, format="PNG")
    return f"data:image/{image_format};base64,{base64.b64encode(buf.getvalue()).decode()}"


def openai_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """HF-layout messages (PIL images inline) → OpenAI chat messages with ``image_url`` data URLs."""
    out: list[dict[str, Any]] = []
    for message in request.messages:
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": message["role"], "content": content})
            continue
        parts: list[dict[str, Any]] = []
        for part in content or []:
            if part.get("type") == "image" or "image" in part:
                url = image_data_url(part["image"], request.image_format)
                parts.append({"type": "image_url", "image_url": {"url": url}})
            elif part.get("type") == "text":
                parts.append({"type": "text", "text": part["text"]})
            else:
                raise ValueError(f"content part of type {part.get('type')!r} cannot be sent to a chat server")
        out.append({"role": message["role"], "content": parts})
    return out


class OpenAIEngine:
    """Generation through one or several OpenAI-compatible chat servers.

    Args:
        base_urls: server URLs ending in ``/v1`` (``http://host:8000/v1``); one string or a list.
        model: the served model name; default: the first model the first reachable server lists.
        api_key: sent as a bearer token (vLLM's ``--api-key``); ``EMPTY`` for servers without one.
        max_concurrency: requests in flight at once, over all servers.
        timeout_s: per attempt; a server that does not answer within it counts as down.
        max_attempts: tries per request before it is given up (as a ``Completion`` with ``error``).
        backoff_s: first wait after a refusal (429) or when every server is down; doubles per attempt.
        down_for_s: how long a failed server stays out of rotation before it is tried again.
        request_logprobs: ask for token ids and logprobs (vLLM and our server support it).
        adapter_prefix: adapters loaded by ``update_weights`` are named ``{prefix}-v{version}``.
    """

    def __init__(
        self,
        base_urls: str | Sequence[str],
        model: str | None = None,
        api_key: str = "EMPTY",
        max_concurrency: int = 32,
        timeout_s: float = 600.0,
        max_attempts: int = 6,
        backoff_s: float = 0.5,
        down_for_s: float = 10.0,
        request_logprobs: bool = False,
        adapter_prefix: str = "policy",
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ValueError("base_urls: give at least one server URL")
        if max_concurrency < 1 or max_attempts < 1:
            raise ValueError("max_concurrency and max_attempts must be >= 1")
        self.servers = [
            _Server(url.rstrip("/"), openai.OpenAI(base_url=url, api_key=api_key, max_retries=0, timeout=timeout_s))
            for url in urls
        ]
        self.api_key, self.timeout_s = api_key, timeout_s
        self.max_attempts, self.backoff_s, self.down_for_s = max_attempts, backoff_s, down_for_s
        self.request_logprobs, self.adapter_prefix = request_logprobs, adapter_prefix
        self.weights_version = 0
        self.failed_attempts = 0  # attempts that were retried or given up: a number worth logging per step
        self._base_model = model
        self._adapter: tuple[str, str] | None = None  # (name, directory) requests should use
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="openai-engine")

    # -- the protocol --------------------------------------------------------------------------------------------------
    def generate(
        self, requests: Sequence[ChatRequest], n: int = 1, sampling: SamplingSettings | None = None
    ) -> list[list[Completion]]:
        """``n`` completions per request, in order; a request that could not be served has ``error`` set."""
        sampling = sampling or SamplingSettings()
        futures = [self._pool.submit(self._complete, request, n, sampling) for request in requests]
        return [future.result() for future in futures]

    def update_weights(self, update: WeightUpdate) -> None:
        """Hot-load ``update.adapter_dir`` on every server that is up, then send requests to it."""
        if update.adapter_dir is None:
            raise EngineError(
                "OpenAIEngine takes new weights as a LoRA adapter directory only; for full weights, merge and restart "
                "the server (tools/merge_lora.py), or use HFEngine/VLLMEngine in process"
            )
        self._adapter = (f"{self.adapter_prefix}-v{update.version}", str(update.adapter_dir))
        now = time.monotonic()
        for server in self.servers:
            if server.down_until <= now:  # a down server catches up before its next request
                self._ensure_adapter(server)
        self.weights_version = update.version

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for server in self.servers:
            server.client.close()

    # -- one request -----------------------------------------------------------------------------------------------
    @property
    def model(self) -> str:
        if self._adapter is not None:
            return self._adapter[0]
        if self._base_model is None:
            self._base_model = self._discover_model()
        return self._base_model

    def _complete(self, request: ChatRequest, n: int, sampling: SamplingSettings) -> list[Completion]:
        try:
            messages = openai_messages(request)
        except (ValueError, KeyError, AttributeError, OSError) as exc:
            return _failed(n, f"cannot encode the request: {exc}")
        last_error = "no attempt made"
        for attempt in range(self.max_attempts):
            if attempt:
                with self._lock:
                    self.failed_attempts += 1
            server = self._pick()
            if server is None:  # every server is out of rotation: wait for the first to come back
                last_error = "every server is down"
                time.sleep(self._backoff(attempt, until=min(s.down_until for s in self.servers)))
                continue
            try:
                self._ensure_adapter(server)
                reply = server.client.chat.completions.create(**self._create_kwargs(messages, n, sampling))
                server.served += 1
                return self._completions(reply, n)
            except openai.RateLimitError as exc:  # queue full there: back off, maybe another server has room
                last_error = f"{server.base_url}: {_reason(exc)}"
                time.sleep(self._backoff(attempt))
            except (openai.APIConnectionError, _RetryElsewhere) as exc:  # APITimeoutError is one of these
                last_error = f"{server.base_url}: {_reason(exc)}"
                self._mark_down(server)
            except openai.APIStatusError as exc:
                last_error = f"{server.base_url}: HTTP {exc.status_code}: {_reason(exc)}"
                if exc.status_code in _DOWN_STATUSES:
                    self._mark_down(server)
                elif exc.status_code < 500:
                    return _failed(n, last_error)  # the request's own fault: another try gives the same answer
                else:
                    time.sleep(self._backoff(attempt))
            finally:
                with self._lock:
                    server.outstanding -= 1
        return _failed(n, f"gave up after {self.max_attempts} attempts; last: {last_error}")

    def _create_kwargs(self, messages: list[dict[str, Any]], n: int, sampling: SamplingSettings) -> dict[str, Any]:
        leave = set(sampling.server_defaults)
        extra: dict[str, Any] = {}
        if "top_k" not in leave:
            extra["top_k"] = sampling.top_k if sampling.top_k > 0 else -1
        if sampling.repetition_penalty != 1.0 and "repetition_penalty" not in leave:
            extra["repetition_penalty"] = sampling.repetition_penalty
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "n": n,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "presence_penalty": sampling.presence_penalty,
        }
        for name in ("top_p", "presence_penalty"):
            if name in leave:
                del kwargs[name]
        if "n" in leave and n == 1:  # n is the caller's, but 1 is every server's default
            del kwargs["n"]
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        if self.request_logprobs:
            kwargs["logprobs"] = True
            extra["return_tokens_as_token_ids"] = True
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def _completions(self, reply: Any, n: int) -> list[Completion]:
        prompt_tokens = reply.usage.prompt_tokens if reply.usage is not None else 0
        out = []
        for choice in sorted(reply.choices, key=lambda c: c.index):
            token_ids = logprobs = None
            if choice.logprobs is not None and choice.logprobs.content is not None:
                tokens = choice.logprobs.content
                logprobs = [t.logprob for t in tokens]
                if all(t.token.startswith("token_id:") for t in tokens):
                    token_ids = [int(t.token.split(":", 1)[1]) for t in tokens]
            out.append(
                Completion(
                    text=choice.message.content or "",
                    finish_reason="length" if choice.finish_reason == "length" else "stop",
                    token_ids=token_ids,
                    logprobs=logprobs,
                    prompt_tokens=prompt_tokens,
                )
            )
        if len(out) < n:
            out.extend(_failed(n - len(out), f"server returned {len(out)} of {n} completions"))
        return out[:n]

    # -- servers --------------------------------------------------------------------------------------------------
    def _pick(self) -> _Server | None:
        """The up server with the least outstanding requests (ties: the one that has served least)."""
        now = time.monotonic()
        with self._lock:
            up = [s for s in self.servers if s.down_until <= now]
            if not up:
                return None
            server = min(up, key=lambda s: (s.outstanding, s.served))
            server.outstanding += 1
            return server

    def _mark_down(self, server: _Server) -> None:
        with self._lock:
            server.down_until = time.monotonic() + self.down_for_s
            server.adapter = None  # a restarted server has lost its adapters; reload before using it again

    def _backoff(self, attempt: int, until: float | None = None) -> float:
        wait = self.backoff_s * 2**attempt * (0.5 + random.random() / 2)  # jitter: retries do not arrive in step
        if until is not None:
            wait = min(max(until - time.monotonic(), 0.0) + 0.01, wait + self.down_for_s)
        return wait

    def _ensure_adapter(self, server: _Server) -> None:
        """Load the current adapter on ``server`` if it lacks it, then unload the one it had."""
        if self._adapter is None or server.adapter == self._adapter[0]:
            return
        name, path = self._adapter
        with server.lock:
            if server.adapter == name:
                return
            status, message = self._post(server, "load_lora_adapter", {"lora_name": name, "lora_path": path})
            if status != 200 and "already" not in message:
                if status in _DOWN_STATUSES or status == 0:
                    raise _RetryElsewhere(f"cannot load adapter {name}: {message}")
                raise EngineError(f"{server.base_url}: cannot load adapter {name} from {path}: HTTP {status} {message}")
            previous, server.adapter = server.adapter, name
            if previous is not None:  # best effort: a 404 means it is gone already
                self._post(server, "unload_lora_adapter", {"lora_name": previous})

    def _post(self, server: _Server, path: str, payload: dict[str, Any]) -> tuple[int, str]:
        """POST JSON; returns (status, message), status 0 when the server could not be reached."""
        request = urllib.request.Request(
            f"{server.base_url}/{path}",
            data=json.dumps(payload).encode(),
            headers={"content-type": "application/json", "authorization": f"Bearer {self.api_key}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):  # not our JSON error shape: keep the text
                body = json.loads(body)["error"]["message"]
            return exc.code, str(body)
        except (urllib.error.URLError, OSError) as exc:
            return 0, str(exc)

    def _discover_model(self) -> str:
        errors = []
        for server in self.servers:
            try:
                models = server.client.models.list().data
            except openai.APIError as exc:
                errors.append(f"{server.base_url}: {_reason(exc)}")
                continue
            if models:
                return models[0].id
        raise EngineError(f"no server lists a model; give model= explicitly ({'; '.join(errors) or 'empty lists'})")


def _failed(n: int, reason: str) -> list[Completion]:
    return [Completion(text="", finish_reason="error", error=reason) for _ in range(n)]


def _reason(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        message = body.get("message") or (body.get("error") or {}).get("message")
        if message:
            return str(message)
    return f"{type(exc).__name__}: {exc}"
