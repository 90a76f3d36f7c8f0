"""Landlock, the Linux kernel's own access control for unprivileged processes (standard library only).

After restrict(), this process and everything it starts can open only what the rules allow (read
the `readable` paths, read and write the `writable` ones), whatever its uid, and nothing can lift
it. The ruleset asks for every right the running kernel knows (its ABI), so a right this code has
never heard of is denied, not allowed. From ABI 4 the kernel also refuses TCP (connect and bind),
from ABI 6 signals to processes outside the sandbox and abstract unix sockets. It needs neither
namespaces nor privileges, so it also works where bubblewrap cannot run.

The three syscalls (landlock_create_ruleset, landlock_add_rule, landlock_restrict_self) have the
same numbers on every architecture; ctypes calls them, as the kernel's sandboxer.c sample does in C.
"""
import ctypes
import os

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

# filesystem rights (include/uapi/linux/landlock.h)
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
TRUNCATE, IOCTL_DEV = 1 << 14, 1 << 15
FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # the only ones a rule on a file may carry
READ = EXECUTE | READ_FILE | READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1                 # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1      # ABI 6


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # packed in the kernel's header
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number, *args):
    result = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"landlock: {os.strerror(error)}")
    return result


def abi():
    """The Landlock ABI version the running kernel offers; 0 when it has none (or it is switched off)."""
    try:
        return _syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    except OSError:
        return 0


def restrict(readable, writable, refuse_tcp=True):
    """Confine this process for good: read (and execute) under `readable`, read and write under
    `writable`; with ABI 4+ no TCP (unless not `refuse_tcp`), with ABI 6+ no signals out and no
    abstract unix sockets. Paths that do not exist are skipped. Returns the ABI used; raises OSError
    if it cannot."""
    version = abi()
    if version < 1:
        raise OSError("landlock: not offered by this kernel")
    handled = FS_RIGHTS_BY_ABI.get(version, FS_RIGHTS_BY_ABI[5])
    attr = RulesetAttr(handled_access_fs=handled)
    if version >= 4 and refuse_tcp:
        attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP  # handled with no rule: refused
    if version >= 6:
        attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
    ruleset = _syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    try:
        for paths, rights in ((readable, READ), (writable, handled)):
            for path in paths:
                _allow(ruleset, path, rights & handled)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:  # required to restrict oneself without privileges
            raise OSError(ctypes.get_errno(), "landlock: prctl(PR_SET_NO_NEW_PRIVS) failed")
        _syscall(SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return version


def _allow(ruleset, path, rights):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS
        rule = PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _syscall(SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule),
                 ctypes.c_uint32(0))
    finally:
        os.close(fd)
