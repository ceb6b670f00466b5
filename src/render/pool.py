"""The renderer pool: warm worker processes, job dispatch, and replacement of workers that die or hang.

Keep one pool open for the life of the process (a training run, a synthesis job): an idle pool costs its
workers' memory (~150 MB each, plus ~300 MB per worker once Chromium is up) and no CPU, while starting it costs
about a second per worker and the first table job launches Chromium (~0.5 s). ``render`` may be called any number
of times, from several threads.

Why this shape: the reward step renders hundreds of untrusted programs at once. Python start-up (~0.4 s) would
dominate a ~30-80 ms render, so workers are started once; each chart runs in a sandboxed child forked from its
worker (see ``chart.py`` and ``sandbox.py``). The pool is a thread per slot over pipes (not
``multiprocessing.Pool``): a worker that dies mid-job is noticed as EOF on its pipe, a worker that hangs past its
backstop is killed, and either is replaced while the other slots keep going, so throughput recovers. A worker
that reports its own state damaged after a job (see ``worker.py``) is replaced the same way.

Workers see an allow-listed environment (``WORKER_ENV``: paths, locale, thread pins; never the caller's tokens or
credentials), and a root pool gives each slot its own unprivileged uid for its jobs, so a job can reach no other
process, not even another worker's job. The uids are unique to the pool as well as the slot (``claim_uid_block``):
the kernel's per-uid counts (``RLIMIT_NPROC``, the pipe quota) are then the slot's alone, which uids fixed per slot
number would not be: every pool on a host would share them. What a machine cannot enforce (no Landlock,
no user namespaces, not x86_64) is logged once, at the first start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

from src.render.cache import RenderCache
from src.render.job import RenderJob, RenderResult
from src.render.table import BROWSER_UID_OFFSET

# Threads for numeric libraries: one per worker process, or N workers x M cores threads fight over M cores.
_THREAD_PINS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",  # set/dict-order-dependent code draws the same picture in every worker
}
# What a worker may inherit from the caller: where programs, libraries and fonts are, the locale, and caches.
WORKER_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "LD_LIBRARY_PATH", "PYTHONPATH", "VIRTUAL_ENV",
              "PLAYWRIGHT_BROWSERS_PATH", "FONTCONFIG_FILE", "FONTCONFIG_PATH", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
              "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "MPLCONFIGDIR", "TMPDIR")  # fmt: skip
# A root pool claims one block of UID_BLOCK uids: slot i's jobs run as block + i, its Chromium as block + i +
# BROWSER_UID_OFFSET. Blocks lie in [SANDBOX_UID_BASE, SANDBOX_UID_BASE + UID_BLOCKS * UID_BLOCK), far above the
# ranges distributions and container runtimes hand out, and below 2**31 (some tools read uids as signed).
SANDBOX_UID_BASE = 0x7000_0000
UID_BLOCK = 2 * BROWSER_UID_OFFSET
UID_BLOCKS = 1 << 16
_log = logging.getLogger(__name__)
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding `src/`
_BOOT = "import sys; sys.path.insert(0, sys.argv.pop(1)); from src.render.worker import main; main()"


def worker_environment() -> dict[str, str]:
    """The caller's environment, cut down to ``WORKER_ENV`` and the locale (``LC_*``)."""
    return {k: v for k, v in os.environ.items() if k in WORKER_ENV or k.startswith("LC_")}


def claim_uid_block() -> tuple[int, socket.socket]:
    """The first uid of a block no other live pool holds, and the claim: keep the socket open while the block is used.

    A claim is an abstract UNIX socket named after the block: the kernel refuses a second bind of the name in one
    network namespace and drops it when the holder exits, however it exits, so nothing is left to clean up. The block
    is drawn at random, so pools in other network namespaces (other containers on the host) are unlikely to meet.
    """
    draw = random.SystemRandom()
    for _ in range(64):
        block = draw.randrange(UID_BLOCKS)
        claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            claim.bind(f"\0verm-render-uid-block-{block}")
        except OSError:  # held by another pool
            claim.close()
            continue
        return SANDBOX_UID_BASE + block * UID_BLOCK, claim
    raise RuntimeError("no free block of sandbox uids after 64 draws")


class WorkerLost(RuntimeError):
    """The worker process died or stopped answering."""


