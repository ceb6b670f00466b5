"""Kernel-enforced limits for one untrusted job, applied inside the forked child that runs it.

Why these layers (measured on the CI kernel 6.18, running as root):
- **Namespaces**: ``unshare(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWNS)`` (~1 ms). The network namespace has only a
  downed loopback (seccomp refuses ``socket`` anyway). A root pool's template enters one for good before it forks
  any child (``enter_network_namespace``), and its children stay in it: a network namespace holds nothing once the
  process that opened a socket in it is gone, and making and tearing one down per job cost ~3 ms of CPU (measured
  with both cores busy rendering charts). The IPC namespace takes any System V / POSIX IPC object with
  it when the child dies; the private mount namespace gets a size-limited tmpfs over the job's scratch dir, so
  everything a job writes is bounded in total (``scratch_mb``), not only per file, and vanishes with the child.
  A non-root pool gets the same through an unprivileged user namespace where the kernel allows one.
- **Identity**: a root pool runs the child as an unprivileged uid/gid (``uid``; one per worker slot) with no
  supplementary groups and no capabilities, so the kernel refuses ``prlimit``, signals, ``setpriority`` and
  ``/proc/<pid>`` access to every process of another uid: the worker, the pool, the trainer. ``PR_SET_DUMPABLE`` is
  left at 0 by the uid change, so not even the child's own ``/proc/self/mem`` is readable. Where the interpreter's
  files are not readable by other users (pyenv or a venv under ``/root``, as on the CI machine) the child keeps one
  capability, ``CAP_DAC_READ_SEARCH`` (see ``apply_sandbox``), and the pool logs that.
- **Files**: Landlock (unprivileged LSM, ABI >= 1) allows reads only beneath Python's prefixes, matplotlib's data
  and cache dirs and the system's shared libraries, fonts and data (``/usr``, ``/etc/fonts``), and writes only
  beneath the per-job scratch dir: ``/etc/passwd`` and ``~/.bashrc`` are unreadable and unwritable. On ABI >= 4
  TCP bind/connect are denied too; on ABI >= 6 signals and abstract UNIX sockets outside the child are denied, so
  the code cannot kill its worker even where the uid drop is unavailable.
- **System calls**: root ignores ``RLIMIT_NPROC``, so a seccomp filter denies ``fork``/``vfork``, ``clone`` without
  ``CLONE_THREAD`` (threads stay allowed: numpy may start one), ``execve``/``execveat`` with EPERM, and ``clone3``
  with ENOSYS so glibc falls back to the inspectable ``clone``. It refuses ``prlimit64``, ``sched_set*``,
  ``setpriority``, ``ioprio_set`` and page migration on any pid but 0 and the child's own (children of two workers
  could otherwise share a uid), the pidfd calls, ``memfd_create``/``memfd_secret`` and System V / POSIX IPC
  (memory that ``RLIMIT_AS`` does not count), and what a root process could use to escape (mount, namespaces,
  ptrace, module loading, bpf, ``open_by_handle_at`` ...). The denials surface in Python as ``PermissionError``,
  which the child reports as ``forbidden``; ``os.system`` just returns -1.
- **Resources**: ``RLIMIT_AS`` (address space, MemoryError instead of swapping the machine), ``RLIMIT_CPU`` (a busy
  loop gets SIGXCPU even if the parent's wall clock misses it), ``RLIMIT_FSIZE`` (one file), ``RLIMIT_NOFILE``
  (a few dozen descriptors: pipe buffers are memory outside the address space; an unprivileged uid is also held to
  the kernel's per-user pipe quota), ``RLIMIT_MSGQUEUE=0``, ``RLIMIT_CORE=0``, and ``RLIMIT_NPROC = MAX_TASKS``
  where the count is the job's own: threads are clones seccomp must allow, and uncapped, a job's threads can fill
  the host's pid table so that nothing else can fork. The kernel counts tasks per uid (per user
  namespace): a root pool's slot uid (unique to the pool and slot, see ``pool``), or the user namespace a non-root
  pool's child makes. Where neither exists the cap would count the pool user's other processes, so it is left off
  and reported. A pids cgroup would do the same but needs a delegated cgroup; this needs nothing.

All memory a job can take is therefore bounded without a cgroup: its address space (``memory_mb``), its scratch
tmpfs (``scratch_mb``) and at most ``RLIMIT_NOFILE`` pipe buffers (1 MiB each at most). No cgroup v2 memory limit is
used: it needs a delegated cgroup (CI machines run cgroup v1 or an undelegated v2) and would add nothing to the
bound above.

Fallback: where Landlock or seccomp is unavailable (older kernels, non-x86_64, containers that filter the syscalls)
``apply_sandbox`` installs a ``sys.addaudithook`` that refuses process creation, sockets, ctypes, ``prlimit`` on
other processes and file access outside the same allow-lists. Audit hooks are a speed bump, not a wall (C
extensions bypass them), so ``SandboxReport`` says which layers a child got and the pool logs what is missing once.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import functools
import os
import platform
import resource
import signal
import site
import stat
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ctypes import _CArgObject, _CData  # typeshed-only names for what a foreign function accepts

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_THREAD = 0x00010000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PR_SET_KEEPCAPS = 8
CAP_DAC_READ_SEARCH = 2
PR_SET_NO_NEW_PRIVS = 38
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
SCRATCH_INODES = 4096  # files a job may create in its scratch tmpfs
# RLIMIT_NPROC of a job: threads and processes of its uid (a root pool's slot uid, or the job's own user namespace).
# The count takes in the slot's two preforked children and killed ones not yet reaped as well as the job's own
# threads; matplotlib, numpy (one OpenMP thread) and cairosvg need none of their own.
MAX_TASKS = 32
MIN_OPEN_FILES = 64  # RLIMIT_NOFILE floor: Python opens a few files per lazy import

# x86_64 syscall numbers. Other architectures take the audit-hook fallback (documented above).
_X86_64 = {
    "landlock_create_ruleset": 444,
    "landlock_add_rule": 445,
    "landlock_restrict_self": 446,
    "capset": 126,
    "clone": 56,
    "clone3": 435,
    "prctl": 157,
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
    "setgroups": 116, "capset": 126,
    # Memory outside RLIMIT_AS: anonymous files and shared memory segments.
    "memfd_create": 319, "memfd_secret": 447, "shmget": 29, "shmat": 30, "msgget": 68, "semget": 64,
    "mq_open": 240,
    # Handles on other processes.
    "pidfd_open": 434, "pidfd_getfd": 438, "pidfd_send_signal": 424, "process_madvise": 440,
    "process_mrelease": 448, "kcmp": 312,
}  # fmt: skip
# Calls that act on the process named by one argument: allowed for 0 (the caller) and the child's own pid only.
_OWN_PID_ONLY_X86_64 = {  # name: (number, index of the pid argument)
    "prlimit64": (302, 0), "sched_setaffinity": (203, 0), "sched_setparam": (142, 0), "sched_setscheduler": (144, 0),
    "sched_setattr": (314, 0), "migrate_pages": (256, 0), "move_pages": (279, 0), "setpriority": (141, 1),
    "ioprio_set": (251, 1),
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
    """Which layers a child got; the pool logs the missing ones once, so a weaker machine is never silent."""

    landlock_abi: int = 0
    seccomp: bool = False
    netns: bool = False
    ipcns: bool = False
    userns: bool = False
    scratch_tmpfs: bool = False
    separate_uid: bool = False
    task_limit: int = 0  # RLIMIT_NPROC a job got (0: none; its uid is shared with processes outside the job)
    audit_hook: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def kernel_enforced(self) -> bool:
        return self.landlock_abi > 0 and self.seccomp

    def missing(self) -> list[str]:
        """One line per protection this child did not get, saying what that leaves open."""
        gaps = []
        if not self.seccomp:
            gaps.append(
                "no seccomp filter (not x86_64, or refused): process creation, memfd/shm and prlimit on "
                "other processes are refused only by an audit hook, which native code bypasses"
            )
        if self.landlock_abi == 0:
            gaps.append("no Landlock: file access outside the allow-lists is refused only by an audit hook")
        elif self.landlock_abi < 6:
            gaps.append(
                f"Landlock ABI {self.landlock_abi} < 6: signals to other processes of the same uid are not scoped"
            )
        if not self.netns:
            gaps.append("no network namespace: sockets are refused by seccomp/audit hook only")
        if not self.scratch_tmpfs:
            gaps.append(
                "no private size-limited scratch tmpfs (no mount or user namespace): the total a job writes "
                "is bounded per file (RLIMIT_FSIZE) only"
            )
        if not self.task_limit:
            gaps.append(
                "no per-job thread/process cap (RLIMIT_NPROC needs a uid or user namespace of the job's own): a "
                "job's threads can fill the host's pid table until the job ends"
            )
        if not self.separate_uid:
            gaps.append(
                "jobs run as the pool's uid (not root, or Python not world-readable): only seccomp keeps "
                "prlimit/setpriority off other processes"
            )
        return gaps + self.notes

    def as_dict(self) -> dict:
        return {"landlock_abi": self.landlock_abi, "seccomp": self.seccomp, "netns": self.netns,
                "ipcns": self.ipcns, "userns": self.userns, "scratch_tmpfs": self.scratch_tmpfs, "separate_uid": self.separate_uid,
                "task_limit": self.task_limit, "audit_hook": self.audit_hook, "notes": list(self.notes)}  # fmt: skip


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


def default_read_paths(with_matplotlib: bool = True) -> list[str]:
    """What plotting code legitimately reads: Python, its packages, fonts, shared libraries (and, for charts,
    matplotlib's data and cache dirs, which needs matplotlib imported)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    if with_matplotlib:
        import matplotlib

        paths.update([matplotlib.get_data_path(), matplotlib.get_cachedir()])
    paths.update(site.getsitepackages())
    paths.add(os.path.dirname(os.__file__))  # the stdlib, wherever this interpreter keeps it
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


def seccomp_program(own_pid: int | None = None) -> list[tuple[int, int, int, int]]:
    """Classic BPF: deny process creation, exec, sockets, memory outside RLIMIT_AS, other processes and escape
    syscalls; allow everything else. ``own_pid`` (default: the caller) is the one pid the pid-taking calls accept."""
    own_pid = os.getpid() if own_pid is None else own_pid
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
        (jeq, 0, 4, _X86_64["prctl"]),
        (ld_abs, 0, 0, 16),  # prctl option: low word of args[0]
        (jeq, 0, 1, PR_SET_PDEATHSIG),  # clearing it would let a job outlive its template
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    for nr, arg in _OWN_PID_ONLY_X86_64.values():
        prog += [
            (jeq, 0, 5, nr),  # another call: skip this block with the syscall number still loaded
            (ld_abs, 0, 0, 16 + 8 * arg),  # low word of the pid argument (pid_t is 32 bits)
            (jeq, 2, 0, 0),
            (jeq, 1, 0, own_pid),
            (ret, 0, 0, eperm),
            (ret, 0, 0, allow),
        ]
    for nr in _DENIED_X86_64.values():
        prog += [(jeq, 0, 1, nr), (ret, 0, 0, eperm)]
    prog.append((ret, 0, 0, allow))
    return prog


_PID_PLACEHOLDER = 0xFFFFFFFF  # no process has this pid; patched to the child's own in its copy of the filter


@functools.cache
def _seccomp_filter() -> tuple[ctypes.Array[_SockFilter], tuple[int, ...]]:
    """The filter as the kernel takes it, built once (in the template, see ``warm``) with a placeholder pid, and
    where the placeholder sits: building it in Python took ~1 ms of every child's set-up."""
    prog = seccomp_program(own_pid=_PID_PLACEHOLDER)
    filters = (_SockFilter * len(prog))(*[_SockFilter(code, jt, jf, k) for code, jt, jf, k in prog])
    return filters, tuple(i for i, (_, _, _, k) in enumerate(prog) if k == _PID_PLACEHOLDER)


def warm() -> None:
    """Build what every child would otherwise build again; call in the process children are forked from."""
    _seccomp_filter()


def _seccomp() -> None:
    filters, pid_slots = _seccomp_filter()
    for index in pid_slots:
        filters[index].k = os.getpid()  # this child's copy-on-write copy of the array
    fprog = _SockFprog(len(filters), filters)
    if _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {os.strerror(err)}")


def _drop_capabilities(keep: int = 0) -> None:
    """All capabilities gone, except the bits of ``keep`` (effective and permitted)."""
    header = struct.pack("<Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = struct.pack("<6I", keep, keep, 0, 0, 0, 0)  # two __user_cap_data_struct: effective, permitted, inheritable
    _syscall("capset", ctypes.create_string_buffer(header, 8), ctypes.create_string_buffer(data, 24))


def _write_proc_self(name: str, text: str) -> None:
    fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter_network_namespace() -> bool:
    """Move the calling process (a template: its children inherit it) into a new, empty network namespace.

    True when done; only root can, a non-root pool's children get theirs inside their user namespaces."""
    return os.geteuid() == 0 and _libc.unshare(CLONE_NEWNET) == 0


def _namespaces(
    scratch_dir: str, scratch_mb: int, uid: int | None, report: SandboxReport, network_private: bool = False
) -> None:
    """New network (unless ``network_private``: already in an empty one), IPC and mount namespaces (inside a user
    namespace when not root) and the scratch tmpfs."""
    report.netns = network_private
    flags = CLONE_NEWIPC | CLONE_NEWNS | (0 if network_private else CLONE_NEWNET)
    outer_uid, outer_gid = os.geteuid(), os.getegid()
    if outer_uid != 0:
        flags |= CLONE_NEWUSER
    if _libc.unshare(flags) != 0:
        report.notes.append(f"unshare(net, ipc, mount{', user' if flags & CLONE_NEWUSER else ''}): "
                            f"{os.strerror(ctypes.get_errno())}")  # fmt: skip
        for single in (0 if network_private else CLONE_NEWNET, CLONE_NEWIPC):  # take what root can still get
            if single and outer_uid == 0 and _libc.unshare(single) == 0:
                report.netns |= single == CLONE_NEWNET
                report.ipcns |= single == CLONE_NEWIPC
        return
    report.netns = report.ipcns = True
    owner = uid if uid is not None and outer_uid == 0 else 0
    if flags & CLONE_NEWUSER:
        report.userns = True
        try:
            _write_proc_self("setgroups", "deny")
            _write_proc_self("uid_map", f"0 {outer_uid} 1")
            _write_proc_self("gid_map", f"0 {outer_gid} 1")
        except OSError as exc:
            report.notes.append(f"user namespace id maps: {exc}")
    if _libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        report.notes.append(f"mount --make-rprivate /: {os.strerror(ctypes.get_errno())}")
        return
    options = f"size={scratch_mb}m,nr_inodes={SCRATCH_INODES},mode=0700,uid={owner},gid={owner}"
    if _libc.mount(b"tmpfs", scratch_dir.encode(), b"tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, options.encode()) != 0:
        report.notes.append(f"scratch tmpfs: {os.strerror(ctypes.get_errno())}")
        return
    report.scratch_tmpfs = True


def _drop_identity(uid: int, keep_read_search: bool) -> None:
    """Become ``uid``/``uid`` with no groups; the kernel clears every capability on the way unless asked to keep
    them for the one ``CAP_DAC_READ_SEARCH`` that ``apply_sandbox`` then leaves."""
    if keep_read_search:
        _libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def _set_limits(memory_mb: int, cpu_s: int, fsize_mb: int, open_files: int, tasks: int) -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if tasks:
        resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))  # soft: SIGXCPU, hard: SIGKILL a second later
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an over-long write then fails with EFBIG instead of killing
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_mb << 20, fsize_mb << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))


