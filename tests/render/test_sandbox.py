"""The sandbox's layers, applied in a forked child of the test process."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from src.render.sandbox import apply_sandbox, landlock_abi, seccomp_program


def _in_sandboxed_child(probe: str, force_fallback: bool) -> int:
    """Fork, sandbox, run ``probe`` (Python source that must set ``ok``); the child's exit code says what happened."""
    scratch = tempfile.mkdtemp()
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            apply_sandbox(scratch, memory_mb=1 << 20, cpu_s=10, force_fallback=force_fallback)
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


def test_seccomp_program_is_well_formed() -> None:
    prog = seccomp_program()
    assert len(prog) < 4096  # the kernel's BPF_MAXINSNS
    for index, (code, jt, jf, _) in enumerate(prog):
        if code & 0x07 == 0x05:  # BPF_JMP: both targets must land inside the program
            assert index + 1 + max(jt, jf) < len(prog)
    assert prog[-1] == (0x06, 0, 0, 0x7FFF0000)  # default: allow
