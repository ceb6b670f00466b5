"""The hostile corpus: every attack ends as an error record (or a render without the forbidden part) within its
timeout, nothing is written outside the job's scratch dir, and the pool renders a normal chart right after."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from src.render import RenderJob, RenderPool
from tests.render.conftest import CALLER_SECRET, LINE_CHART, PAINT, HitCounter, pixels, verdict_colour

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\n"
HOSTILE = {
    "infinite_loop": ("while True:\n    pass\n", {"timeout"}),
    "sleep_forever": ("import time\ntime.sleep(3600)\n", {"timeout"}),
    "memory_bomb": ("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 1024 * 1024))\n", {"memory"}),
    "numpy_memory_bomb": ("import numpy as np\nx = np.ones((100000, 100000))\n", {"memory"}),
    "fork_bomb": ("import os\nwhile True:\n    os.fork()\n", {"forbidden"}),
    "subprocess": ("import subprocess\nsubprocess.run(['touch', '/tmp/verm_pwned'])\n", {"forbidden"}),
    "exec_shell": ("import os\nos.execv('/bin/sh', ['sh', '-c', 'touch /tmp/verm_pwned'])\n", {"forbidden"}),
    "write_tmp": ("open('/tmp/x_verm_test', 'w').write('pwned')\n", {"forbidden"}),
    "write_bashrc": (f"open({str(Path.home() / '.bashrc')!r}, 'a').write('echo pwned')\n", {"forbidden"}),
    "read_passwd_into_title": (
        PLOT + "plt.title(open('/etc/passwd').read().splitlines()[0])\n",
        {"forbidden"},
    ),
    "sys_exit": (PLOT + "import sys\nsys.exit(0)\n", {"runtime"}),
    "os_exit": (PLOT + "import os\nos._exit(0)\n", {"crashed"}),
    "segfault": ("import ctypes\nctypes.string_at(0)\n", {"crashed"}),
    "kill_worker": ("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", {"forbidden"}),
    "thread_fork_bomb": (
        "import threading\nfor _ in range(100000):\n    threading.Thread(target=lambda: None).start()\n",
        {"memory", "runtime", "timeout"},
    ),
}


# Filling 768 MiB takes ~0.3 s here, idle or busy, but once took over 3 s in a fresh-clone CI run (first-touch page
# faults on a VM can be that slow): these jobs get time enough that only the memory cap can end them.
FILLS_MEMORY = {"memory_bomb"}


@pytest.fixture(scope="module")
def roomy_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RenderPool]:
    scratch = tmp_path_factory.mktemp("roomy-scratch")
    with RenderPool(workers=1, timeout_s=30, memory_mb=768, scratch_dir=str(scratch), worker_grace_s=2) as p:
        p.scratch_root = scratch  # type: ignore[attr-defined]
        yield p


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_chart_code_is_contained(request: pytest.FixtureRequest, name: str) -> None:
    pool: RenderPool = request.getfixturevalue("roomy_pool" if name in FILLS_MEMORY else "pool")
    code, kinds = HOSTILE[name]
    before_bashrc = _stat(Path.home() / ".bashrc")
    start = time.perf_counter()
    attack, after = pool.render([RenderJob("chart", code), RenderJob("chart", LINE_CHART)])
    elapsed = time.perf_counter() - start
    assert not attack.ok and attack.error_kind in kinds, (attack.error_kind, attack.message)
    assert elapsed < pool.timeout_s + 3
    assert after.ok, after.message
    assert not Path("/tmp/x_verm_test").exists() and not Path("/tmp/verm_pwned").exists()
    assert _stat(Path.home() / ".bashrc") == before_bashrc
    _assert_scratch_clean(pool)


def _assert_scratch_clean(pool: RenderPool) -> None:
    """Only the preforked children's scratch dirs remain (one chart and one SVG child per worker, waiting for a
    job), and they are empty."""
    left = list(pool.scratch_root.glob("*/verm-job-*"))  # type: ignore[attr-defined]
    assert len(left) <= 2 * pool.workers, left
    assert all(not any(d.iterdir()) for d in left), left


def _stat(path: Path) -> tuple[int, float] | None:
    return (path.stat().st_size, path.stat().st_mtime) if path.exists() else None


def test_os_system_runs_nothing_and_the_chart_still_renders(pool: RenderPool) -> None:
    code = PLOT + "import os\nstatus = os.system('touch /tmp/verm_pwned')\nplt.title(f'status {status}')\n"
    (result,) = pool.render([RenderJob("chart", code)])
    assert result.ok  # os.system returns -1 instead of raising; the command never ran
    assert not Path("/tmp/verm_pwned").exists()


def test_socket_to_localhost_never_connects(pool: RenderPool, hit_counter: HitCounter) -> None:
    port = hit_counter.server.server_address[1]
    attempts = [
        f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\ns.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n')\n",
        f"import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=1).read()\n",
        PLOT
        + f"import urllib.request\ntry:\n    urllib.request.urlopen('http://127.0.0.1:{port}/', timeout=1)\nexcept Exception:\n    pass\n",
    ]
    results = pool.render([RenderJob("chart", code) for code in attempts])
    assert [r.error_kind for r in results[:2]] == ["forbidden", "forbidden"], [r.message for r in results]
    assert results[2].ok  # the code swallowed the refusal; the chart renders without the network
    time.sleep(0.2)
    assert hit_counter.connections == 0 and hit_counter.hits == 0


def test_large_figure_is_drawn_smaller_and_an_absurd_one_refused(pool: RenderPool) -> None:
    code = "import matplotlib.pyplot as plt\nfig = plt.figure(figsize=({}))\nplt.plot([0, 1], [0, 1])\nplt.title('t')\n"
    large, absurd = pool.render(
        [RenderJob("chart", code.format("60, 30")), RenderJob("chart", code.format("2000, 1000"))]
    )
    assert large.ok, large.message
    assert pixels(large.png).shape[:2] == (512, 1024)
    assert absurd.error_kind == "runtime" and "too large" in absurd.message


def test_results_keep_job_order_across_workers(pool: RenderPool) -> None:
    jobs = [RenderJob("chart", PLOT + f"plt.title('{i}')\n" + ("x = (" if i % 3 == 0 else "")) for i in range(9)]
    results = pool.render(jobs)
    assert [r.error_kind for r in results] == ["syntax" if i % 3 == 0 else None for i in range(9)]


def test_a_killed_worker_is_replaced_and_the_pool_goes_on(pool: RenderPool) -> None:
    replaced = pool.replaced
    for pid in pool.worker_pids():
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    results = pool.render([RenderJob("chart", LINE_CHART)] * 3)
    assert all(r.ok for r in results), [r.message for r in results]
    assert pool.replaced == replaced + 2


def test_a_hung_worker_is_killed_at_the_backstop_and_replaced(pool: RenderPool) -> None:
    victim = pool.worker_pids()[0]
    os.kill(victim, signal.SIGSTOP)  # a worker stuck where no in-worker timeout can reach
    start = time.perf_counter()
    results = pool.render([RenderJob("chart", LINE_CHART)] * 4)
    assert time.perf_counter() - start < pool.timeout_s + pool.worker_grace_s + 10
    kinds = [r.error_kind for r in results]
    assert kinds.count("timeout") == 1 and kinds.count(None) == 3, [r.message for r in results]
    assert victim not in pool.worker_pids()
    assert len(list(pool.scratch_root.glob("verm-worker-*"))) == pool.workers  # type: ignore[attr-defined]
    assert all(r.ok for r in pool.render([RenderJob("chart", LINE_CHART)] * 2))


def test_pool_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="workers"):
        RenderPool(workers=0)
    with pytest.raises(ValueError, match="memory_mb"):
        RenderPool(memory_mb=10)


# --- issue 12: each attack paints red when it got through, blue when it failed ---------------------------------


def test_caller_secrets_reach_neither_workers_nor_jobs(lone_pool: RenderPool) -> None:
    probe = f"""