def _open_file_limit() -> int:
    """A few dozen descriptors above the highest one inherited (the warm font files stay open)."""
    highest = max((int(name) for name in os.listdir("/proc/self/fd")), default=2)
    return max(MIN_OPEN_FILES, highest + 32)


_AUDIT_DENIED = ("os.system", "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "subprocess.Popen",
                 "socket.connect", "socket.bind", "socket.sendto", "ctypes.dlopen", "ctypes.dlsym",
                 "ctypes.cdata", "ctypes.addressof", "ctypes.call_function", "os.kill", "os.killpg",
                 "os.putenv", "sys.addaudithook", "sys.setprofile", "sys.settrace", "os.memfd_create")  # fmt: skip
_AUDIT_WRITE_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link",
                       "os.symlink", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move")  # fmt: skip


def _audit_hook(read_paths: list[str], write_paths: list[str]):  # noqa: ANN202 - returns the hook closure
    reads = tuple(os.path.realpath(p) for p in read_paths + write_paths)
    writes = tuple(os.path.realpath(p) for p in write_paths)
    own_pid = os.getpid()

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
        if event == "resource.prlimit" and args and args[0] not in (0, own_pid):
            raise PermissionError("sandbox: prlimit on another process is not allowed")
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


def readable_by_others(path: str) -> bool:
    """Whether a process of another uid (and no capabilities) can reach and read ``path``."""
    current = os.path.realpath(path)
    try:
        mode = os.stat(current).st_mode
    except OSError:
        return False
    if not mode & stat.S_IROTH or (stat.S_ISDIR(mode) and not mode & stat.S_IXOTH):
        return False
    parent = os.path.dirname(current)
    while parent != current:
        try:
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
        current, parent = parent, os.path.dirname(parent)
    return True


