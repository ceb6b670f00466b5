"""Kernel-enforced limits for one untrusted chart job, applied inside the forked child that runs it.

Why these layers (measured on the CI kernel 6.18, running as root):
- **Network**: ``unshare(CLONE_NEWNET)`` (~1 ms) leaves the child with only a downed loopback, and seccomp refuses
  ``socket``/``socketpair`` anyway, so no packet can leave and nothing on 127.0.0.1 can be reached.
- **Files**: Landlock (unprivileged LSM, ABI >= 1) allows reads only beneath Python's prefixes, matplotlib's data
  and cache dirs and the system's shared libraries, fonts and data (``/usr``, ``/etc/fonts``), and writes only
  beneath the per-job scratch dir: ``/etc/passwd`` and ``~/.bashrc`` are unreadable and unwritable. On ABI >= 4
  TCP bind/connect are denied too; on ABI >= 6 signals and abstract UNIX sockets outside the child are denied, so
  the code cannot kill its worker.
- **Processes**: root ignores ``RLIMIT_NPROC``, so a seccomp filter denies ``fork``/``vfork``, ``clone`` without
  ``CLONE_THREAD`` (threads stay allowed: numpy may start one), ``execve``/``execveat`` with EPERM, and ``clone3``
  with ENOSYS so glibc falls back to the inspectable ``clone``. It also refuses the syscalls a root process could
  use to escape (mount, namespaces, ptrace, module loading, bpf, ``open_by_handle_at`` ...). The denials surface in
  Python as ``PermissionError``, which the child reports as ``forbidden``; ``os.system`` just returns -1.
- **Capabilities** are dropped to none, so the child keeps uid 0 for file ownership checks but no root powers.
- **Resources**: ``RLIMIT_AS`` (address space, MemoryError instead of swapping the machine), ``RLIMIT_CPU`` (a busy
  loop gets SIGXCPU even if the parent's wall clock misses it), ``RLIMIT_FSIZE`` (no disk filling inside scratch),
  ``RLIMIT_CORE=0``.

Fallback: where Landlock or seccomp is unavailable (older kernels, non-x86_64, containers that filter the syscalls)
``apply_sandbox`` installs a ``sys.addaudithook`` that refuses process creation, sockets, ctypes and file access
outside the same allow-lists. Audit hooks are a speed bump, not a wall (C extensions bypass them), so
``SandboxReport.kernel_enforced`` says which one a worker got and the pool logs it once.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import signal
import site
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctypes import _CArgObject, _CData  # typeshed-only names for what a foreign function accepts

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2

# x86_64 syscall numbers. Other architectures take the audit-hook fallback (documented above).
_X86_64 = {
    "landlock_create_ruleset": 444,
    "landlock_add_rule": 445,
    "landlock_restrict_self": 446,
    "capset": 126,
    "clone": 56,
    "clone3": 435,
}
_DENIED_X86_64 = {
    "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "socket": 41, "socketpair": 53, "ptrace": 101,
    "process_vm_readv": 310, "process_vm_writev": 311, "mount": 165, "umount2": 166, "pivot_root": 155,
    "chroot": 161, "unshare": 272, "setns": 308, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
    "finit_module": 313, "delete_module": 176, "reboot": 169, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249, "swapon": 167, "swapoff": 168,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "io_uring_setup": 425, "mount_setattr": 442,
    "fsopen": 430, "fsmount": 432, "move_mount": 429, "open_tree": 428, "setuid": 105, "setgid": 106,
    "setreuid": 113, "setregid": 114, "setresuid": 117, "setresgid": 119, "setfsuid": 122, "setfsgid": 123,
}  # fmt: skip
AUDIT_ARCH_X86_64 = 0xC000003E

# Landlock filesystem rights (include/uapi/linux/landlock.h).
LL_EXECUTE, LL_WRITE_FILE, LL_READ_FILE, LL_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
LL_TRUNCATE, LL_IOCTL_DEV = 1 << 14, 1 << 15
_LL_FILE_RIGHTS = LL_EXECUTE | LL_WRITE_FILE | LL_READ_FILE | LL_TRUNCATE | LL_IOCTL_DEV
_LL_READ = LL_EXECUTE | LL_READ_FILE | LL_READ_DIR
LL_NET_BIND_TCP, LL_NET_CONNECT_TCP = 1 << 0, 1 << 1
LL_SCOPE_ABSTRACT_UNIX, LL_SCOPE_SIGNAL = 1 << 0, 1 << 1


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


class SandboxError(OSError):
    """A kernel layer that should have been available could not be applied; the job must not run."""


@dataclass
class SandboxReport:
    """Which layers a child got; a worker reports it once so the pool can tell kernel walls from the fallback."""

    landlock_abi: int = 0
    seccomp: bool = False
    netns: bool = False
    audit_hook: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def kernel_enforced(self) -> bool:
        return self.landlock_abi > 0 and self.seccomp


def _syscall(name: str, *args: int | None | _CData | _CArgObject) -> int:
    ret = _libc.syscall(_X86_64[name], *args)
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return ret


def _is_x86_64() -> bool:
    return platform.machine() in ("x86_64", "AMD64") and sys.maxsize > 2**32


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when Landlock is missing or disabled."""
    if not _is_x86_64():
        return 0
    ret = _libc.syscall(_X86_64["landlock_create_ruleset"], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(int(ret), 0)


def default_read_paths() -> list[str]:
    """What matplotlib/numpy code legitimately reads: Python, its packages, fonts, shared libraries."""
    import matplotlib

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, matplotlib.get_data_path()}
    paths.update(site.getsitepackages())
    paths.add(os.path.dirname(os.__file__))  # the stdlib, wherever this interpreter keeps it
    paths.add(matplotlib.get_cachedir())
    paths.update(["/usr/share", "/usr/lib", "/usr/lib64", "/usr/local/lib", "/lib", "/lib64", "/etc/fonts"])
    paths.update(["/etc/ld.so.cache", "/etc/localtime", "/dev/null", "/dev/urandom", "/proc/self"])
    return sorted(p for p in paths if p and os.path.exists(p))