import contextlib
import os
evidence = [os.environ.get("HF_TOKEN", "")]
for path in ["/proc/self/environ", f"/proc/{{os.getppid()}}/environ", "/proc/{os.getpid()}/environ", "/proc/1/environ"]:
    try:
        evidence.append(open(path, "rb").read().decode("latin-1"))
    except OSError:
        pass
leaked = any("{CALLER_SECRET}" in text for text in evidence)
"""
    (result,) = lone_pool.render([RenderJob("chart", probe + PAINT)])
    assert result.ok, result.message
    assert verdict_colour(result.png) == "blue"
    for pid in lone_pool.worker_pids():
        assert CALLER_SECRET.encode() not in Path(f"/proc/{pid}/environ").read_bytes()
        assert b"PATH=" in Path(f"/proc/{pid}/environ").read_bytes()  # the allow-list still passes what is needed


def test_a_job_cannot_touch_the_limits_or_priority_of_other_processes(lone_pool: RenderPool) -> None:
    import resource

    pool_pid = os.getpid()  # guessable: the attack is handed it
    before = (resource.getrlimit(resource.RLIMIT_NOFILE), os.getpriority(os.PRIO_PROCESS, 0))
    probe = f"""
import os, resource
evidence = []
for pid in (os.getppid(), {pool_pid}, {lone_pool.worker_pids()[0]}):
    for name, attack in [
        ("prlimit", lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (1, 1))),
        ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, pid, 19)),
        ("affinity", lambda: os.sched_setaffinity(pid, {{0}})),
        ("kill", lambda: os.kill(pid, 0)),
    ]:
        try:
            attack()
            evidence.append((name, pid))
        except OSError:
            pass
