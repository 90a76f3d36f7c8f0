"""Start a student's kernel in a sandbox: `python -I -m autograde.grading.kernels.sandbox [options] -- <kernel command>`.

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
  seccomp     no new namespaces, io_uring, perf_event_open, bpf, keyrings, ptrace, mounts
              (seccomp.py; bubblewrap loads it).
  user        as root, the kernel becomes the user it is given: by default a uid of its grading
              worker's own, which no account and no other worker has (its limits on processes are
              its own); without one it keeps uid 0 without a single capability.
  rlimits     memory (RLIMIT_AS: a memory bomb gets MemoryError), file size, no core dumps,
              processes; and one thread pool per core share, so parallel kernels do not fight.
  cgroup      the grading worker's control group (cgroups.py), joined first: a CPU quota and a
              process limit of that worker's own.
  import path the grader's own copy of `autograde` first (import_root), whichever way it was
              installed, so the kernel checks with exactly the package the grader runs.

With bubblewrap the launcher runs twice: outside, it prepares and execs bwrap; inside, again with
--inside, it applies the limits, Landlock and the user, then execs the kernel. Which layers a run
uses is make_plan()'s decision, taken by the grader, and the launcher applies each one it is given
or fails, so the kernel never starts with less than was recorded. What the grader decides and
prepares before a kernel starts (the plan, its folders, the import root) is kernel_plan.py.
"""
import argparse
import ctypes
import glob
import os
import pwd
import resource
import shutil
import stat
import sys
import sysconfig

from autograde.grading.kernels import landlock, seccomp

MODULE = "autograde.grading.kernels.sandbox"
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))  # autograde/
# The launcher runs the grader's copy of the package, not whichever the environment would import:
# the import root (see import_root) goes first on its path.
BOOTSTRAP = ("import runpy, sys; sys.path.insert(0, sys.argv[sys.argv.index('--import-root') + 1]); "
             f"runpy.run_module({MODULE!r}, run_name='__main__', alter_sys=True)")
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


def user_ids(user):
    if ":" in user:
        uid, gid = (int(part) for part in user.split(":"))
        return uid, gid
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def give_to(user, paths):
    """Make `user` ("uid:gid" or a name) the owner of `paths` (not following links)."""
    uid, gid = user_ids(user)
    for path in paths:
        os.chown(path, uid, gid, follow_symlinks=False)


def readable_paths(root=""):
    """What a kernel reads: the system's programs and libraries, Python, the virtualenv's packages
    (not the folder around them), the course's package, wherever it is installed, and the import
    root that leads to it."""
    paths = [*SYSTEM_DIRS, *ETC_FILES, sys.base_prefix]
    if sys.prefix != sys.base_prefix:  # a virtualenv: its config, its interpreter links, its packages
        paths += [os.path.join(sys.prefix, "pyvenv.cfg"), os.path.dirname(sys.executable),
                  sysconfig.get_path("purelib"), sysconfig.get_path("platlib")]
    paths += [PACKAGE_DIR, *([root] if root else [])]
    paths = [path if path in SYSTEM_DIRS else os.path.realpath(path) for path in paths if os.path.lexists(path)]
    return [path for index, path in enumerate(paths) if path not in paths[:index]
            and not any(path.startswith(other + "/") for other in paths if not os.path.islink(other))]


def options(memory_mb=0, file_mb=0, threads=0, user="", bwrap="", landlock_on=False, kernel_dir="", root="",
            groups=""):
    values = {"--memory-mb": memory_mb, "--file-mb": file_mb, "--threads": threads, "--user": user,
              "--bwrap": bwrap, "--kernel-dir": kernel_dir, "--import-root": root, "--cgroups": groups}
    return [item for flag, value in values.items() if value for item in (flag, str(value))] + (
        ["--landlock"] if landlock_on else [])


