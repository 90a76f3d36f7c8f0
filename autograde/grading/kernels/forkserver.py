"""A fork server for student kernels: `python -m autograde.grading.kernels.forkserver --fd N`.

A grading worker starts one through the sandbox launcher (autograde.grading.kernels.sandbox), so it runs
inside bubblewrap as the kernels' user, with Landlock, no network, its own pid namespace and a
kernel's rlimits except the address space, which each kernel sets for itself. It pays the slow
imports once (ipykernel, numpy, torch, matplotlib, what autograde.chapters imports and what
kernels import on first use), then, for each submission, forks one child that becomes that
submission's kernel: the child closes every descriptor it inherited but its standard streams
(the server's channel among them) before anything else, reseeds what a fresh process would have
seeded differently, applies the per-kernel limits and a Landlock domain of its own (writes only
under its working directory, its kernel folder and /tmp; no signal to, no ptrace of the server),
then runs ipykernel's IPKernelApp in-process on its connection file.

It answers requests on the inherited end N of a socketpair, which no path in the sandbox leads
to and no kernel holds, framed by multiprocessing.connection (send_bytes / recv_bytes), each a
JSON object with the request's "id", which the reply repeats (the grader checks every reply
strictly and treats anything else as a dead server):
  {"op": "fork", "connection_file", "cwd", "env", "memory_mb", "file_mb", "kernel_dir", "landlock"} -> {"pid"}
  {"op": "poll", "pid"}            -> {"returncode": None | int (negative: killed by that signal)}
  {"op": "signal", "pid", "signal"}
  {"op": "reset"}                  -> {"killed"}: every other process of the namespace killed, /tmp
                                      emptied, both checked; an error if anything survived
  {"op": "ping"}                   -> {"pid", "threads"}: a server with more than one thread must not fork
  {"op": "preload", "modules"}     -> {"extra_mb"}: imports them for the kernels forked from now on
Every reply has "id" and "ok"; a failed request has "error" instead of the op's fields.

Only one kernel at a time: between submissions the worker asks for a reset, so nothing of one
student (a process left behind, a file in /tmp) is there for the next. Threads must not exist
when forking: thread counts come from the environment before the imports, and no torch or numpy
operation runs here. PYTHONHASHSEED cannot change after the interpreter started: every kernel of
one server hashes str with the same seed (a fresh kernel gets a random one each time); that only
changes the iteration order of sets of strings, never a score the course's tests compute.
"""
import ctypes
import json
import os
import random
import signal
import sys
import tempfile
import time
from contextlib import contextmanager
from multiprocessing.connection import Connection

from autograde.grading.kernels import sandbox

PR_SET_DUMPABLE = 4
MAX_REQUEST = 2**20  # a fork request carries an environment and a few paths
RESET_ROUNDS = 50    # kill(-1) rounds, 10 ms apart, before a reset gives up (fails closed)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel sets in a fresh kernel
WARM = ("numpy", "torch", "matplotlib", "matplotlib.pyplot", "IPython", "ipykernel.kernelapp",
        "ipykernel.ipkernel", "ipykernel.zmqshell", "ipykernel.debugger", "autograde", "autograde.check")
# What every kernel imports on first use: torch's first backward with an upstream gradient imports
# torch.fx's symbolic shapes (and sympy), IPython's first traceback stack_data and pygments, the
# first figure matplotlib's inline backend. Loaded here too; so are, on request ("preload"), what
# one assignment's kernels import on first use (course.FIRST_USE_IMPORTS: scikit-learn for the
# digits...). Their address space is added to each kernel's memory limit (extra_mb), so that a
# kernel that never uses them has the room a fresh kernel would have.
ON_FIRST_USE = ("torch.fx.experimental.symbolic_shapes", "stack_data", "pygments.lexers.python",
                "pygments.formatters.terminal256", "pygments.formatters.html", "matplotlib_inline.backend_inline")


