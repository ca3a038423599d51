"""Kernel confinement of one sandbox child: limits, namespaces, Landlock and seccomp.

Each ``apply_*`` function is called in the forked child, in the order of
:func:`confine`, and returns whether its layer is active (detected, never assumed:
container runtimes often refuse namespaces or seccomp). Nothing here is undone.
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import sys
from pathlib import Path
from typing import Any

try:  # loaded at import: its library lookup needs a temp dir, which a confined child lacks
    import pyseccomp as _seccomp
except (ImportError, OSError):  # pragma: no cover - reported as an inactive layer
    _seccomp = None

_libc = ctypes.CDLL(None, use_errno=True)

PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_THREAD = 0x00010000

# Landlock (linux/landlock.h); syscall numbers are the same on every architecture since 5.13.
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1
_FS_READ = (1 << 2) | (1 << 3)  # READ_FILE | READ_DIR
# Every file-system right each ABI version knows; all are handled (denied unless granted).
_FS_ALL_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_ALL = (1 << 0) | (1 << 1)  # BIND_TCP | CONNECT_TCP (ABI 4)
_SCOPE_ALL = (1 << 0) | (1 << 1)  # abstract unix sockets | signals outside the domain (ABI 6)

# System calls a strategy never needs: networking, new processes and programs, other
# processes' memory, kernel keyrings, io_uring, shared memory, namespaces and limits.
SECCOMP_DENY = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto", "sendmsg",
    "recvfrom", "recvmsg", "execve", "execveat", "fork", "vfork", "ptrace", "process_vm_readv",
    "process_vm_writev", "process_madvise", "pidfd_open", "pidfd_getfd", "pidfd_send_signal",
    "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "keyctl", "add_key", "request_key", "shmget", "shmat", "shmctl", "shmdt",
    "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semctl", "semtimedop", "mq_open",
    "memfd_create", "memfd_secret", "userfaultfd", "perf_event_open", "bpf", "mount", "umount2",
    "pivot_root", "chroot", "unshare", "setns", "setrlimit", "prlimit64", "open_by_handle_at",
    "name_to_handle_at", "init_module", "finit_module", "delete_module", "kexec_load", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "setuid", "setgid", "setreuid", "setregid",
    "setresuid", "setresgid", "setgroups", "personality", "mknod", "mknodat", "link", "linkat",
    "symlink", "symlinkat", "fanotify_init", "inotify_init", "inotify_init1", "move_mount",
    "open_tree", "fsopen", "fsmount", "fspick", "mbind", "migrate_pages", "move_pages",
)


def _syscall(*args: Any) -> int:
    res = _libc.syscall(*args)
    if res < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return res


def no_new_privs() -> bool:
    return _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def address_space_in_use() -> int:
    """Bytes of virtual memory mapped now (VmSize); the memory budget comes on top."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def apply_limits(*, memory_bytes: int, cpu_seconds: int, open_files: int, file_bytes: int = 0) -> bool:
    """Address space (what is mapped now + the budget), CPU, files, no writes, no cores."""
    base = address_space_in_use()
    try:
        with open("/proc/self/oom_score_adj", "w") as fh:  # the job dies first under memory pressure
            fh.write("1000")
    except OSError:
        pass
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
    limits = [
        (resource.RLIMIT_AS, base + memory_bytes),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_NOFILE, open_files),
        (resource.RLIMIT_FSIZE, file_bytes),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_MEMLOCK, 0),
        (resource.RLIMIT_MSGQUEUE, 0),
    ]
    for which, value in limits:
        soft = value
        hard = value + 1 if which == resource.RLIMIT_CPU else value  # SIGXCPU first, SIGKILL a second later
        resource.setrlimit(which, (soft, hard))
    return resource.getrlimit(resource.RLIMIT_AS)[0] == base + memory_bytes


