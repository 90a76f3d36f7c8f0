"""Forked kernels (autograde/grading/kernels/forked_kernels.py, forkserver.py) with a real fork server in
the real sandbox: each kernel is a fresh child (its own random state, the server's imports), in a
Landlock domain of its own (no signal to the server, no write outside its folder), with the
limits; a reset leaves no process and nothing in /tmp for the next one; a dead server is
started again; a kernel's death is reported like a fresh kernel's."""
import ast
import json
import os
import signal

import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from autograde.cause import MIME as CAUSE_MIME
from autograde.grading.kernels import forked_kernels, forkserver, kernel_plan, sandbox
from autograde.grading.kernels.manager import SandboxKernelManager
from autograde.grading.kernels.provisioner import SandboxProvisioner

PLAN = kernel_plan.make_plan()
pytestmark = pytest.mark.skipif(not forked_kernels.usable(PLAN),
                                reason="forked kernels need bubblewrap and Landlock >= 6")
MEMORY_MB = 2048
LAUNCHED = []  # the process objects of the kernels started here


@pytest.fixture(autouse=True)
def record_launches(monkeypatch):
    launch = SandboxProvisioner.launch_kernel

    async def recorded(self, cmd, **kwargs):
        info = await launch(self, cmd, **kwargs)
        LAUNCHED.append(self.process)
        return info
    monkeypatch.setattr(SandboxProvisioner, "launch_kernel", recorded)


def config(kernels="forked", preload=()):
    c = Config()
    c.SandboxKernelManager.preload = list(preload)
    if kernels:  # None: the manager's default
        c.SandboxKernelManager.kernels = kernels
    c.SandboxKernelManager.bwrap = PLAN.bwrap
    c.SandboxKernelManager.landlock = bool(PLAN.landlock)
    c.SandboxKernelManager.user = PLAN.user
    c.SandboxKernelManager.memory_mb = MEMORY_MB
    c.SandboxKernelManager.threads = 1
    return c


def run(*sources, allow_errors=True, kernels="forked", preload=()):
    """Run cells in a forked kernel in this process's slot, as the worker would; the outputs' text
    per cell, and the kernel's process object."""
    with forked_kernels.slot("forked") as job:
        os.chmod(job, 0o777)  # only Landlock keeps the kernel out of it (and out of /tmp's bound slot)
        work = os.path.join(job, "notebook")
        os.mkdir(work)
        nb = new_notebook(cells=[new_code_cell(source) for source in sources])
        client = NotebookClient(nb, timeout=60, allow_errors=allow_errors, kernel_name="python3",
                                kernel_manager_class=SandboxKernelManager, config=config(kernels, preload),
                                resources={"metadata": {"path": work}})
        client.died = None
        try:
            client.execute()
        except DeadKernelError:
            client.died = LAUNCHED[-1].poll()
        texts = ["".join(o.get("text", "") or json.dumps(o.get("data", {})) + o.get("evalue", "")
                         for o in cell.outputs) for cell in nb.cells]
        return texts, client


@pytest.fixture(scope="module", autouse=True)
def stop_the_server():
    yield
    forked_kernels.stop_server()


def test_a_kernel_is_a_child_of_the_warm_server_and_sees_only_it():
    texts, client = run(
        "import os, sys\nprint(os.getpid(), os.getppid(), 'torch' in sys.modules, 'numpy' in sys.modules)",
        "print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))",
        "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)",
        "print(os.getcwd() == os.environ['HOME'], os.environ.get('MPLBACKEND'))",
    )
    pid, ppid, torch_loaded, numpy_loaded = texts[0].split()
    server = forked_kernels._server
    assert server is not None and server.alive()
    assert ppid == str(server.request("ping")["pid"]) and pid != ppid
    assert torch_loaded == numpy_loaded == "True"  # paid once, in the server
    assert set(json.loads(texts[1])) <= {1, int(ppid), int(pid)}  # its own pid namespace: bwrap, the server, itself
    assert int(texts[2]) == MEMORY_MB + server.extra_mb
    assert texts[3].split() == ["True", "module://matplotlib_inline.backend_inline"]


