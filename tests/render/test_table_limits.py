"""Tables end within ``timeout_s`` plus the documented slack, pages too large to show are refused before capture,
and Chromium's memory is bounded; after each, the worker serves the next job on the spot (no replacement)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from src.render import RenderJob, RenderPool
from src.render.table import (
    CAPTURE_PIXELS,
    CHROMIUM_MAX_TASKS,
    JOB_SLACK_S,
    MAX_PAGE_PX,
    TableBrowser,
    capture_scale,
    page_size_problem,
)
from tests.render.conftest import HTML_TABLE, pixels


def _cells_table(cells: int, columns: int = 20) -> str:
    row = "<tr>" + "".join(f"<td>{c}</td>" for c in range(columns)) + "</tr>"
    return "<table>" + row * (cells // columns) + "</table>"


def test_page_budget_and_capture_scale() -> None:
    assert page_size_problem(1024, 800) is None
    assert page_size_problem(2048, MAX_PAGE_PX) is None
    assert "16384 px" in (page_size_problem(100, MAX_PAGE_PX + 1) or "")
    assert "budget" in (page_size_problem(16000, 16000) or "")
    assert "budget" in (page_size_problem(8192, 8192) or "")  # both sides fine, the area is not
    assert capture_scale(1024, 600) == 1.0
    assert capture_scale(1024, 4096) == 1.0  # ordinary long tables keep their pixels
    scale = capture_scale(2048, MAX_PAGE_PX)
    assert scale < 1 and 2048 * MAX_PAGE_PX * scale**2 <= CAPTURE_PIXELS * 1.0001


@pytest.mark.browser
def test_huge_pages_are_refused_before_capture_and_the_worker_goes_on(pool: RenderPool) -> None:
    clean = pool.render([RenderJob("table", HTML_TABLE)])[0]
    replaced = pool.replaced
    sources = [
        '<table><tr><td><div style="width:16000px;height:16000px;background:#eee"></div></td></tr></table>',
        f'<div style="width:10px;height:{MAX_PAGE_PX + 4000}px"></div>{HTML_TABLE}',
    ]
    results = pool.render([RenderJob("table", s) for s in sources])
    for result in results:
        assert result.error_kind == "invalid_input", result
        assert "refused before capturing" in result.message and "px" in result.message
        assert result.seconds < pool.timeout_s + JOB_SLACK_S
    after = pool.render([RenderJob("table", HTML_TABLE)] * pool.workers)
    assert all(r.png == clean.png for r in after) and pool.replaced == replaced


@pytest.mark.browser
def test_a_long_page_within_budget_is_captured_scaled(pool: RenderPool) -> None:
    tall = f'<div style="height:9000px;border-left:6px solid #000"></div>{HTML_TABLE}'  # ~9.4 MP at 1024 wide
    (result,) = pool.render([RenderJob("table", tall, max_side=768)])
    assert result.ok, result.message
    image = pixels(result.png)
    assert max(image.shape[:2]) == 768 and (image < 200).all(axis=2).sum() > 200  # the bar and the table drawn


@pytest.mark.browser
def test_a_600k_cell_table_ends_within_the_time_limit(pool: RenderPool) -> None:
    """Issue 8: it used to render ``ok`` after 21.9 s with ``timeout_s=5`` (the pool's backstop ended it)."""
    clean = pool.render([RenderJob("table", HTML_TABLE)])[0]
    replaced = pool.replaced
    (result,) = pool.render([RenderJob("table", _cells_table(600_000))])
    # The deadline or the pool's memory cap (memory_mb) ends it first, depending on the machine; a machine fast
    # enough to lay it all out within timeout_s gets it refused as taller than MAX_PAGE_PX.
    assert result.error_kind in ("timeout", "memory", "invalid_input"), result
    assert result.seconds <= pool.timeout_s + JOB_SLACK_S, result.seconds
    after = pool.render([RenderJob("table", HTML_TABLE)] * pool.workers)
    assert all(r.ok and r.png == clean.png for r in after) and pool.replaced == replaced


@pytest.mark.browser
@pytest.mark.slow
def test_chromium_memory_is_capped_and_the_next_job_renders() -> None:
    """100k cells need ~1 GB of renderer memory: under a 512 MiB cap the renderer dies, reported as ``memory``."""
    browser = TableBrowser(timeout_s=120, memory_mb=512)
    try:
        big = _cells_table(100_000)
        result = browser.render(RenderJob("table", big), big)
        after = browser.render(RenderJob("table", HTML_TABLE), HTML_TABLE)
    finally:
        browser.close()
    assert result.error_kind == "memory", result
    assert "512 MiB" in result.message
    assert after.ok, after.message


@pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("setpriv") and shutil.which("prlimit")), reason="a uid of its own needs root"
)
def test_chromium_threads_are_capped_under_its_own_uid() -> None:
    """A root pool's Chromium runs as a uid of its own, so RLIMIT_NPROC bounds what its pages can start (JavaScript
    on) and the rest of the host keeps its PIDs."""
    with RenderPool(workers=1, table_javascript=True) as pool:
        assert pool.render([RenderJob("table", HTML_TABLE)])[0].ok
        limits = [_limits(pid) for pid in os.listdir("/proc") if pid.isdigit() and _is_unprivileged_chromium(pid)]
    assert limits, "no Chromium process runs as a uid of its own"
    for text in limits:
        line = next(row for row in text.splitlines() if row.startswith("Max processes"))
        assert line.split()[2:4] == [str(CHROMIUM_MAX_TASKS)] * 2, line


def _is_unprivileged_chromium(pid: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}").st_uid != 0 and "chrom" in Path(f"/proc/{pid}/comm").read_text()
    except OSError:
        return False


def _limits(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return "Max processes gone gone"