def apply_namespaces(pid: bool = False) -> dict[str, bool]:
    """New user, network and IPC (and with ``pid``, PID) namespaces, when the host allows them.

    A new PID namespace applies to the children forked afterwards: the caller must fork once
    more for it to take effect (the first child is PID 1 of the namespace)."""
    flags = CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC
    if pid and _libc.unshare(flags | CLONE_NEWPID) == 0:
        return {"user": True, "network": True, "ipc": True, "pid": True}
    if _libc.unshare(flags) == 0:
        return {"user": True, "network": True, "ipc": True, "pid": False}
    got = {"user": False, "network": False, "ipc": False, "pid": False}
    for name, flag in (("network", CLONE_NEWNET), ("ipc", CLONE_NEWIPC)):
        got[name] = _libc.unshare(flag) == 0  # root without a user namespace (some containers)
    return got


def landlock_abi() -> int:
    res = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    return res if res > 0 else 0


def readable_roots() -> list[str]:
    """The interpreter, its libraries and quantq's own package: the only readable paths."""
    package = str(Path(__file__).resolve().parents[2])  # the quantq package directory
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, package}
    roots.update(p for p in sys.path if p and p.startswith(("/usr", sys.prefix, sys.base_prefix)))
    roots.update(("/usr/lib", "/lib", "/lib64", "/usr/lib64"))
    return sorted(r for r in roots if os.path.exists(r) and r not in ("/", "/usr"))


def apply_landlock(read_only: list[str]) -> int:
    """Deny every file-system right except reading ``read_only``; deny TCP and outside signals.

    Returns the ABI version enforced (0: Landlock unavailable, nothing applied)."""
    prepared = prepare_landlock(read_only)
    return restrict_landlock(prepared)


def prepare_landlock(read_only: list[str]) -> tuple[int, int] | None:
    """Build the ruleset (before the request arrives); (ruleset fd, ABI) or None if unavailable."""
    abi = landlock_abi()
    if abi == 0:
        return None
    fs_all = _FS_ALL_BY_ABI[max(k for k in _FS_ALL_BY_ABI if k <= abi)]

    class RulesetAttr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = RulesetAttr(fs_all, _NET_ALL if abi >= 4 else 0, _SCOPE_ALL if abi >= 6 else 0)
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
    try:
        for root in read_only:
            fd = os.open(root, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = PathBeneath(_FS_READ if os.path.isdir(root) else (1 << 2), fd)
                _syscall(_SYS_LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0)
            finally:
                os.close(fd)
    except BaseException:
        os.close(ruleset)
        raise
    return ruleset, abi


def restrict_landlock(prepared: tuple[int, int] | None) -> int:
    """Enforce a prepared ruleset on this process; returns the ABI (0: nothing enforced)."""
    if prepared is None:
        return 0
    ruleset, abi = prepared
    try:
        if not no_new_privs():
            raise OSError(errno.EPERM, "cannot set no_new_privs")
        _syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0)
    finally:
        os.close(ruleset)
    return abi


def discard_landlock(prepared: tuple[int, int] | None) -> None:
    if prepared is not None:
        os.close(prepared[0])


def apply_seccomp() -> bool:
    """Load the deny list (EPERM), allow threads but no new processes, signals only to self."""
    flt = build_seccomp()
    if flt is None:
        return False
    flt.load()
    return True


def build_seccomp() -> Any:
    """The filter for this process (not loaded yet), or None without libseccomp."""
    sc = _seccomp
    if sc is None:
        return None
    flt = sc.SyscallFilter(defaction=sc.ALLOW)
    deny = sc.ERRNO(errno.EPERM)
    for name in SECCOMP_DENY:
        try:
            flt.add_rule(deny, name)
        except (OSError, RuntimeError, ValueError):
            continue  # a call this kernel/arch does not have
    flt.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, CLONE_THREAD, 0))  # fork-like clone
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")  # flags hidden in a struct: make libc fall back to clone
    me = os.getpid()
    flt.add_rule(deny, "kill", sc.Arg(0, sc.NE, me))
    flt.add_rule(deny, "tgkill", sc.Arg(0, sc.NE, me))
    return flt