def test_what_kernels_import_on_first_use_is_loaded_and_not_counted_against_their_memory():
    """sympy (torch's first backward), pygments (the first traceback)... come with the fork, and
    what one assignment's kernels need (here scikit-learn) once it is asked for; each kernel's
    address-space limit is raised by what they took in the server, so a kernel that never uses them
    has the room a fresh kernel has."""
    limit = "import resource\nprint(resource.getrlimit(resource.RLIMIT_AS)[0] // 2**20)"
    loaded = "import sys\nprint(sorted(n for n in %r if n in sys.modules))"
    texts, _ = run(loaded % (forkserver.ON_FIRST_USE + ("sklearn.datasets",),), limit)
    server = forked_kernels._server
    assert ast.literal_eval(texts[0]) == sorted(forkserver.ON_FIRST_USE)  # not scikit-learn, which nobody asked for
    assert int(texts[1]) == MEMORY_MB + server.extra_mb
    before = server.extra_mb
    texts, _ = run(loaded % (("sklearn.datasets",),), limit, preload=("sklearn.datasets",))
    assert ast.literal_eval(texts[0]) == ["sklearn.datasets"]
    assert server.extra_mb > before + 50  # scikit-learn's and scipy's libraries alone take more
    assert int(texts[1]) == MEMORY_MB + server.extra_mb
    fresh, _ = run(limit, kernels="fresh")
    assert int(fresh[0]) == MEMORY_MB


def test_each_kernel_has_its_own_random_state():
    code = "import numpy, random, torch\nprint(numpy.random.randint(2**31), random.getrandbits(64), torch.initial_seed())"
    first, _ = run(code)
    second, _ = run(code)
    a, b = first[0].split(), second[0].split()
    assert a[0] != b[0] and a[1] != b[1] and a[2] != b[2]


def test_a_kernel_cannot_signal_the_server_nor_write_outside_its_folder():
    texts, _ = run(
        "import os, signal\ntry:\n    os.kill(os.getppid(), signal.SIGKILL)\n    print('signalled')\n"
        "except OSError as e:\n    print('refused', e.errno)",
        "try:\n    open('../escape.txt', 'w').write('x')\n    print('wrote')\nexcept OSError as e:\n    print('refused')",
        "try:\n    open('/proc/%d/mem' % os.getppid(), 'rb').read(1)\n    print('read')\nexcept OSError:\n    print('refused')",
    )
    assert texts[0].startswith("refused") and texts[1].strip() == "refused" and texts[2].strip() == "refused"
    assert forked_kernels._server.alive()


def test_a_reset_leaves_nothing_for_the_next_kernel():
    texts, _ = run("import subprocess, os\nsubprocess.Popen(['sleep', '600'])\n"
                   "open('/tmp/secret.txt', 'w').write('answers')\nprint(os.getpid())")
    texts, _ = run("import os\nprint(sorted(os.listdir('/tmp')))\n"
                   "print([open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc') if p.isdigit()])")
    assert "secret.txt" not in texts[0] and "sleep" not in texts[0]


def test_a_kernel_death_is_reported_with_its_signal_and_the_server_lives_on():
    _, client = run("import ctypes\nctypes.string_at(0)")
    assert client.died == -signal.SIGSEGV  # as Popen says it: SandboxedExecute names it from that
    texts, _ = run("print('still here')")
    assert texts[0].strip() == "still here"


def test_a_dead_server_is_started_again():
    server = forked_kernels.server_for(PLAN, MEMORY_MB, 0, 1)
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait()
    texts, _ = run("print('forked again')")
    assert texts[0].strip() == "forked again"
    assert forked_kernels._server is not server


def test_the_course_package_starts_afresh_with_its_hooks_in_each_kernel():
    """The server imported autograde before any shell existed: each kernel imports it again, so its
    hooks (here: the cause of a failed check) are installed, and the outputs are a fresh kernel's."""
    cells = ("import sys\nprint('autograde' in sys.modules)",
             "import numpy as np\nfrom autograde import check_gradient\ncheck_gradient('dx', np.ones(2), np.ones(2))",
             "check_gradient('dx', np.ones(2), np.zeros(2))")
    forked, _ = run(*cells)
    fresh, _ = run(*cells, kernels="fresh")
    assert forked[0].strip() == "False"
    assert CAUSE_MIME in forked[2] and "dx is wrong" in forked[2]
    assert forked == fresh


