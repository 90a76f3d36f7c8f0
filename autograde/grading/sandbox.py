"""Start a student's kernel under limits: `python -m autograde.grading.sandbox [limits] -- <kernel command>`.

The launcher runs in the kernel's own process (it `exec`s the kernel), so its limits bind the
student's code and everything it starts:
  - a memory cap (RLIMIT_AS): a memory bomb raises MemoryError instead of taking the machine down;
  - a cap on the size of any file the kernel writes (RLIMIT_FSIZE), no core dumps;
  - one thread pool per core share, so parallel kernels do not fight over the cores;
  - when started as root with --user, the kernel drops to that unprivileged user: it can then
    read the course but write only its own working directory (the gradebook and the other
    students' files are out of reach, not just checked afterwards).
`launcher_command` builds the prefix; `autograde.grading.preprocessors.SandboxKernelManager` puts it in
front of the kernel command. Only the standard library is imported here: it runs once per kernel.
"""
import argparse
import glob
import json
import os
import pwd
import resource
import shutil
import stat
import sys

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
CONNECTION_COPY = ".kernel-connection.json"
KERNEL_LOG = ".kernel.log"


def launcher_command(memory_mb=0, file_mb=0, user="", threads=0):
    """The command that goes before the kernel's own, then "--"."""
    return [sys.executable, os.path.abspath(__file__), *launcher_options(memory_mb, file_mb, user, threads), "--"]


def launcher_options(memory_mb=0, file_mb=0, user="", threads=0):
    options = []
    if memory_mb:
        options += ["--memory-mb", str(memory_mb)]
    if file_mb:
        options += ["--file-mb", str(file_mb)]
    if user:
        options += ["--user", user]
    if threads:
        options += ["--threads", str(threads)]
    return options


def default_user():
    """'nobody' when running as root and 'nobody' can run this Python; otherwise '' (no switch).

    Student code must not run as root. But an interpreter installed under a private folder
    (e.g. /root/.pyenv) cannot be run by another user at all; then kernels keep the current user
    and the grader relies on checking the course after every run (autograde.grading.course_guard).
    """
    if os.geteuid() != 0:
        return ""
    try:
        user = pwd.getpwnam("nobody").pw_name
    except KeyError:
        return ""
    needed = [os.path.realpath(sys.executable), sys.prefix, sys.base_prefix, os.path.dirname(__file__)]
    return user if all(open_to_others(path) for path in needed) else ""


def open_to_others(path):
    """Can a user who owns nothing here reach and read `path`?"""
    path = os.path.realpath(path)
    if not os.stat(path).st_mode & stat.S_IROTH:
        return False
    parent = os.path.dirname(path)
    while True:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            return False
        if parent == os.path.dirname(parent):
            return True
        parent = os.path.dirname(parent)


def set_limits(memory_mb, file_mb):
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory_mb:
        limit = memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    if file_mb:
        limit = file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def drop_privileges(user, kernel_cmd, env):
    """Become `user`; give it the working directory, its own HOME and a readable connection file."""
    entry = pwd.getpwnam(user)
    cwd = os.getcwd()
    os.chown(cwd, entry.pw_uid, entry.pw_gid)
    os.chmod(cwd, 0o700)
    kernel_cmd = list(kernel_cmd)
    if "-f" in kernel_cmd:  # the connection file is private to root: hand the kernel its own copy
        index = kernel_cmd.index("-f") + 1
        with open(kernel_cmd[index]) as f:
            info = json.load(f)
        copy = os.path.join(cwd, CONNECTION_COPY)
        with open(copy, "w") as f:
            json.dump(info, f)
        os.chown(copy, entry.pw_uid, entry.pw_gid)
        os.chmod(copy, 0o600)
        kernel_cmd[index] = copy
    mpl = os.path.join(cwd, ".matplotlib")
    os.makedirs(mpl, exist_ok=True)
    for cache in glob.glob(os.path.expanduser("~/.cache/matplotlib/fontlist-*.json")):
        shutil.copy(cache, mpl)  # saves rebuilding the font list in every kernel
    for path in (mpl, *glob.glob(os.path.join(mpl, "*"))):
        os.chown(path, entry.pw_uid, entry.pw_gid)
    env.update(HOME=cwd, USER=user, LOGNAME=user, MPLCONFIGDIR=mpl, IPYTHONDIR=os.path.join(cwd, ".ipython"),
               TMPDIR=cwd, PYTHONDONTWRITEBYTECODE="1")
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (512, 512))  # no fork bombs (counts threads too)
    return kernel_cmd


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograde.grading.sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--file-mb", type=int, default=0)
    parser.add_argument("--user", default="")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("kernel", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kernel_cmd = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    if not kernel_cmd:
        parser.error("no kernel command after --")
    env = dict(os.environ)
    if args.threads:
        env.update({name: str(args.threads) for name in THREAD_VARIABLES})
    set_limits(args.memory_mb, args.file_mb)
    if args.user and os.geteuid() == 0:
        kernel_cmd = drop_privileges(args.user, kernel_cmd, env)
    quiet_kernel_log()
    os.execve(kernel_cmd[0], kernel_cmd, env)


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
