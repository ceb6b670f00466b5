"""The clean template: no job sees an earlier job's data, and a worker whose state was damaged is replaced."""

from __future__ import annotations

import os
import resource
import secrets
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from src.render import RenderJob, RenderPool
from tests.render.conftest import LINE_CHART, PAINT, verdict_colour

# Looks for any "PREV-" followed by 16 hex digits in everything the job can reach: live objects, the frames that
# called it, and its own memory. Its own source holds no such string (the pattern text does not match itself).
SCAVENGER = r"""
import gc, re, sys
pattern = re.compile(r"PREV-[0-9a-f]{16}")
found = set()
for obj in gc.get_objects():
    if isinstance(obj, dict):
        values = list(obj.values())
    elif isinstance(obj, (list, tuple)):
        values = list(obj)
    else:
        values = [obj]
    for value in values:
        if isinstance(value, (str, bytes, bytearray)) and len(value) < 1 << 24:
            text = value if isinstance(value, str) else bytes(value).decode("latin-1")
            found.update(pattern.findall(text))
frame = sys._getframe()
while frame is not None:
    for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
        if isinstance(value, (str, bytes)):
            found.update(pattern.findall(value if isinstance(value, str) else value.decode("latin-1")))
    frame = frame.f_back
try:
    with open("/proc/self/maps") as maps, open("/proc/self/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if "r" not in perms:
                continue
            lo, hi = (int(x, 16) for x in span.split("-"))
            if hi - lo > 1 << 28:
                continue
            try:
                mem.seek(lo)
                found.update(m.decode() for m in re.findall(rb"PREV-[0-9a-f]{16}", mem.read(hi - lo)))
            except (OSError, ValueError, OverflowError):
                pass
except OSError:
    pass  # /proc/self/mem is closed to a process that changed uid
"""


def test_a_job_finds_no_trace_of_earlier_jobs(lone_pool: RenderPool) -> None:
    chart_marker, svg_marker = f"PREV-{secrets.token_hex(8)}", f"PREV-{secrets.token_hex(8)}"
    earlier = [
        RenderJob("chart", LINE_CHART + f"plt.title({chart_marker!r})\n"),
        RenderJob(
            "svg",
            f'<svg xmlns="http://www.w3.org/2000/svg" width="90" height="20"><text y="15">{svg_marker}</text></svg>',
        ),  # fmt: skip
    ]
    scavenge = RenderJob("chart", SCAVENGER + "evidence = sorted(found)\nleaked = bool(found)\n" + PAINT)
    # The scanner itself works: a marker this job holds is found (and paints red).
    planted = RenderJob("chart", "planted = 'PREV-' + '0123456789abcdef'\n" + scavenge.source)
    results = lone_pool.render([*earlier, scavenge, planted])
    assert all(r.ok for r in results), [r.message for r in results]
    assert verdict_colour(results[2].png) == "blue"  # one worker: both earlier jobs ran where this one runs
    assert verdict_colour(results[3].png) == "red"


def _template_pid(worker_pid: int) -> int:
    """The worker's child running the same command line as the worker: the forked template."""
    command = Path(f"/proc/{worker_pid}/cmdline").read_bytes()
    for child in Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split():
        if Path(f"/proc/{child}/cmdline").read_bytes() == command:
            return int(child)
    raise AssertionError("the worker has no template process")


def test_a_worker_whose_limits_were_changed_is_replaced(lone_pool: RenderPool) -> None:
    (victim,) = lone_pool.worker_pids()
    replaced = lone_pool.replaced
    soft, hard = resource.prlimit(victim, resource.RLIMIT_NOFILE)
    resource.prlimit(victim, resource.RLIMIT_NOFILE, (soft - 1, hard))  # what a job could once do to its worker
    results = lone_pool.render([RenderJob("chart", LINE_CHART)] * 3)
    assert all(r.ok for r in results), [r.message for r in results]
    assert lone_pool.replaced == replaced + 1
    assert lone_pool.worker_pids() != [victim]


def test_a_worker_whose_template_died_is_replaced(lone_pool: RenderPool) -> None:
    (worker,) = lone_pool.worker_pids()
    replaced = lone_pool.replaced
    os.kill(_template_pid(worker), signal.SIGKILL)
    first, *rest = lone_pool.render([RenderJob("chart", LINE_CHART)] * 3)
    assert first.error_kind in {None, "crashed"}, first.message  # the job in flight may be lost, never hung
    assert all(r.ok for r in rest), [r.message for r in rest]
    assert lone_pool.replaced == replaced + 1