def warm():
    """Import what kernels import, without starting a thread or running an operation. Returns the
    address space (MB) before ON_FIRST_USE, from which extra_mb counts."""
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)  # as ipykernel would, before matplotlib reads it
    import importlib
    import pkgutil

    with one_blas_thread():
        for name in WARM:
            importlib.import_module(name)
    import autograde.chapters as chapters

    for module in pkgutil.walk_packages(chapters.__path__, "autograde.chapters."):
        try:
            importlib.import_module(module.name)
        except Exception:  # noqa: BLE001 (a chapter that cannot import here imports in the kernel, or fails there)
            pass
    for name in ("autograde.check", "autograde.table", "autograde.numeric", "autograde.guard", "autograde.reference"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001
            pass
    base_mb = address_space_mb()  # what every kernel imports is loaded; extra_mb counts what follows
    load(ON_FIRST_USE)
    rehearse_a_traceback()
    return base_mb


def load(modules):
    import importlib

    with one_blas_thread():
        for name in modules:
            try:
                importlib.import_module(name)
            except ImportError:  # not installed here: a kernel that needs it fails as a fresh one would
                pass


@contextmanager
def one_blas_thread():
    """OpenBLAS (numpy's, scipy's) starts its thread pool when it loads, unless told one thread:
    each kernel gets its share back after the fork (blas_threads). torch's OpenMP pool starts on
    first use, which never happens here."""
    wanted = os.environ.get("OPENBLAS_NUM_THREADS")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"
    try:
        yield
    finally:
        if wanted is None:
            del os.environ["OPENBLAS_NUM_THREADS"]
        else:
            os.environ["OPENBLAS_NUM_THREADS"] = wanted


def rehearse_a_traceback():
    """Format one traceback as IPython formats a student's error, so that each kernel inherits the
    caches its first error would fill (inspect's map of module files, pygments' compiled lexers):
    0.1 s of every kernel with an error, spent once here."""
    import linecache

    from IPython.core.ultratb import VerboseTB

    source = "def rehearsal():\n    raise ValueError('a rehearsal')\n"
    linecache.cache["<rehearsal>"] = (len(source), None, source.splitlines(True), "<rehearsal>")
    namespace = {}
    exec(compile(source, "<rehearsal>", "exec"), namespace)
    try:
        namespace["rehearsal"]()
    except ValueError:
        VerboseTB().structured_traceback(*sys.exc_info())
    finally:
        del linecache.cache["<rehearsal>"]


def address_space_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmSize:"))


def thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return -1


def set_dumpable(value):
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, int(value), 0, 0, 0)


class Server:
    def __init__(self, channel, base_mb=0):
        self.channel, self.base_mb = channel, base_mb
        self.extra_mb = self.measure_extra_mb()
        self.children = {}   # pid -> returncode (None while running)

    def serve(self):
        while True:
            try:
                request = json.loads(self.channel.recv_bytes(MAX_REQUEST))
            except EOFError:  # the grader closed its end: nothing more to do
                return
            reply = {"id": request.get("id") if isinstance(request, dict) else None}
            try:
                reply.update(ok=True, **(getattr(self, f"op_{request['op']}")(request) or {}))
            except Exception as error:  # noqa: BLE001 (a bad request gets an answer, the server lives on)
                reply.update(ok=False, error=f"{type(error).__name__}: {error}")
            self.channel.send_bytes(json.dumps(reply).encode())

    def op_ping(self, request):
        return {"pid": os.getpid(), "threads": thread_count()}

    def op_preload(self, request):
        load(request["modules"])
        if thread_count() != 1:
            raise RuntimeError(f"loading {request['modules']} started threads: the server will not fork")
        self.extra_mb = self.measure_extra_mb()
        return {"extra_mb": self.extra_mb}

    def measure_extra_mb(self):
        """The address space of what was loaded for kernels on first use (see ON_FIRST_USE), measured
        right after loading: each kernel gets exactly the figure the worker was told, not one that
        moved with the server's own allocations since."""
        return address_space_mb() - self.base_mb

    def op_fork(self, request):
        if thread_count() != 1:
            raise RuntimeError(f"the fork server has {thread_count()} threads: it will not fork")
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self.channel.close()
                close_inherited_descriptors()
                code = become_kernel(request, self.extra_mb)
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:  # noqa: BLE001 (whatever happens, the child never returns into the server)
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        self.children[pid] = None
        return {"pid": pid}

    def reap(self, pid):
        if pid in self.children and self.children[pid] is None:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                self.children[pid] = os.waitstatus_to_exitcode(status)
        return self.children.get(pid, 0)

    def op_poll(self, request):
        return {"returncode": self.reap(request["pid"])}

    def op_signal(self, request):
        if self.reap(request["pid"]) is None:
            os.kill(request["pid"], request["signal"])

    def op_reset(self, request):
        """Nothing of the last submission survives: no process but the namespace's init and this
        server, nothing in /tmp. Checked, not assumed: if anything is left, the reset fails and the
        grader starts a new sandbox instead."""
        killed = 0
        for _ in range(RESET_ROUNDS):
            others = other_processes()
            if not others:
                break
            killed += len(others)
            try:
                os.kill(-1, signal.SIGKILL)  # every process this server may signal, at once: its namespace's
            except ProcessLookupError:
                pass
            reap_all()
            time.sleep(0.01)
        self.children.clear()
        survivors = other_processes()
        if survivors:
            raise RuntimeError(f"{len(survivors)} processes survived the reset")
        left = sandbox.empty_folder("/tmp", keep=sandbox.mounts_under("/tmp"))
        if left:
            raise RuntimeError(f"/tmp could not be emptied ({len(left)} entries left)")
        return {"killed": killed}