# --- outside: prepare, then exec bwrap (or go straight to the kernel) ----------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    for flag in ("--memory-mb", "--file-mb", "--threads"):
        parser.add_argument(flag, type=int, default=0)
    for flag in ("--user", "--bwrap", "--kernel-dir", "--import-root", "--cgroups"):
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
    for group in filter(None, args.cgroups.split(os.pathsep)):  # before anything of the kernel's starts
        with open(os.path.join(group, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
    cwd = os.getcwd()
    tmp = "/tmp" if args.bwrap else os.path.join(args.kernel_dir, "tmp") if args.kernel_dir else cwd
    os.makedirs(tmp, exist_ok=True)
    env = kernel_environment(os.environ, cwd, args.threads, args.import_root, tmp)
    if args.bwrap:  # in its own pid namespace its parent is pid 1, which ipykernel would take for an orphan's
        env.pop("JPY_PARENT_PID", None)  # (bwrap's --die-with-parent does that job)
    switch = bool(args.user) and os.geteuid() == 0
    if switch:
        args.user = "%d:%d" % user_ids(args.user)  # the second stage has no /etc/passwd to look it up
        hand_over(args.user, cwd, args.kernel_dir, env)
    if not args.bwrap:
        enter_kernel(args, env)
    inside = [sys.executable, "-I", "-c", BOOTSTRAP, "--inside", *options(
        args.memory_mb, args.file_mb, args.threads, args.user, "", args.landlock, args.kernel_dir, args.import_root),
        "--", *args.kernel]
    filtered = []
    if seccomp.supported():
        fd = seccomp.program_fd()
        os.set_inheritable(fd, True)
        filtered = ["--seccomp", str(fd)]
    mounts = bwrap_options(cwd, args.kernel_dir, switch, args.import_root)
    os.execve(args.bwrap, [args.bwrap, *mounts, *filtered, *inside], env)


def empty_folder(folder, keep=()):
    """Remove everything in `folder` but the names in `keep`, read-only folders a kernel made
    included, following no link; return the names that are left (none when all went)."""
    for entry in os.scandir(folder):
        if entry.name in keep:
            continue
        if entry.is_dir(follow_symlinks=False):
            folders = [entry.path] + [os.path.join(root, name) for root, names, _ in os.walk(entry.path) for name in names]
            for path in folders:
                try:  # opened without following a link: a link put in its place is not made writable
                    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                except OSError:
                    continue
                try:
                    os.fchmod(fd, stat.S_IRWXU)
                except OSError:
                    pass
                finally:
                    os.close(fd)
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
    return [name for name in os.listdir(folder) if name not in keep]


def mounts_under(folder):
    """The names in `folder` that are, or lead to, a mount point of this process's namespace: inside
    the sandbox, the grader's own read-only binds (the package and the environment, when they live
    under /tmp, as a clone in /tmp does), which no kernel can write and nothing may remove."""
    names = set()
    with open("/proc/self/mountinfo") as table:
        for line in table:
            point = line.split()[4].replace("\\040", " ")
            if point.startswith(folder.rstrip("/") + "/"):
                names.add(point[len(folder.rstrip("/")) + 1:].split("/")[0])
    return names


def kernel_environment(parent_env, cwd, threads=0, root="", tmp="/tmp"):
    """A kernel's environment (the fork server's too): only KEPT_VARIABLES of the grader's, a home
    and configuration folders in its working copy, the import root first on its import path."""
    env = {name: value for name, value in parent_env.items() if name.startswith(KEPT_VARIABLES)}
    env.update(PATH=os.pathsep.join([os.path.dirname(sys.executable), "/usr/local/bin", "/usr/bin", "/bin"]),
               HOME=cwd, TMPDIR=tmp, MPLCONFIGDIR=os.path.join(cwd, ".matplotlib"),
               IPYTHONDIR=os.path.join(cwd, ".ipython"), PYTHONDONTWRITEBYTECODE="1")
    if root:
        env["PYTHONPATH"] = root
    os.makedirs(env["MPLCONFIGDIR"], exist_ok=True)
    for cache in glob.glob(os.path.expanduser("~/.cache/matplotlib/fontlist-*.json")):
        shutil.copy(cache, env["MPLCONFIGDIR"])  # saves rebuilding the font list in every kernel
    if threads:
        env.update({name: str(threads) for name in THREAD_VARIABLES})
    return env


def hand_over(user, cwd, kernel_dir, env):
    """Give `user` ("uid:gid") what the kernel writes: its cwd, its kernel folder and their own files."""
    owned = [cwd, env["MPLCONFIGDIR"], *glob.glob(os.path.join(env["MPLCONFIGDIR"], "*"))]
    if kernel_dir:
        owned += [kernel_dir, *glob.glob(os.path.join(kernel_dir, "*"))]
    give_to(user, owned)
    os.chmod(cwd, 0o711)  # bwrap, root without capabilities by then, must still pass through to enter it
    env.update(USER="kernel", LOGNAME="kernel")


def namespace_options(switch_user):
    options = ["--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
               "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if os.geteuid() == 0:
        # No user namespace as root: it would map the kernel to uid 0 outside. The second stage keeps
        # only the two capabilities it needs to become the user, and setuid drops them too.
        return options + ["--cap-drop", "ALL"] + (["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if switch_user else [])
    return options + ["--unshare-user", "--disable-userns"]


def bwrap_options(cwd, kernel_dir, switch_user, root=""):
    """Namespaces, then the filesystem, parents before children (bwrap would make missing parent
    folders private to root, which the kernel's user could not pass through)."""
    mounts = {"/proc": ["--proc"], "/dev": ["--dev"],
              "/tmp": ["--size", str(TMP_MB * 2**20), "--perms", "1777", "--tmpfs"]}
    for path in readable_paths(root):
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
        readable = [*readable_paths(args.import_root), *(["/proc"] if args.inside else HOST_PROC)]
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
    uid, gid = user_ids(user)
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
