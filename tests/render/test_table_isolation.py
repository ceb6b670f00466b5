"""Hostile table jobs cannot reach later jobs: each attack runs on every worker, then innocent jobs must look exactly
like they did before any attack. On the old reused-document path the CSP job stripped later tables' CSS, the
refresh job hung a later job, and the leading comment swallowed the template."""

from __future__ import annotations

import pytest

from src.render import RenderJob, RenderPool, RenderResult
from src.render.table import TableBrowser
from tests.render.conftest import HTML_TABLE

pytestmark = pytest.mark.browser

# 120 rows: long enough (~0.2-1 s under load) that a refresh timer left by the job before fires during it.
LONG_TABLE = "<table>" + "".join(f"<tr><td>row {i}</td><td>{i * 3.7:.1f}</td><td>{i % 7}</td></tr>" for i in range(120))
LONG_TABLE += "</table>"


def _one_by_one(pool: RenderPool, sources: list[str]) -> list[RenderResult]:
    """Sequential single-job calls: the pool hands them to its workers in turn, so each worker gets its share."""
    return [pool.render([RenderJob("table", source)])[0] for source in sources]


def _document(head: str, body: str) -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body>{body}</body></html>"


def test_a_jobs_csp_meta_does_not_strip_the_css_of_later_jobs(pool: RenderPool) -> None:
    clean = _one_by_one(pool, [HTML_TABLE] * pool.workers)
    attack = _document('<meta http-equiv="Content-Security-Policy" content="style-src \'none\'">', HTML_TABLE)
    _one_by_one(pool, [attack] * pool.workers)
    later = _one_by_one(pool, [HTML_TABLE] * pool.workers)
    assert all(r.ok for r in later), [r.message for r in later]
    assert [r.png for r in later] == [r.png for r in clean]  # borders, padding and font: the template's CSS held


def test_a_jobs_meta_refresh_does_not_fire_in_later_jobs(pool: RenderPool) -> None:
    clean = _one_by_one(pool, [LONG_TABLE])[0]
    assert clean.ok, clean.message
    refresh = _document('<meta http-equiv="refresh" content="1">', HTML_TABLE)
    for _ in range(2):
        _one_by_one(pool, [refresh] * pool.workers)
        later = _one_by_one(pool, [LONG_TABLE] * pool.workers)
        assert all(r.ok for r in later), [(r.error_kind, r.message) for r in later]
        assert all(r.png == clean.png for r in later)


def test_a_leading_comment_cannot_displace_the_template(pool: RenderPool) -> None:
    hostile = [
        "<!-- <head> -->" + HTML_TABLE,
        "<!-- <head> -->" + _document("<title>t</title>", HTML_TABLE),
        "<!-- <html><head> -->\n<html><body>" + HTML_TABLE + "</body></html>",
    ]
    clean, *results = pool.render([RenderJob("table", s) for s in [HTML_TABLE, *hostile]])
    assert clean.ok and all(r.ok for r in results), [r.message for r in results]
    assert all(r.png == clean.png for r in results)  # the template's CSS applied to every variant


def test_with_javascript_on_scripts_run_but_leave_nothing_for_the_next_job() -> None:
    writer = HTML_TABLE + "<script>window.name = 'LEAKED'; document.title = 'LEAKED';</script>"
    reader = (
        "<table><tr><td id='o'>script did not run</td></tr></table>"
        "<script>document.getElementById('o').textContent = 'name=[' + window.name + ']';</script>"
    )
    not_run = "<table><tr><td id='o'>script did not run</td></tr></table>"
    browser = TableBrowser(timeout_s=10, javascript=True)
    try:
        fresh, no_script = (browser.render(RenderJob("table", s), s) for s in (reader, not_run))
        browser.render(RenderJob("table", writer), writer)
        after = browser.render(RenderJob("table", reader), reader)
    finally:
        browser.close()
    assert fresh.ok and after.ok and no_script.ok, [fresh.message, after.message, no_script.message]
    assert fresh.png != no_script.png  # the script ran
    assert after.png == fresh.png  # and saw an empty window.name, as on a fresh browser


def test_a_page_that_navigates_itself_away_fails_alone(pool: RenderPool) -> None:
    clean = _one_by_one(pool, [HTML_TABLE])[0]
    leaving = [
        '<meta http-equiv="refresh" content="0">' + HTML_TABLE,
        '<meta http-equiv="refresh" content="0;url=http://127.0.0.1:9/">' + HTML_TABLE,
    ]
    results = _one_by_one(pool, leaving * pool.workers)
    # Its own picture is lost (a blank page, the capture finds its document gone, or a refresh loop keeps the page
    # loading until the job's deadline: seen on a fresh CI clone); a typed failure, never a stray exception.
    assert all(r.ok or r.error_kind in ("blank", "invalid_input", "timeout") for r in results), results
    later = _one_by_one(pool, [HTML_TABLE] * pool.workers)
    assert all(r.png == clean.png for r in later)
