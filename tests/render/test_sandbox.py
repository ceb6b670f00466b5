"""The sandbox's layers, applied in a forked child of the test process."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from src.render.sandbox import apply_sandbox, close_inherited_descriptors, landlock_abi, seccomp_program


def _in_sandboxed_child(probe: str, force_fallback: bool, **options: object) -> int:
    """Fork, sandbox, run ``probe`` (Python source that must set ``ok``); the child's exit code says what happened."""
    scratch = tempfile.mkdtemp()
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            close_inherited_descriptors(keep=())  # as the pool's children do: pytest's own files are not the job's
            apply_sandbox(scratch, memory_mb=1 << 20, cpu_s=10, force_fallback=force_fallback, **options)  # type: ignore[arg-type]
            scope: dict = {"scratch": scratch}
            exec(probe, scope)
            code = 0 if scope["ok"] else 1
        except BaseException:  # noqa: BLE001 - the exit code is the report
            code = 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    shutil.rmtree(scratch)
    return os.waitstatus_to_exitcode(status)


PROBES = {
    "passwd_unreadable": "try:\n    open('/etc/passwd').read(); ok = False\nexcept PermissionError:\n    ok = True",
    "tmp_unwritable": "try:\n    open('/tmp/verm_sandbox_probe', 'w'); ok = False\nexcept PermissionError:\n    ok = True",
    "scratch_writable": "open(scratch + '/out.png', 'w').write('x')\nok = open(scratch + '/out.png').read() == 'x'",
    "no_fork": "import os\ntry:\n    os.fork(); ok = False\nexcept PermissionError:\n    ok = True",
    "no_subprocess": "import subprocess\ntry:\n    subprocess.run(['true']); ok = False\nexcept PermissionError:\n    ok = True",
    "stdlib_imports": "import json, decimal, email.parser\nok = True",
}


@pytest.mark.skipif(landlock_abi() == 0, reason="kernel without Landlock")
@pytest.mark.parametrize("name", sorted(PROBES))
def test_kernel_layers(name: str) -> None:
    assert _in_sandboxed_child(PROBES[name], force_fallback=False) == 0
    assert not os.path.exists("/tmp/verm_sandbox_probe")


@pytest.mark.parametrize("name", sorted(PROBES))
def test_audit_hook_fallback(name: str) -> None:
    assert _in_sandboxed_child(PROBES[name], force_fallback=True) == 0
    assert not os.path.exists("/tmp/verm_sandbox_probe")


# Each probe sets ``ok`` only when the attack of issue 12 failed; run with the kernel layers.
ESCAPES = {
    "memfd_refused": "import os\ntry:\n    os.memfd_create('x'); ok = False\nexcept PermissionError:\n    ok = True",
    "sysv_shm_refused": (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "ok = libc.shmget(0, 64 << 20, 0o1600) == -1 and ctypes.get_errno() == 1"
    ),
    "dev_shm_refused": (
        "from multiprocessing import shared_memory\n"
        "try:\n    shared_memory.SharedMemory(create=True, size=64 << 20); ok = False\nexcept OSError:\n    ok = True"
    ),
    "prlimit_on_parent_refused": (
        "import os, resource\n"
        "try:\n    resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (1, 1)); ok = False\n"
        "except PermissionError:\n    ok = True"
    ),
    "prlimit_on_self_allowed": (
        "import os, resource\nsoft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.prlimit(0, resource.RLIMIT_NOFILE, (soft - 1, hard))\n"
        "resource.prlimit(os.getpid(), resource.RLIMIT_NOFILE, (soft - 2, hard))\n"
        "ok = resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft - 2"
    ),
    "setpriority_on_parent_refused": (
        "import os\ntry:\n    os.setpriority(os.PRIO_PROCESS, os.getppid(), 19); ok = False\n"
        "except PermissionError:\n    ok = True"
    ),
    "scratch_total_bounded": (
        "written = 0\n"
        "try:\n"
        "    for i in range(8):\n"
        "        with open(f'{scratch}/f{i}', 'wb') as f:\n"
        "            for _ in range(16):\n"
        "                f.write(bytes(1 << 20)); written += 1 << 20\n"
        "except OSError:\n    pass\n"
        "ok = 16 << 20 <= written <= 33 << 20"  # 32 MiB scratch: the first files fit, the total does not
    ),
    "open_files_bounded": (
        "import os\npipes = []\ntry:\n    for _ in range(1000):\n        pipes.append(os.pipe())\n"
        "except OSError:\n    pass\nok = 0 < len(pipes) < 100"
    ),
}


