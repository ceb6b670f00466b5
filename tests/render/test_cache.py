"""Content-addressed cache: a hit returns the same bytes, fast, from a file named by the job's content."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from src.render import RenderJob, RenderPool, RenderResult
from src.render.cache import RenderCache
from tests.render.conftest import LINE_CHART


def test_pool_cache_hit_is_identical_and_never_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """How much faster a hit is belongs to ``benchmarks/render_throughput.py`` (cache hit / miss, >= 50x); here, that
    a hit never reaches a worker (a wall-clock ratio in a test failed once under a fresh clone's load: 43x)."""
    jobs = [RenderJob("chart", LINE_CHART), RenderJob("chart", "x = ("), RenderJob("chart", "while True: pass")]
    with RenderPool(workers=1, timeout_s=1, cache_dir=tmp_path) as pool:
        first = pool.render(jobs)
        rendered: list[RenderJob] = []
        render_one = pool._render_one

        def spy(job: RenderJob) -> RenderResult:
            rendered.append(job)
            return render_one(job)

        monkeypatch.setattr(pool, "_render_one", spy)
        start = time.perf_counter()
        second = pool.render(jobs)
        hit_seconds = time.perf_counter() - start
    assert first[0].ok and not first[0].cached
    assert second[0].cached and second[0].png == first[0].png
    assert rendered == [jobs[2]]  # the two hits came from the cache, only the machine-dependent verdict ran again
    assert second[1].cached and second[1].error_kind == "syntax"
    assert not second[2].cached and second[2].error_kind == "timeout"  # machine-dependent verdicts are not cached
    assert hit_seconds > 0.9  # ... so the timeout job really ran again
    key = jobs[0].cache_key()
    assert (tmp_path / key[:2] / f"{key}.png").read_bytes() == first[0].png


def test_cache_key_depends_on_content_and_options_not_tag(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    job = RenderJob("svg", "<svg/>", tag="a")
    cache.put(job, RenderResult(ok=True, png=b"\x89PNG fake"))
    assert cache.get(RenderJob("svg", "<svg/>", tag="b")).png == b"\x89PNG fake"
    assert cache.get(RenderJob("svg", "<svg/>", svg_size=128)) is None
    assert cache.get(RenderJob("svg", "<svg />")) is None
    assert not list(tmp_path.rglob(".tmp-*"))  # the atomic write left no temporary file


def test_corrupt_failure_record_is_a_miss(tmp_path: Path) -> None:
    cache = RenderCache(tmp_path)
    job = RenderJob("chart", "x = (")
    path = cache.path(job, ".json")
    path.parent.mkdir(parents=True)
    path.write_text('{"error_kind": "made_up", "message": "x"}')
    assert cache.get(job) is None