def _landlock(read_paths: Iterable[str], write_paths: Iterable[str], abi: int) -> None:
    handled_fs = (1 << 13) - 1  # ABI 1: every right up to MAKE_SYM
    if abi >= 2:
        handled_fs |= 1 << 13  # REFER
    if abi >= 3:
        handled_fs |= LL_TRUNCATE
    if abi >= 5:
        handled_fs |= LL_IOCTL_DEV
    handled_net = (LL_NET_BIND_TCP | LL_NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL) if abi >= 6 else 0
    attr_size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    attr = ctypes.create_string_buffer(struct.pack("<QQQ", handled_fs, handled_net, scoped)[:attr_size], attr_size)
    ruleset_fd = _syscall("landlock_create_ruleset", attr, ctypes.c_size_t(attr_size), ctypes.c_uint32(0))
    try:
        for paths, rights in ((read_paths, _LL_READ), (write_paths, handled_fs)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue
                try:
                    allowed = rights & handled_fs
                    if not os.path.isdir(path):
                        allowed &= _LL_FILE_RIGHTS
                    rule = _PathBeneath(allowed, fd)
                    _syscall("landlock_add_rule", ctypes.c_int(ruleset_fd), ctypes.c_int(1), ctypes.byref(rule), 0)
                finally:
                    os.close(fd)
        _syscall("landlock_restrict_self", ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))
    finally:
        os.close(ruleset_fd)


def seccomp_program() -> list[tuple[int, int, int, int]]:
    """Classic BPF: deny process creation, exec, sockets and escape syscalls; allow everything else."""
    ld_abs, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    prog = [
        (ld_abs, 0, 0, 4),  # seccomp_data.arch
        (jeq, 1, 0, AUDIT_ARCH_X86_64),
        (ret, 0, 0, kill),
        (ld_abs, 0, 0, 0),  # seccomp_data.nr
        (0x35, 0, 1, 0x40000000),  # x32 ABI numbers alias the 64-bit table: refuse them outright
        (ret, 0, 0, kill),
        (jeq, 0, 4, _X86_64["clone"]),
        (ld_abs, 0, 0, 16),  # clone flags: low word of args[0]
        (jset, 0, 1, CLONE_THREAD),
        (ret, 0, 0, allow),
        (ret, 0, 0, eperm),
        (jeq, 0, 1, _X86_64["clone3"]),
        (ret, 0, 0, enosys),  # glibc then falls back to clone(), which the rule above inspects
    ]
    for nr in _DENIED_X86_64.values():
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, eperm)]
    prog.append((ret, 0, 0, allow))
    return prog