@pytest.mark.skipif(landlock_abi() == 0, reason="kernel without Landlock")
@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escapes_fail_under_the_kernel_layers(name: str) -> None:
    assert _in_sandboxed_child(ESCAPES[name], force_fallback=False, scratch_mb=32) == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another uid needs root")
def test_root_child_runs_as_the_given_uid_without_groups_or_powers() -> None:
    probe = (
        "import os, resource\n"
        "ok = os.getuid() == os.geteuid() == os.getgid() == 61999 and os.getgroups() == []\n"
        "try:\n    resource.prlimit(1, resource.RLIMIT_NOFILE); ok = False\nexcept PermissionError:\n    pass\n"
        "try:\n    open('/proc/1/environ', 'rb').read(); ok = False\nexcept OSError:\n    pass\n"
        "import json\nok = ok and json.loads('[1]') == [1]"  # the interpreter still reads its own files
    )
    assert _in_sandboxed_child(probe, force_fallback=False, uid=61999, keep_read_search=True) == 0


def test_fallback_refuses_prlimit_on_other_processes() -> None:
    assert _in_sandboxed_child(ESCAPES["prlimit_on_parent_refused"], force_fallback=True) == 0


def test_seccomp_program_is_well_formed() -> None:
    prog = seccomp_program()
    assert len(prog) < 4096  # the kernel's BPF_MAXINSNS
    for index, (code, jt, jf, _) in enumerate(prog):
        if code & 0x07 == 0x05:  # BPF_JMP: both targets must land inside the program
            assert index + 1 + max(jt, jf) < len(prog)
    assert prog[-1] == (0x06, 0, 0, 0x7FFF0000)  # default: allow


@pytest.mark.skipif(os.geteuid() != 0 or landlock_abi() == 0, reason="simulates a non-root pool from root")
def test_a_non_root_pool_gets_its_namespaces_and_scratch_tmpfs_from_a_user_namespace() -> None:
    import ctypes
    import json

    from src.render.sandbox import default_read_paths

    read_paths = default_read_paths()
    scratch = tempfile.mkdtemp()
    os.chmod(scratch, 0o777)
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.setgroups([])
            os.setresgid(65534, 65534, 65534)
            os.setresuid(65534, 65534, 65534)
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE, as a process started by that user has it
            report = apply_sandbox(scratch, memory_mb=1 << 20, cpu_s=10, read_paths=read_paths, scratch_mb=8)
            written = 0
            try:
                for i in range(4):
                    with open(f"f{i}", "wb") as handle:
                        handle.write(bytes(4 << 20))
                    written += 4 << 20
            except OSError:
                pass
            os.write(report_w, json.dumps({**report.as_dict(), "written": written}).encode())
        finally:
            os._exit(0)
    os.close(report_w)
    os.waitpid(pid, 0)
    seen = json.loads(os.read(report_r, 4096) or b"{}")
    os.close(report_r)
    leftover = os.listdir(scratch)
    shutil.rmtree(scratch)
    if not seen.get("userns"):
        pytest.skip(f"no unprivileged user namespaces here: {seen.get('notes')}")
    assert seen["netns"] and seen["ipcns"] and seen["scratch_tmpfs"] and seen["seccomp"], seen
    assert seen["written"] == 8 << 20  # two 4 MiB files fill the 8 MiB tmpfs; the third is refused
    assert leftover == []  # the files lived in the child's tmpfs only
