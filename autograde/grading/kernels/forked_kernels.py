"""Forked kernels: each submission's kernel is a fresh child of a warm fork server (forkserver.py).

The grading worker owns one fork server for its whole life (`server_for(overrides)`), started
through the sandbox launcher like a kernel (bubblewrap, Landlock, the kernels' user, the rlimits but
the address space, which each kernel sets for itself), with two folders bound into its sandbox: a
kernel folder (connection files and ipc sockets) and a "slot", where the worker builds each
submission's working copy (`slot(overrides)`). For each notebook, SandboxProvisioner (provisioner.py)
asks the server to fork a kernel instead of starting a process; its process (ForkedProcess) polls,
signals and kills through the server, with Popen's return codes (negative: the signal that killed it), which
SandboxedExecute._death_cause reads as for any kernel.
After each submission the server kills every other process of its pid namespace and empties /tmp,
and the worker empties the slot.

The channel to the server is a socketpair framed by multiprocessing.connection; each request has
an id its reply must repeat, and each reply is checked field by field. Anything else (no answer,
a reply out of turn or lacking a field, a refusal, a server that died) retires the server: it is
not used again, a new one starts for the next kernel, and the failure is noted for the submission
being graded (grader_failures), which the worker grades again. No authentication key is
exchanged: a key would be in the memory of every kernel the server forks; what keeps kernels off
the channel is that none holds it (each closes every inherited descriptor before student code
runs) and none can reach the server's (it is not dumpable, and Landlock scopes them apart).

Forked kernels need bubblewrap (a pid namespace of their own, where the reset can find every
process) and Landlock with signal scoping (ABI 6: a kernel may not signal or ptrace the server);
where either is missing, kernels start fresh as before.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from multiprocessing import util
from multiprocessing.connection import Connection
from pathlib import Path

from autograde.grading.kernels import grader_failures, kernel_plan, sandbox

READY_TIMEOUT = 120
REPLY_TIMEOUT = {"preload": 120, "reset": 30}  # seconds; other requests: DEFAULT_REPLY_TIMEOUT
DEFAULT_REPLY_TIMEOUT = 20
MAX_REPLY = 2**16
LANDLOCK_SCOPES_SIGNALS = 6
# What each request's reply must carry besides "id" and "ok", and of which types.
REPLY_FIELDS = {"fork": {"pid": int}, "poll": {"returncode": (int, type(None))}, "signal": {},
                "reset": {"killed": int}, "ping": {"pid": int, "threads": int}, "preload": {"extra_mb": int}}


def usable(plan):
    """Can kernels be forked under this plan (else they start fresh)?"""
    return bool(plan.bwrap) and plan.landlock >= LANDLOCK_SCOPES_SIGNALS


class ServerDied(RuntimeError):
    """The fork server is gone or answered something it should not have: it is not used again."""


class ForkServer:
    """The worker's handle on one fork server."""

    def __init__(self, plan, memory_mb=0, file_mb=0, threads=0):
        self.plan, self.memory_mb, self.file_mb, self.threads = plan, memory_mb, file_mb, threads
        self.lock = threading.Lock()
        self.process = self.channel = None
        self.kernel_dir = self.slot = None
        self.count = self.extra_mb = self.last_id = 0
        self.broken = ""  # why it may not be used again
        self.loaded = set()  # modules loaded on request (preload)

    @property
    def key(self):
        return self.plan, self.memory_mb, self.file_mb, self.threads

    def start(self, slot):
        self.kernel_dir = kernel_plan.private_folder("k")
        self.slot = slot
        ours, theirs = socket.socketpair()
        # no address-space limit on the server itself: each kernel sets its own (forkserver.become_kernel),
        # which may be above this one's since it counts what the server loaded for kernels
        command = kernel_plan.launcher_command(self.plan, 0, self.file_mb, self.threads, self.kernel_dir) + [
            sys.executable, "-m", "autograde.grading.kernels.forkserver", "--fd", str(theirs.fileno()),
            "--log", os.path.join(self.kernel_dir, "forkserver.log")]
        env = {**os.environ}
        env.pop("JPY_PARENT_PID", None)
        self.process = subprocess.Popen(command, cwd=self.slot, env=env, pass_fds=(theirs.fileno(),),
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        theirs.close()
        self.channel = Connection(ours.detach())
        reply = self._receive(0, READY_TIMEOUT, {"ready": bool, "pid": int, "threads": int, "extra_mb": int,
                                                  "package": str})
        if reply["threads"] != 1 or os.path.realpath(reply["package"]) != sandbox.PACKAGE_DIR:
            self.stop()
            raise ServerDied(f"the fork server did not start cleanly: {reply}")
        self.extra_mb = reply["extra_mb"]  # what each kernel's memory limit adds for the server's extra imports
        if os.geteuid() == 0:  # the slot and kernel folder stay the grader's: a kernel writes only in its own
            for folder in (self.slot, self.kernel_dir):
                os.chown(folder, 0, 0)
                os.chmod(folder, 0o711)
        return self

    def _receive(self, request_id, timeout, fields):
        """The reply to request `request_id`, checked strictly: anything else means the server is
        not to be trusted again (ServerDied)."""
        try:
            if not self.channel.poll(timeout):
                raise ServerDied(f"the fork server did not answer in {timeout} s")
            reply = json.loads(self.channel.recv_bytes(MAX_REPLY))
        except (OSError, EOFError, ValueError) as error:
            raise ServerDied(f"the fork server is gone ({type(error).__name__}: {error})" + self._log_tail()) from None
        if not isinstance(reply, dict) or reply.get("id") != request_id or not isinstance(reply.get("ok"), bool):
            raise ServerDied(f"the fork server answered out of turn: {str(reply)[:200]}")
        if not reply["ok"]:
            raise ServerDied(f"the fork server refused: {str(reply.get('error'))[:300]}")
        wrong = [name for name, kind in fields.items() if not isinstance(reply.get(name), kind)
                 or isinstance(reply.get(name), bool) and kind is int]
        if wrong:
            raise ServerDied(f"the fork server's reply lacks {wrong}: {str(reply)[:200]}")
        return reply

    def _log_tail(self):
        try:
            text = Path(self.kernel_dir, "forkserver.log").read_text()[-2000:]
        except OSError:
            return ""
        return f" (its log: {text.strip()})" if text.strip() else ""

    def request(self, op, note=True, **fields):
        """Send one request and return its checked reply. A failure makes this server unusable and,
        with `note`, is noted as the grader's failure for the submission being graded (a ping before
        a submission or a reset after one costs only a new server: the submission is unaffected)."""
        with self.lock:
            if self.broken:
                raise ServerDied(self.broken)
            self.last_id += 1
            try:
                self.channel.send_bytes(json.dumps({"id": self.last_id, "op": op, **fields}).encode())
                return self._receive(self.last_id, REPLY_TIMEOUT.get(op, DEFAULT_REPLY_TIMEOUT), REPLY_FIELDS[op])
            except (OSError, ServerDied) as error:
                self.broken = str(error) if isinstance(error, ServerDied) else f"the fork server is gone ({error})"
                if note:
                    grader_failures.note(self.broken)
                raise ServerDied(self.broken) from None

    def alive(self):
        if self.broken or self.process is None or self.process.poll() is not None:
            return False
        try:
            return self.request("ping", note=False)["threads"] == 1
        except ServerDied:
            return False

    def stop(self):
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except OSError:
                pass
            self.process.wait()
            self.process = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.kernel_dir:
            shutil.rmtree(self.kernel_dir, ignore_errors=True)

    def reset(self):
        """Between submissions: no process of the last one, nothing in /tmp, no kernel folder left."""
        self.request("reset", note=False)
        sandbox.empty_folder(self.kernel_dir, keep=("forkserver.log",))

    def preload(self, modules):
        """Have the server import `modules` (once) for the kernels it forks from now on."""
        missing = sorted(set(modules) - self.loaded)
        if missing:
            self.extra_mb = self.request("preload", modules=missing)["extra_mb"]
            self.loaded.update(missing)

    def new_kernel_dir(self):
        self.count += 1
        path = os.path.join(self.kernel_dir, f"k{self.count}")
        os.mkdir(path, 0o700)
        return path


_server = None  # this process's fork server
_slot = None    # this process's slot: the folder its working copies are built in


def slot_dir():
    global _slot
    if _slot is None or not os.path.isdir(_slot):
        if _slot is None:
            # at this process's exit, also where it is a pool worker, which ends without atexit
            util.Finalize(None, stop_server, exitpriority=10)
        _slot = kernel_plan.private_folder("slot")
        os.chmod(_slot, 0o711)
    return _slot


def server_for(plan, memory_mb=0, file_mb=0, threads=0):
    """This process's fork server for these settings, with its slot bound: started on first use,
    started again when it died, misbehaved or the settings changed."""
    global _server
    key = (plan, memory_mb, file_mb, threads)
    if _server is not None and (_server.key != key or not _server.alive()):
        _server.stop()
        _server = None
    if _server is None:
        _server = ForkServer(plan, memory_mb, file_mb, threads).start(slot_dir())
    return _server


def _drop_server():
    global _server
    if _server is not None:
        _server.stop()
        _server = None


def owns(path):
    """Is `path` in this process's slot (where a forked kernel can see it)?"""
    return _slot is not None and os.path.realpath(path).startswith(os.path.realpath(_slot) + os.sep)


def stop_server():
    global _server, _slot
    if _server is not None:
        _server.stop()
        _server = None
    if _slot is not None:
        shutil.rmtree(_slot, ignore_errors=True)
        _slot = None


@contextmanager
def slot(kernels="forked"):
    """The folder to build one submission's working copy in, where this process's fork server can
    show it to a forked kernel; afterwards the server is reset and the slot emptied. With
    kernels="fresh", None (the caller uses a temporary folder)."""
    if kernels != "forked":
        yield None
        return
    folder = slot_dir()
    sandbox.empty_folder(folder)
    work = tempfile.mkdtemp(dir=folder, prefix="job-")
    try:
        yield work
    finally:
        if _server is not None:
            try:
                _server.reset()
            except ServerDied:
                _drop_server()  # a new sandbox for the next submission
        if os.path.isdir(folder):  # (a server that could not start took its slot with it)
            sandbox.empty_folder(folder)


# --- a forked kernel as jupyter_client sees its process (provisioner.py) ---------------------------------------

class ForkedProcess:
    """What jupyter_client and SandboxedExecute expect of a kernel's Popen, through the fork server."""

    forked = True  # its return codes are Popen's: no bwrap offset

    def __init__(self, server, pid):
        self.server, self.pid = server, pid
        self.returncode = None
        self.stdout = self.stderr = self.stdin = None

    def poll(self):
        if self.returncode is None:
            try:
                self.returncode = self.server.request("poll", pid=self.pid)["returncode"]
            except ServerDied:
                self.returncode = -signal.SIGKILL  # the server, and every kernel of its sandbox, is gone
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("forked kernel", timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum):
        if self.poll() is None:
            try:
                self.server.request("signal", pid=self.pid, signal=int(signum))
            except ServerDied:
                pass

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def terminate(self):
        self.send_signal(signal.SIGTERM)