class _Worker:
    """Parent-side handle of one worker process."""

    def __init__(self, config: dict, startup_timeout_s: float, slot: int, uid: int | None) -> None:
        import json

        # A private scratch root: whatever a killed worker's last job left behind is removed with it. Others may
        # traverse it (not list it) to reach their own job's dir, which is theirs alone.
        self.scratch_root = tempfile.mkdtemp(prefix="verm-worker-", dir=config["scratch_dir"])
        os.chmod(self.scratch_root, 0o711)
        self.slot = slot
        self.uid = uid
        config = {**config, "scratch_dir": self.scratch_root, "sandbox_uid": uid}
        job_read, self._job_write = os.pipe()
        self._result_read, result_write = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, _PACKAGE_ROOT, str(job_read), str(result_write), json.dumps(config)],
            pass_fds=(job_read, result_write),
            env={**worker_environment(), **_THREAD_PINS},
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # our signals to the caller's group (Ctrl-C) reach workers only through close()
        )
        os.close(job_read)
        os.close(result_write)
        self.jobs = Connection(self._job_write, readable=False)
        self.results = Connection(self._result_read, writable=False)
        self.browser_started = False
        self.damage: str | None = None
        self.gaps: list[str] = []
        self._startup_timeout_s = startup_timeout_s

    def wait_ready(self) -> None:
        if not self.results.poll(self._startup_timeout_s):
            self.kill()
            raise RuntimeError(f"render worker did not start within {self._startup_timeout_s:g} s")
        try:
            message = self.results.recv()
        except EOFError:
            code = self.process.wait()
            raise RuntimeError(f"render worker exited with code {code} during start-up (see its stderr)") from None
        if not (isinstance(message, tuple) and message[:1] == ("ready",)):
            raise RuntimeError(f"render worker sent {message!r} instead of 'ready'")
        self.gaps = list(message[1])

    def request(self, job: RenderJob | list[RenderJob], backstop_s: float) -> Any:
        try:
            self.jobs.send(job)
            if not self.results.poll(backstop_s):
                raise WorkerLost(f"worker gave no answer within {backstop_s:g} s")
            result, self.damage = self.results.recv()
        except (EOFError, OSError) as exc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(1.0)  # its pipe closed as it died: let the caller see it dead, not hung
            raise WorkerLost(f"worker died: {type(exc).__name__}") from exc
        if isinstance(job, RenderJob) and job.domain == "table":
            self.browser_started = True
        return result

    def stop(self, grace_s: float = 5.0) -> None:
        try:
            self.jobs.send(None)
            self.process.wait(grace_s)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._close_pipes()

    def kill(self) -> None:
        # Only the worker itself: its chart child dies with it (PDEATHSIG), and Playwright's driver sees its pipe
        # close and shuts Chromium down. Killing the whole group would kill the driver before it can do that.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        for conn in (self.jobs, self.results):
            if not conn.closed:
                conn.close()
        shutil.rmtree(self.scratch_root, ignore_errors=True)