def test_a_figure_is_an_image_as_in_a_fresh_kernel():
    """The server imported matplotlib before any shell existed: each kernel still shows a figure as
    an image (PNG), not as the text `<Figure size ...>`, as a fresh kernel does."""
    cells = ("import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 1))\nax.plot([0, 1])\nplt.show()",
             "plt.plot([1, 0])")
    forked, _ = run(*cells)
    fresh, _ = run(*cells, kernels="fresh")
    for kernel in (forked, fresh):
        assert all("image/png" in text for text in kernel), kernel


def test_a_kernel_is_forked_unless_the_config_says_fresh():
    """Nothing set: the kernel is a child of the worker's fork server; kernels = "fresh": a process of
    its own, whose parent is bubblewrap's init."""
    parent = "import os\nprint(os.getppid())"
    by_default, _ = run(parent, kernels=None)
    fresh, _ = run(parent, kernels="fresh")
    assert int(by_default[0]) == forked_kernels._server.request("ping")["pid"]
    assert int(fresh[0]) == 1


def test_a_kernel_holds_no_descriptor_of_the_server():
    """Every descriptor the kernel holds is its own (made after the fork): none is the server's
    channel, nor anything else the server has open."""
    texts, _ = run("import os, json\nfds = {}\nfor fd in os.listdir('/proc/self/fd'):\n    try:\n"
                   "        fds[fd] = os.readlink(f'/proc/self/fd/{fd}')\n    except OSError:\n        pass\n"
                   "print(json.dumps(fds))")
    held = json.loads(texts[0])
    ours = forked_kernels._server
    [server] = [pid for pid in descendants(ours.process.pid) if pid in fork_servers()
                and pid_in_namespace(pid) == ours.request("ping")["pid"]]
    server_has = {os.readlink(f"/proc/{server}/fd/{fd}") for fd in os.listdir(f"/proc/{server}/fd")}
    shared = {target for target in held.values() if target in server_has and not target.startswith("/dev/")}
    assert not shared, (shared, held)


def fork_servers():
    """Host pids of fork servers' Python processes and of the kernels forked from them."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if argv[1:3] == [b"-m", b"autograde.grading.kernels.forkserver"]:
            found.append(int(entry))
    return found


def descendants(pid):
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for task in os.listdir(f"/proc/{parent}/task"):
            with open(f"/proc/{parent}/task/{task}/children") as children:
                todo += [int(child) for child in children.read().split()]
        found.append(parent)
    return found


def pid_in_namespace(pid):
    with open(f"/proc/{pid}/status") as status:
        return int(next(line for line in status if line.startswith("NSpid:")).split()[-1])


def test_a_read_only_folder_left_in_tmp_is_gone_for_the_next_kernel():
    texts, _ = run("import os\nos.makedirs('/tmp/locked/inner')\nopen('/tmp/locked/inner/answers.txt', 'w').write('x')\n"
                   "os.chmod('/tmp/locked/inner', 0o555)\nos.chmod('/tmp/locked', 0o555)\nprint(os.listdir('/tmp'))")
    assert "locked" in texts[0]
    server = forked_kernels._server
    texts, _ = run("import os\nprint(sorted(os.listdir('/tmp')))")
    assert forked_kernels._server is server  # the reset emptied /tmp itself: no new sandbox was needed
    # nothing but the grader's own read-only mounts, when the package or the environment lives in /tmp
    grader = sorted({path.split("/")[2] for path in sandbox.readable_paths(kernel_plan.import_root())
                     if path.startswith("/tmp/")})
    assert texts[0].strip() == str(grader)


def test_a_reply_out_of_turn_retires_the_server():
    """A reply whose id is not the request's (or that lacks what the request asks for) is not taken:
    the server is not used again and the failure is the grader's, noted for the submission."""
    from autograde.grading.kernels import grader_failures

    server = forked_kernels.server_for(PLAN, MEMORY_MB, 0, 1)
    server.last_id += 5  # the next reply carries an id the server never saw: as if a stale one were waiting
    server.channel.send_bytes(json.dumps({"id": server.last_id - 2, "op": "ping"}).encode())
    with grader_failures.watching() as failures:
        with pytest.raises(forked_kernels.ServerDied, match="out of turn"):
            server.request("ping")
    assert failures and "out of turn" in failures[0]
    assert not server.alive()
    texts, _ = run("print('a new server')")
    assert texts[0].strip() == "a new server" and forked_kernels._server is not server
