"""A control group per grading worker: its kernels (and its fork server) share a CPU quota and a
process limit that belong to that worker alone, whatever a student's code starts.

Where the grader runs as root and the cgroup filesystem offers the `pids` and `cpu` controllers
(cgroup v2, or v1's separate hierarchies), each worker process gets `backprop-lab/worker-<pid>`:
`pids.max` = sandbox.NPROC, and a CPU quota of its kernels' thread count in cores per period. The
sandbox launcher moves itself into the group before it starts bubblewrap, so everything the kernel
starts, double-forked or not, is counted there. Elsewhere (not root, a container without the
controllers) there is none, and the summary says so.
"""
import os
import re
from functools import lru_cache

from autograde.grading.kernels.sandbox import NPROC

V2_ROOT = "/sys/fs/cgroup"
V1_ROOTS = ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu")
GROUP = "backprop-lab"
PERIOD_US = 100_000
WORKER_GROUP = re.compile(r"worker-(\d+)$")


def write(path, text):
    with open(path, "w") as handle:
        handle.write(text)


@lru_cache(maxsize=None)
def available():
    """"v2", "v1", or "" where no per-worker group can be made here (checked once per process)."""
    if os.geteuid() != 0:
        return ""
    try:
        with open(os.path.join(V2_ROOT, "cgroup.controllers")) as handle:
            offered = set(handle.read().split())
    except OSError:
        offered = set()
    try:
        if {"pids", "cpu"} <= offered:
            os.makedirs(os.path.join(V2_ROOT, GROUP), exist_ok=True)
            write(os.path.join(V2_ROOT, GROUP, "cgroup.subtree_control"), "+pids +cpu")
            return "v2"
        if all(os.path.isdir(root) for root in V1_ROOTS):
            for root in V1_ROOTS:
                os.makedirs(os.path.join(root, GROUP), exist_ok=True)
            return "v1"
    except OSError:
        pass
    return ""


@lru_cache(maxsize=None)
def worker_groups(version, cores):
    """This process's groups (one folder for v2, one per controller for v1), made with their limits
    on first use and removed when the process ends; groups of processes that are gone are removed."""
    from multiprocessing import util

    roots = [V2_ROOT] if version == "v2" else list(V1_ROOTS)
    folders = []
    for root in roots:
        parent = os.path.join(root, GROUP)
        remove_stale(parent)
        folder = os.path.join(parent, f"worker-{os.getpid()}")
        os.makedirs(folder, exist_ok=True)
        folders.append(folder)
        quota = str(max(1, cores) * PERIOD_US)
        if version == "v2":
            write(os.path.join(folder, "pids.max"), str(NPROC))
            write(os.path.join(folder, "cpu.max"), f"{quota} {PERIOD_US}")
        elif root.endswith("pids"):
            write(os.path.join(folder, "pids.max"), str(NPROC))
        else:
            write(os.path.join(folder, "cpu.cfs_period_us"), str(PERIOD_US))
            write(os.path.join(folder, "cpu.cfs_quota_us"), quota)
        # after the fork server (exit priority 10) is gone: an empty group can be removed
        util.Finalize(None, remove, args=(folder,), exitpriority=5)
    return tuple(folders)


def remove(folder):
    try:
        os.rmdir(folder)
    except OSError:
        pass  # a process is still in it (or it is gone already): the next grader removes it


def remove_stale(parent):
    for name in os.listdir(parent):
        found = WORKER_GROUP.match(name)
        if found:
            try:
                os.kill(int(found.group(1)), 0)
            except ProcessLookupError:
                remove(os.path.join(parent, name))
            except PermissionError:
                pass