def apply_sandbox(
    scratch_dir: str,
    memory_mb: int,
    cpu_s: int,
    fsize_mb: int = 64,
    read_paths: list[str] | None = None,
    force_fallback: bool = False,
    uid: int | None = None,
    scratch_mb: int = 64,
    keep_read_search: bool = False,
    network_private: bool = False,
    max_tasks: int = MAX_TASKS,
) -> SandboxReport:
    """Confine the calling process for good and make ``scratch_dir`` its working directory. Call only in a forked
    child that will ``os._exit``.

    Order matters: namespaces and the tmpfs need capabilities (and must precede Landlock, which pins the scratch
    rule to the tmpfs root and then forbids mounts); Landlock and seccomp need no_new_privs; the uid change clears
    capabilities and the parent-death signal (set again here); seccomp comes last because it forbids ``unshare``,
    ``setuid`` and ``capset``.

    ``keep_read_search`` keeps ``CAP_DAC_READ_SEARCH`` after the uid change, for interpreters installed where other
    users cannot read (pyenv under ``/root``): it lets the child read past file modes, but Landlock still confines
    reads to ``read_paths``, and it grants no power over other processes (signals, ``prlimit`` and ``/proc/<pid>``
    need the same uid or other capabilities).

    ``network_private``: the caller is already in an empty network namespace (``enter_network_namespace``).

    ``max_tasks``: ``RLIMIT_NPROC`` where the kernel's count is the job's own (see the module docstring).
    """
    report = SandboxReport()
    read_paths = read_paths if read_paths is not None else default_read_paths()
    kernel_ok = _is_x86_64() and not force_fallback
    if not force_fallback:  # unshare and mount go through libc: every architecture gets the namespaces
        _namespaces(scratch_dir, min(scratch_mb, 1 << 20), uid, report, network_private)
    os.chdir(scratch_dir)  # after the mount, so relative paths land in the tmpfs
    if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SandboxError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    abi = landlock_abi() if kernel_ok else 0
    if abi > 0:
        _landlock(read_paths, [scratch_dir], abi)
        report.landlock_abi = abi
    drops_uid = uid is not None and os.geteuid() == 0 and not report.userns
    report.task_limit = max_tasks if drops_uid or report.userns else 0  # else the count is not the job's own
    _set_limits(memory_mb, cpu_s, min(fsize_mb, scratch_mb), _open_file_limit(), report.task_limit)
    if drops_uid:
        assert uid is not None
        parent = os.getppid()
        _drop_identity(uid, keep_read_search)
        report.separate_uid = True
        if keep_read_search:
            report.notes.append(
                "jobs keep CAP_DAC_READ_SEARCH (file reads still confined by Landlock): Python is not readable by "
                "other users"
            )
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the uid change cleared it
        if os.getppid() != parent:  # the parent died before the signal was armed again
            os._exit(70)
    if kernel_ok:
        try:
            _drop_capabilities(1 << CAP_DAC_READ_SEARCH if report.separate_uid and keep_read_search else 0)
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


def close_inherited_descriptors(keep: Iterable[int]) -> None:
    """Close pipes, sockets and writable files inherited from the parent; keep ``keep`` and read-only files.

    The read-only files are the warm font cache: matplotlib's FT2Font objects stream glyphs lazily from their open
    font files, and closing those let a later ``open`` reuse the descriptor number, so glyphs were read from the
    wrong file (~2 in 300 synthesized charts failed with FT_Load_Glyph "invalid stream operation").
    """
    kept = set(keep)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd in kept:
            continue
        try:
            mode = os.fstat(fd).st_mode
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:  # the listing's own directory descriptor, already closed
            continue
        if stat.S_ISREG(mode) and flags & os.O_ACCMODE == os.O_RDONLY:
            continue
        os.close(fd)