leaked = bool(evidence)
"""
    replaced = lone_pool.replaced
    results = lone_pool.render([RenderJob("chart", probe + PAINT)] + [RenderJob("chart", LINE_CHART)] * 3)
    assert results[0].ok and verdict_colour(results[0].png) == "blue"
    assert all(r.ok for r in results[1:]), [r.message for r in results]
    assert (resource.getrlimit(resource.RLIMIT_NOFILE), os.getpriority(os.PRIO_PROCESS, 0)) == before
    assert lone_pool.replaced == replaced  # nothing was damaged, so nothing needed replacing


def test_memory_outside_the_address_space_cap_cannot_be_taken(lone_pool: RenderPool) -> None:
    probe = """
import ctypes, os
evidence = {}
def tally(name, attempt):
    got = 0
    try:
        for _ in range(24):
            got += attempt()
    except (OSError, ValueError):
        pass
    evidence[name] = got >> 20

def memfd():
    fd = os.memfd_create("bomb")
    os.posix_fallocate(fd, 0, 64 << 20)
    return 64 << 20

def dev_shm():
    from multiprocessing import shared_memory
    shared_memory.SharedMemory(create=True, size=64 << 20)
    return 64 << 20

libc = ctypes.CDLL(None, use_errno=True)
def sysv_shm():
    if libc.shmget(0, 64 << 20, 0o1600) < 0:
        raise OSError(ctypes.get_errno(), "shmget")
    return 64 << 20

def pipe():
    r, w = os.pipe()
    import fcntl
    return fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: up to 1 MiB of kernel memory per pipe

for name, attempt in [("memfd", memfd), ("dev_shm", dev_shm), ("sysv_shm", sysv_shm), ("pipes", pipe)]:
    tally(name, attempt)
leaked = sum(evidence.values()) > 64
"""
    (result,) = lone_pool.render([RenderJob("chart", probe + PAINT)])
    assert result.ok, result.message
    assert verdict_colour(result.png) == "blue"


def test_total_disk_writes_are_bounded_and_vanish_with_the_job(lone_pool: RenderPool) -> None:
    probe = """
written = 0
try:
    for i in range(32):
        with open(f"fill{i}.bin", "wb") as f:
            for _ in range(64):
                f.write(bytes(1 << 20))
                written += 1 << 20
