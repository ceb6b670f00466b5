"""The one thread that owns the engine (``BatchScheduler``): it admits requests (queue slots and the decoded-image
budget), gathers queued ones into batched ``generate`` calls, and runs adapter loads and unloads between batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from src.engines.engine import ChatRequest, Completion, SamplingSettings
from src.engines.hf_engine import EncodedPrompt, HFEngine, InvalidRequestError
from src.engines.server_requests import RequestRefused, ServerSettings


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
