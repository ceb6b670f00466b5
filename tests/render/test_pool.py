"""The hostile corpus: every attack ends as an error record (or a render without the forbidden part) within its
timeout, nothing is written outside the job's scratch dir, and the pool renders a normal chart right after."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from src.render import RenderJob, RenderPool
from tests.render.conftest import LINE_CHART, HitCounter, pixels

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


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_chart_code_is_contained(pool: RenderPool, name: str) -> None:
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
    """Only the preforked children's scratch dirs remain (one per worker, waiting for a job), and they are empty."""
    left = list(pool.scratch_root.glob("*/verm-job-*"))  # type: ignore[attr-defined]
    assert len(left) <= pool.workers, left
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