except OSError:
    pass
evidence = written >> 20
leaked = written > 80 << 20  # the default scratch is 64 MiB in total
"""
    start = time.perf_counter()
    (result,) = lone_pool.render([RenderJob("chart", probe + PAINT)])
    assert result.ok, result.message
    assert verdict_colour(result.png) == "blue"
    assert time.perf_counter() - start < lone_pool.timeout_s
    _assert_scratch_clean(lone_pool)


def test_missing_protections_are_logged_once_at_start(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from src.render.worker import missing_protections

    weak = {"landlock_abi": 0, "seccomp": False, "netns": False, "scratch_tmpfs": False, "separate_uid": False}
    lines = missing_protections(weak)
    assert any("seccomp" in line for line in lines) and any("tmpfs" in line for line in lines)
    assert any("thread/process cap" in line for line in lines)
    strong = {**weak, "landlock_abi": 6, "seccomp": True, "netns": True, "scratch_tmpfs": True, "separate_uid": True,
              "task_limit": 32}  # fmt: skip
    assert missing_protections(strong) == []
    with (
        caplog.at_level(logging.INFO, logger="src.render.pool"),
        RenderPool(workers=1, timeout_s=5, scratch_dir=str(tmp_path)) as fresh,
    ):
        first = [r.getMessage() for r in caplog.records if "render sandbox" in r.getMessage()]
        for pid in fresh.worker_pids():
            os.kill(pid, signal.SIGKILL)
        assert fresh.render([RenderJob("chart", LINE_CHART)])[0].ok  # a replacement starts: no new log lines
        again = [r.getMessage() for r in caplog.records if "render sandbox" in r.getMessage()]
    assert first and again == first


# Starts threads until the kernel refuses one (or 1000 are up): a job's threads are tasks of the host's pid table.
THREAD_BOMB = """
import threading
threading.stack_size(64 << 10)
gate = threading.Event()
started = 0
try:
    while started < 1000:
        threading.Thread(target=gate.wait, daemon=True).start()
        started += 1
except RuntimeError:
    pass
gate.set()
evidence = started
leaked = started >= 256
"""


def test_a_thread_bomb_is_held_to_a_few_dozen_tasks(lone_pool: RenderPool) -> None:
    result = lone_pool.render([RenderJob("chart", THREAD_BOMB + PAINT)])[0]
    assert result.ok, result.message
    assert verdict_colour(result.png) == "blue"
    after = lone_pool.render([RenderJob("chart", LINE_CHART)])[0]  # the next job on the same slot still starts
    assert after.ok, after.message


def _job_uids(worker_pid: int) -> set[int]:
    """Uids of the worker's grandchildren: the sandboxed jobs (preforked ones wait for work under their uid)."""
    uids = set()
    for template in Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split():
        for job in Path(f"/proc/{template}/task/{template}/children").read_text().split():
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{job}/status").read_text()
                uids.add(int(next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1]))
    return uids


def _settled_job_uids(worker_pid: int, timeout_s: float = 5.0) -> set[int]:
    """``_job_uids`` once no child is still root: a child just forked from its template is root for the moment before
    it drops to its job uid, which it does before it reads a job. A child root for seconds is returned as found."""
    deadline = time.monotonic() + timeout_s
    while True:
        uids = _job_uids(worker_pid)
        if (uids and 0 not in uids) or time.monotonic() > deadline:
            return uids
        time.sleep(0.05)


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root pool gives its jobs uids of their own")
def test_two_pools_never_share_a_job_uid(lone_pool: RenderPool, tmp_path: Path) -> None:
    with RenderPool(workers=1, timeout_s=5, memory_mb=768, scratch_dir=str(tmp_path)) as other:
        ours, theirs = _settled_job_uids(lone_pool.worker_pids()[0]), _settled_job_uids(other.worker_pids()[0])
    assert ours and theirs and 0 not in ours | theirs
    assert not ours & theirs
