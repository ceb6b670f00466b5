"""Content-addressed render cache on disk: ``RenderJob.cache_key()`` → PNG (or a deterministic failure).

Synthesis renders each reference once and RL re-renders identical rollouts often, so a hit must cost a file read,
not a render (~50 us vs ~80 ms). Files live at ``<dir>/<key[:2]>/<key>.png`` (failures as ``.json``); writes go
to a temporary name and are renamed into place, so concurrent writers and a kill mid-write never leave a torn
file. Only failures that do not depend on the machine are cached: a ``timeout``, ``memory`` or ``crashed``
verdict may pass on a quieter machine or a bigger limit.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from src.render.job import RenderJob, RenderResult

CACHEABLE_FAILURES = frozenset({"no_code", "syntax", "runtime", "forbidden", "invalid_input", "blank"})


class RenderCache:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, job: RenderJob, suffix: str) -> Path:
        key = job.cache_key()
        return self.directory / key[:2] / f"{key}{suffix}"

    def get(self, job: RenderJob) -> RenderResult | None:
        if job.trace:  # the cache keeps pixels only: a traced job must run to return its trace
            return None
        start = time.perf_counter()
        try:
            png = self.path(job, ".png").read_bytes()
            return RenderResult(ok=True, png=png, seconds=time.perf_counter() - start, cached=True)
        except FileNotFoundError:
            pass
        try:
            record = json.loads(self.path(job, ".json").read_text())
            failure = RenderResult.failure(record["error_kind"], str(record["message"]))
        except (FileNotFoundError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: render again and overwrite
        return RenderResult(ok=False, png=None, error_kind=failure.error_kind, message=failure.message,
                            seconds=time.perf_counter() - start, cached=True)  # fmt: skip

    def put(self, job: RenderJob, result: RenderResult) -> None:
        if job.trace or result.cached or not (result.ok or result.error_kind in CACHEABLE_FAILURES):
            return
        if result.ok:
            assert result.png is not None
            self._write_atomic(self.path(job, ".png"), result.png)
        else:
            record = {"error_kind": result.error_kind, "message": result.message}
            self._write_atomic(self.path(job, ".json"), json.dumps(record).encode())

    def _write_atomic(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