def _seccomp() -> None:
    prog = seccomp_program()
    filters = (_SockFilter * len(prog))(*[_SockFilter(code, jt, jf, k) for code, jt, jf, k in prog])
    fprog = _SockFprog(len(prog), filters)
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")


def _drop_capabilities() -> None:
    header = struct.pack("<Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = bytes(24)  # two __user_cap_data_struct, all zero: no effective, permitted or inheritable caps
    _syscall("capset", ctypes.create_string_buffer(header, 8), ctypes.create_string_buffer(data, 24))


def _set_limits(memory_mb: int, cpu_s: int, fsize_mb: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))  # soft: SIGXCPU, hard: SIGKILL a second later
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write then fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mb << 20, fsize_mb << 20))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))


_AUDIT_DENIED = ("os.system", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
                 "socket.connect", "socket.bind", "socket.sendto", "ctypes.dlopen", "ctypes.dlsym",
                 "ctypes.cdata", "ctypes.addressof", "ctypes.call_function", "os.kill", "os.killpg",
                 "os.putenv", "sys.addaudithook", "sys.setprofile", "sys.settrace")  # fmt: skip
_AUDIT_WRITE_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link",
                       "os.symlink", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move")  # fmt: skip


def _audit_hook(read_paths: list[str], write_paths: list[str]):  # noqa: ANN202 - returns the hook closure
    reads = tuple(os.path.realpath(p) for p in read_paths + write_paths)
    writes = tuple(os.path.realpath(p) for p in write_paths)

    def beneath(path: object, roots: tuple[str, ...]) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor was allowed when it was opened
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        full = os.path.realpath(str(path))
        return any(full == r or full.startswith(r.rstrip("/") + "/") for r in roots)

    def hook(event: str, args: tuple) -> None:
        if event.startswith(_AUDIT_DENIED):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and args and args[0] is not None:
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
            flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
            writing = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            if not beneath(args[0], writes if writing else reads):
                raise PermissionError(f"sandbox: opening {args[0]!r} is not allowed")
        elif event in _AUDIT_WRITE_EVENTS:
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)) and not beneath(path, writes):
                    raise PermissionError(f"sandbox: {event} on {path!r} is not allowed")

    return hook


def apply_sandbox(
    scratch_dir: str,
    memory_mb: int,
    cpu_s: int,
    fsize_mb: int = 64,
    read_paths: list[str] | None = None,
    force_fallback: bool = False,
) -> SandboxReport:
    """Confine the calling process for good. Call only in a forked child that will ``os._exit``.

    Order matters: the namespace needs capabilities, Landlock and seccomp need no_new_privs, and seccomp comes last
    because it forbids ``unshare`` and ``capset`` is harmless once caps are gone.
    """
    report = SandboxReport()
    read_paths = read_paths if read_paths is not None else default_read_paths()
    kernel_ok = _is_x86_64() and not force_fallback
    if kernel_ok:
        if _libc.unshare(CLONE_NEWNET) == 0:
            report.netns = True
        else:
            report.notes.append(f"unshare(CLONE_NEWNET): {os.strerror(ctypes.get_errno())}")
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SandboxError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    abi = landlock_abi() if kernel_ok else 0
    if abi > 0:
        _landlock(read_paths, [scratch_dir], abi)
        report.landlock_abi = abi
    _set_limits(memory_mb, cpu_s, fsize_mb)
    if kernel_ok:
        try:
            _drop_capabilities()
        except OSError as exc:
            report.notes.append(f"capset: {exc}")
        try:
            _seccomp()
            report.seccomp = True
        except OSError as exc:
            report.notes.append(str(exc))
    if not report.kernel_enforced:
        sys.addaudithook(_audit_hook(read_paths, [scratch_dir]))
        report.audit_hook = True
    return report