class RenderPool:
    """Sandboxed, warm renderer processes for charts, tables and SVG.

    Args:
        workers: worker processes; one per core is right for CPU-bound rendering.
        timeout_s: wall-clock (and, for charts, CPU) limit of one job.
        memory_mb: address-space cap of one chart job.
        cache_dir: content-addressed PNG cache directory; None disables caching.
        chromium_path: Chromium binary for tables; default: ``chromium`` on PATH.
        table_javascript: run a table page's JavaScript (off: model output is untrusted).
        scratch_dir: where per-job scratch dirs are made and removed; default: the system temp dir. Its ancestors
            should be traversable by others: jobs run as an unprivileged uid (their working directory is their
            scratch dir either way).
        scratch_mb: what one chart/SVG job may write in total (its private scratch tmpfs).
        worker_grace_s: how far past ``timeout_s`` a silent worker is given before it is killed and replaced.
        startup_timeout_s: how long a new worker may take to import and warm up.
    """

    def __init__(
        self,
        workers: int = 2,
        timeout_s: float = 15,
        memory_mb: int = 2048,
        cache_dir: str | os.PathLike[str] | None = None,
        chromium_path: str | None = None,
        table_javascript: bool = False,
        scratch_dir: str | None = None,
        scratch_mb: int = 64,
        worker_grace_s: float = 10.0,
        startup_timeout_s: float = 120.0,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if memory_mb < 256:
            raise ValueError(f"memory_mb must be >= 256 (a warm matplotlib needs ~200 MB), got {memory_mb}")
        if workers > BROWSER_UID_OFFSET:
            raise ValueError(f"workers must be <= {BROWSER_UID_OFFSET} (one uid block per pool), got {workers}")
        self.workers = workers
        self.timeout_s = timeout_s
        self.worker_grace_s = worker_grace_s
        self.startup_timeout_s = startup_timeout_s
        self.cache = RenderCache(cache_dir) if cache_dir is not None else None
        self._config = {
            "timeout_s": timeout_s,
            "memory_mb": memory_mb,
            "chromium_path": chromium_path,
            "table_javascript": table_javascript,
            "scratch_dir": scratch_dir,
            "scratch_mb": scratch_mb,
        }
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.replaced = 0  # workers killed or lost and started afresh, for logs and tests
        self._logged_protections = False
        self._uid_base: int | None = None  # a root pool's claimed uid block, while started
        self._uid_claim: socket.socket | None = None

    def __enter__(self) -> RenderPool:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        with self._lock:
            if self._executor is not None:
                return
            if os.geteuid() == 0 and self._uid_claim is None:
                self._uid_base, self._uid_claim = claim_uid_block()
            started = [self._new_worker(slot) for slot in range(self.workers)]
            try:
                for worker in started:  # they import in parallel; we only wait here
                    worker.wait_ready()
            except BaseException:
                for worker in started:
                    worker.kill()
                self._release_uids()
                raise
            if not self._logged_protections:  # once per pool, not per restart or replacement
                self._logged_protections = True
                for gap in started[0].gaps:
                    _log.warning("render sandbox on this machine: %s", gap)
                if not started[0].gaps:
                    _log.info("render sandbox: every protection holds on this machine")
            for worker in started:
                self._all.append(worker)
                self._idle.put(worker)
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="render-slot")

    def render(self, jobs: Sequence[RenderJob], svg_batch: int = 1) -> list[RenderResult]:
        """Render every job; results come back in the order of ``jobs``, failures as data.

        ``svg_batch`` > 1 lets up to that many SVG jobs of this call share one sandboxed child (one fork and
        sandbox set-up for the lot): they can then read each other's data and forge each other's results, so pass
        it only for jobs that trust each other (seed or reference SVGs), never for rollouts scored against each
        other. Every job still gets its own time limit and verdict (see ``SandboxedJobs.render_batch``).
        """
        self.start()
        results: list[RenderResult | None] = [None] * len(jobs)
        todo: list[int] = []
        for i, job in enumerate(jobs):
            hit = self.cache.get(job) if self.cache is not None and isinstance(job, RenderJob) else None
            if hit is not None:
                results[i] = hit
            else:
                todo.append(i)
        assert self._executor is not None
        shared = [i for i in todo if svg_batch > 1 and isinstance(jobs[i], RenderJob) and jobs[i].domain == "svg"]
        units = [[i] for i in todo if i not in set(shared)]
        units += [shared[k : k + svg_batch] for k in range(0, len(shared), svg_batch)]
        for unit, unit_results in zip(
            units, self._executor.map(lambda u: self._render_unit(jobs, u), units), strict=True
        ):
            for i, result in zip(unit, unit_results, strict=True):
                results[i] = result
                if self.cache is not None and isinstance(jobs[i], RenderJob):
                    self.cache.put(jobs[i], result)
        return results  # type: ignore[return-value]

    def _render_unit(self, jobs: Sequence[RenderJob], unit: list[int]) -> list[RenderResult]:
        if len(unit) == 1:
            return [self._render_one(jobs[unit[0]])]
        batch = [jobs[i] for i in unit]
        results = self._render_shared(batch)
        if results is None:  # the worker was lost mid-batch: each job alone, in a clean child of a new worker
            return [self._render_one(job) for job in batch]
        return results

    def _render_shared(self, batch: list[RenderJob]) -> list[RenderResult] | None:
        """SVG jobs that share one child (``render``'s ``svg_batch``); None when the worker was lost."""
        worker = self._idle.get()
        try:
            # Each job may take its timeout twice: once in the batch, once alone after a failure there.
            backstop = 2 * len(batch) * self.timeout_s + self.worker_grace_s
            try:
                results: list[RenderResult] = worker.request(batch, backstop)
            except WorkerLost:
                worker = self._replace(worker)
                return None
            if worker.damage is not None:
                _log.warning("render worker %d replaced: %s", worker.process.pid, worker.damage)
                worker = self._replace(worker)
            return results
        finally:
            self._idle.put(worker)

    def _render_one(self, job: RenderJob) -> RenderResult:
        start = time.perf_counter()
        worker = self._idle.get()
        try:
            for attempt in (0, 1):
                try:
                    result = worker.request(job, self._backstop_s(job, worker))
                    if worker.damage is not None:
                        _log.warning("render worker %d replaced: %s", worker.process.pid, worker.damage)
                        worker = self._replace(worker)
                    return dataclasses.replace(result, seconds=time.perf_counter() - start)
                except WorkerLost as exc:
                    hung = worker.process.poll() is None
                    worker = self._replace(worker)
                    if hung:
                        return RenderResult.failure("timeout", f"{exc}; worker replaced", time.perf_counter() - start)
                    if attempt == 1:
                        return RenderResult.failure("crashed", f"{exc}; worker replaced", time.perf_counter() - start)
                    # A worker found dead is retried once on its replacement: it may have died before this job.
            raise AssertionError("unreachable")
        finally:
            self._idle.put(worker)

    def _backstop_s(self, job: RenderJob, worker: _Worker) -> float:
        budget = self.timeout_s + self.worker_grace_s
        if getattr(job, "domain", None) == "table":
            budget += self.timeout_s  # set_content and screenshot each have timeout_s
            if not worker.browser_started:
                budget += 60.0  # Chromium launch
        return budget

    def _new_worker(self, slot: int) -> _Worker:
        uid = None if self._uid_base is None else self._uid_base + slot
        return _Worker(self._config, self.startup_timeout_s, slot, uid)

    def _release_uids(self) -> None:
        if self._uid_claim is not None:
            self._uid_claim.close()
        self._uid_base = self._uid_claim = None

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        self.replaced += 1
        fresh = self._new_worker(worker.slot)
        fresh.wait_ready()
        with self._lock:
            self._all = [fresh if w is worker else w for w in self._all]
        return fresh

    def worker_pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all]

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
            for worker in self._all:
                worker.stop()
            self._all.clear()
            self._idle = queue.Queue()
            # Only now: a stopped worker's template has killed its jobs, so no process of these uids is left.
            self._release_uids()
