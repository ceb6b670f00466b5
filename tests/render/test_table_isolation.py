"""Hostile table jobs cannot reach later jobs: each attack runs on every worker, then innocent jobs must look exactly
like they did before any attack. When every job reused one document, the CSP job stripped later tables' CSS, the
refresh job hung a later job, and the leading comment swallowed the template."""

from __future__ import annotations

import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.render import RenderJob, RenderPool, RenderResult
from src.render.table import BROWSER_UID_OFFSET, TableBrowser
from tests.render.conftest import HTML_TABLE, HitCounter

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


REFRESHES = {
    "in the head": _document('<meta http-equiv="refresh" content="1">', HTML_TABLE),
    "any case, in the body": "<META HTTP-Equiv=Refresh CONTENT=1>" + HTML_TABLE,
    # No literal pragma in the source: the subframe's timer must die with the subframe, not need a new document.
    "in a subframe": HTML_TABLE + '<iframe srcdoc="&lt;meta http&#45;equiv=&quot;refresh&quot; content=1&gt;x">',
}


@pytest.fixture(scope="module")
def browser() -> Iterator[TableBrowser]:
    table_browser = TableBrowser(timeout_s=10)
    yield table_browser
    table_browser.close()


def _render(browser: TableBrowser, source: str) -> RenderResult:
    return browser.render(RenderJob("table", source), source)


@pytest.mark.parametrize("where", list(REFRESHES))
def test_a_jobs_meta_refresh_does_not_fire_in_later_jobs(browser: TableBrowser, where: str) -> None:
    """Innocent jobs run back to back past the moment the refresh would fire: one of them would be cut off by it
    (its page replaced mid-capture) if it were still armed; three attacks make a miss unlikely. Two tables take
    turns, so no job repeats the one before it (a repeated page is answered without Chromium)."""
    innocent = [LONG_TABLE, LONG_TABLE.replace("row 0", "first row")]
    clean = [_render(browser, source) for source in innocent]
    assert all(r.ok for r in clean), [r.message for r in clean]
    for _ in range(3):
        _render(browser, REFRESHES[where])
        fires_at = time.monotonic() + 1.5
        later = [_render(browser, innocent[0])]
        while time.monotonic() < fires_at:
            later.append(_render(browser, innocent[len(later) % 2]))
        assert all(r.ok for r in later), [(r.error_kind, r.message) for r in later]
        assert [r.png for r in later] == [clean[i % 2].png for i in range(len(later))]


def test_a_repeated_page_is_answered_with_the_same_pixels(browser: TableBrowser) -> None:
    first, again = _render(browser, LONG_TABLE), _render(browser, LONG_TABLE)
    other = _render(browser, HTML_TABLE)
    assert first.ok and again.ok and other.ok
    assert again.png == first.png and other.png != first.png
    assert _render(browser, LONG_TABLE).png == first.png  # rendered afresh after another page: still the same


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


def _process_tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo += [int(child) for child in task.read_text().split()]
    return found


def _status(pid: int, field: str) -> str:
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field + ":"))
    return line.split()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root process drops Chromium to another uid")
def test_a_root_processs_chromium_runs_as_its_own_uid_inside_its_own_sandbox() -> None:
    uid = 60_999 + BROWSER_UID_OFFSET
    browser = TableBrowser(timeout_s=10, uid=uid, javascript=True)  # scripts on: the case its sandbox is for
    try:
        result = _render(browser, HTML_TABLE)
        assert result.ok, result.message
        assert browser._browser_pid is not None
        tree = _process_tree(browser._browser_pid)
        assert {_status(pid, "Uid") for pid in tree} == {str(uid)}  # no Chromium process kept root
        renderers = [pid for pid in tree if b"--type=renderer" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert renderers
        if browser.own_sandbox:  # Chromium's seccomp-bpf (mode 2) on every renderer
            assert all(_status(pid, "Seccomp") == "2" for pid in renderers)
        else:
            assert any("own sandbox" in gap for gap in browser.protection_gaps())
    finally:
        browser.close()


# ICE gathering sends STUN binding requests (and TURN allocations) over UDP to the servers a page names: routing,
# the CSP and the proxy see only HTTP(S) and TCP. The script also writes what it found into the table.
WEBRTC = """<table><tr><td id="o">script did not run</td></tr></table><script>
const servers = [{urls: "stun:127.0.0.1:PORT"}, {urls: "turn:127.0.0.1:PORT?transport=udp", username: "u", credential: "p"},
                 {urls: "turn:127.0.0.1:TCP?transport=tcp", username: "u", credential: "p"}];
let said = "no RTCPeerConnection";
try {
  const pc = new RTCPeerConnection({iceServers: servers});
  pc.createDataChannel("x");
  pc.createOffer().then(offer => pc.setLocalDescription(offer));
  said = "peer connection made";
} catch (e) { said = "refused: " + e; }
document.getElementById("o").textContent = said;
</script>"""


def test_with_javascript_on_a_page_sends_no_udp(hit_counter: HitCounter) -> None:
    tcp_port = hit_counter.url.rsplit(":", 1)[1]
    not_run = '<table><tr><td id="o">script did not run</td></tr></table>'
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        page = WEBRTC.replace("PORT", str(listener.getsockname()[1])).replace("TCP", tcp_port)
        browser = TableBrowser(timeout_s=10, javascript=True)
        try:
            result = browser.render(RenderJob("table", page), page)
            assert result.ok, result.message
            deadline = time.monotonic() + 3.0  # ICE gathering starts within milliseconds of setLocalDescription
            received = []
            while (left := deadline - time.monotonic()) > 0 and select.select([listener], [], [], left)[0]:
                received.append(listener.recvfrom(4096))
            silent = browser.render(RenderJob("table", not_run), not_run)
        finally:
            browser.close()
    assert silent.ok and result.png != silent.png  # the script ran (and made its peer connection)
    assert received == []
    assert hit_counter.connections == 0  # nor TURN over TCP: that goes to the dead proxy


def test_the_proxy_is_an_address_nothing_else_can_listen_on() -> None:
    browser = TableBrowser(timeout_s=10)
    try:
        host, port = browser.proxy_address
        assert f"--proxy-server={host}:{port}" in browser.chromium_args()
        with socket.socket() as squatter, pytest.raises(OSError):
            squatter.bind((host, port))
        with socket.socket() as client, pytest.raises(ConnectionRefusedError):
            client.connect((host, port))
    finally:
        browser.close()