def test_jobs_run_outside_the_callers_network_namespace(lone_pool: RenderPool) -> None:
    """Root pools share one empty namespace per template (made once, not per job); either way, never the caller's."""
    ours = os.readlink("/proc/self/ns/net")
    probe = f"import os\nevidence = os.readlink('/proc/self/ns/net')\nleaked = evidence == {ours!r}\n" + PAINT
    result = lone_pool.render([RenderJob("chart", probe)])[0]
    assert result.ok, result.message
    assert verdict_colour(result.png) == "blue"


# A job that writes its own result frame into the pipe the worker reads, renames itself (so the test can find it in
# /proc), clears its parent-death signal and sleeps: what a job that wants to outlive its pool would do.
FORGER = r"""
import ctypes, fcntl, os, stat, struct, time
libc = ctypes.CDLL(None)
libc.prctl(15, NAME.encode(), 0, 0, 0)  # PR_SET_NAME
libc.prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG 0: no signal when the template dies
for entry in os.listdir("/proc/self/fd"):
    fd = int(entry)
    try:
        if HEADER and stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
            os.write(fd, b"VERM" + struct.pack("<I", len(HEADER)) + HEADER)
    except OSError:
        pass
time.sleep(SLEEP)
"""
FORGED_HEADERS = {
    "infinite_width": b'{"status": "ok", "width": Infinity, "height": 1}',
    "huge_width": b'{"status": "ok", "width": 1e400, "height": 1}',
    "deep_json": b'{"status": "ok", "width": 1, "height": 1, "x": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    "nan_kind": b'{"status": "error", "kind": NaN, "message": "x"}',
    "oversized_header": b"{" + b" " * 70_000 + b"}",
}


def _named_processes(name: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue  # exited while we looked
    return found


def _gone_within(name: str, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := _named_processes(name)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _forger(name: str, header: bytes, sleep_s: float = 30) -> RenderJob:
    return RenderJob("chart", f"NAME = {name!r}\nHEADER = {header!r}\nSLEEP = {sleep_s}\n" + FORGER)


@pytest.mark.parametrize("kind", sorted(FORGED_HEADERS))
def test_a_job_that_forges_its_result_frame_is_killed_and_refused(lone_pool: RenderPool, kind: str) -> None:
    name = f"vf{secrets.token_hex(6)}"
    start = time.monotonic()
    result = lone_pool.render([_forger(name, FORGED_HEADERS[kind])])[0]
    assert not result.ok and result.error_kind == "forbidden", (result.error_kind, result.message)
    assert time.monotonic() - start < lone_pool.timeout_s  # refused when the frame came in, not at the deadline
    assert _gone_within(name, 2.0) == []  # killed, not left sleeping with its memory
    after = lone_pool.render([RenderJob("chart", LINE_CHART)])[0]
    assert after.ok, after.message


def test_a_job_dies_with_its_worker_even_after_clearing_its_parent_death_signal(tmp_path: Path) -> None:
    name = f"vs{secrets.token_hex(6)}"
    sleeper = _forger(name, b"")  # writes no frame: it only sleeps
    with RenderPool(workers=1, timeout_s=4, memory_mb=768, scratch_dir=str(tmp_path), worker_grace_s=2) as pool:
        (worker,) = pool.worker_pids()
        with ThreadPoolExecutor(1) as executor:
            pending = executor.submit(pool.render, [sleeper])
            deadline = time.monotonic() + 10
            while not _named_processes(name):
                assert time.monotonic() < deadline, "the sleeper never started"
                time.sleep(0.05)
            os.kill(worker, signal.SIGKILL)  # a worker lost mid-job: nobody is left to kill its job
            pending.result()
        survivors = _gone_within(name, 3.0)
    assert survivors == []


def test_the_health_check_counts_the_templates_live_children(tmp_path: Path) -> None:
    from src.render.sandboxed_jobs import SandboxedJobs

    jobs = SandboxedJobs(timeout_s=5, memory_mb=768, scratch_root=str(tmp_path), uid=None)
    try:
        assert jobs.healthy() is None
        lost = jobs.chart_zygote.take(time.perf_counter() + 10)  # a child the worker took and then lost track of
        os.close(lost.pidfd)
        assert "children" in (jobs.healthy() or "")
    finally:
        jobs.close()