def other_processes():
    """The pids of the namespace but its init (1) and this server, after reaping this server's children."""
    reap_all()
    return [pid for pid in (int(name) for name in os.listdir("/proc") if name.isdigit()) if pid not in (1, os.getpid())]


def reap_all():
    while True:
        try:
            done, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not done:
            return


def close_inherited_descriptors():
    """In a forked child, before any student code: every descriptor but the standard streams goes,
    the server's channel and anything a library of the server opened alike."""
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def become_kernel(request, extra_mb=0):
    """In the child: leave nothing of the server's, then run the kernel until it is shut down."""
    set_dumpable(True)  # its own /proc entries stay its own (the server is not dumpable)
    os.setsid()
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    from autograde.grading.kernels import landlock

    memory_mb = request.get("memory_mb", 0)
    sandbox.set_limits(memory_mb + extra_mb if memory_mb else 0, request.get("file_mb", 0))
    rules = request.get("landlock")
    if rules:  # a domain of its own inside the server's: no signal, no ptrace out of it
        landlock.restrict(rules["readable"], rules["writable"], refuse_tcp=False)
    sandbox.quiet_kernel_log()
    blas_threads(os.environ.get("OPENBLAS_NUM_THREADS"))
    reseed()
    # --matplotlib=inline: what importing pyplot does in a fresh kernel's shell (figures shown as
    # images); the server imported pyplot before any shell existed, so it cannot have done it.
    sys.argv = [os.path.join(os.path.dirname(__import__("ipykernel").__file__), "..", "ipykernel_launcher.py"),
                "-f", request["connection_file"], "--matplotlib=inline"]
    sys.path[0] = os.getcwd()  # as `python -m ipykernel_launcher` started here would have it
    # The course's own package starts afresh, as in a fresh kernel: the notebook's first import runs
    # it again (a few milliseconds: its dependencies stay loaded) and installs its hooks in this
    # kernel's shell, which did not exist when the server imported it.
    for name in [name for name in sys.modules if name.partition(".")[0] == "autograde"]:
        del sys.modules[name]
    import importlib

    importlib.invalidate_caches()
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(sys.argv[1:])
    app.start()
    return 0


def blas_threads(setting):
    """The OpenBLAS threads a fresh kernel with this environment would have (the server loaded it with one)."""
    count = int(setting) if setting and setting.isdigit() else os.cpu_count() or 1
    if count > 1:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=count, user_api="blas")


def reseed():
    """What a fresh process seeds from the system's randomness is seeded again here, from
    os.urandom as a fresh process does: random, numpy's global generator, torch's default
    generator (its initial_seed is random in a fresh process too), tempfile's name sequence."""
    random.seed(int.from_bytes(os.urandom(8), "little"))
    tempfile._name_sequence = None  # its own temporary names, not the server's sequence
    if "numpy" in sys.modules:
        import numpy

        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)


def main(argv=None):
    import argparse

    parser = argparse.ArgumentParser(prog="python -m autograde.grading.kernels.forkserver")
    parser.add_argument("--fd", type=int, required=True, help="the inherited end of the grader's socketpair")
    parser.add_argument("--log", default="", help="where the server's own output goes")
    args = parser.parse_args(argv)
    if args.log:
        fd = os.open(args.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
    channel = Connection(args.fd)
    set_dumpable(False)  # a kernel of the same user can neither ptrace it nor read its memory
    server = Server(channel, base_mb=warm())
    import autograde

    channel.send_bytes(json.dumps({"id": 0, "ok": True, "ready": True, "pid": os.getpid(), "threads": thread_count(),
                                   "extra_mb": server.extra_mb, "package": autograde.__path__[0]}).encode())
    server.serve()


if __name__ == "__main__":
    main()
