"""SandboxedExecute: nbgrader's Execute with the kernel in the sandbox, in a scratch folder of its
own, a notebook time budget and kernel deaths graded (SandboxKernelManager starts the kernel
through grading/sandbox.py)."""
import os
import shutil
import signal
import tempfile
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Enum, Integer

from autograde.grading.checker.cells import run_in_checker
from autograde.grading.checker.remote import Channel, NoAnswer
from autograde.grading.gradebook.flags import add_flag, cell_name
from autograde.grading.kernels import grader_failures
from autograde.grading.kernels.manager import SandboxKernelManager

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
MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "Unable to allocate", "bad_alloc", "out of memory")


def error_output(ename, evalue):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


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


def is_test_cell(cell):
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the kernel in the sandbox, a time budget for the whole notebook
    (on top of the per-cell timeout), and a kernel death graded instead of aborting the notebook:
    the cell where it died and the cells after it get an error, the cells before keep their
    results. Flags L (time), M (memory), K (kernel died)."""

    notebook_timeout = Integer(
        0, help="Seconds the whole notebook may run (0: no budget beyond the per-cell timeout).").tag(config=True)
    checker = Enum(["kernel", "trusted"], "kernel", help="Where test cells run: 'kernel', in the student's "
                   "kernel, as nbgrader runs them; 'trusted', in this process, calling into the student's "
                   "kernel for each use of the student's code (autograde/grading/checker/).").tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxKernelManager)
        super().__init__(*args, **kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._deadline = time.monotonic() + self.notebook_timeout if self.notebook_timeout else None
        self._not_run_reason = None
        self._channel, self._checker_names = None, {}
        self.timeout_func = self._cell_timeout
        metadata = (resources or {}).setdefault("metadata", {})
        path = metadata.get("path")
        scratch = kernel_folder(path) if path else None
        try:
            if scratch:
                metadata["path"] = scratch
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            if self._channel is not None:
                self._channel.client.stop_channels()
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
        if self.checker == "trusted" and is_test_cell(cell):
            return self._check(cell, index), resources
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
            if self.checker == "trusted" and cell.metadata.get("nbgrader", {}).get("grade_id") == "setup":
                exec(compile(cell.source, "<setup>", "exec"), self._checker_names)  # the course's imports
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

    def _check(self, cell, index):
        """Run a test cell in the trusted checker (this process), against the student's kernel."""
        name = cell_name(cell, index)
        cell.execution_count = None
        try:
            deadline = time.monotonic() + self._cell_timeout(cell)
            if self._channel is None:
                self._channel = Channel(self.km.blocking_client(), os.path.dirname(self.km.connection_file),
                                        alive=self._kernel_alive)
                self._channel.client.start_channels()
                self._channel.deadline = deadline
                self._channel.install()
            cell.outputs = run_in_checker(cell.source, self._checker_names, self._channel, f"<{name}>", deadline)
        except TimeoutError:
            cell.outputs = [error_output("CellTimeoutError", f"the test did not finish in {self._cell_timeout(cell)} s "
                                                             "(your code was still running)")]
            self._not_run_reason = ("the kernel was still busy with an earlier test", "L")
            self.shutdown_kernel = "immediate"
        except NoAnswer as failure:
            how = self._death_cause() if not self._kernel_alive() else str(failure)
            cell.outputs = [error_output("KernelDied", f"the kernel did not answer the test: {how}")]
            add_flag(self.nb, "K", f"the kernel did not answer: {how}", name)
            self._not_run_reason = ("the kernel stopped answering in an earlier cell", "K")
            self.shutdown_kernel = "immediate"
        return cell

    def _kernel_alive(self):
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        return process is not None and process.poll() is None

    def _release_memory(self):
        """A memory bomb's objects stay alive in its traceback, which Python and IPython keep (for
        %tb and %debug): drop them, so that the cells after it have memory again. Silent: no
        output, no history, the student's namespace untouched."""
        msg_id = self.kc.execute(RELEASE_MEMORY, silent=True, store_history=False)
        self.wait_for_reply(msg_id)

    def _death_cause(self):
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "it stopped answering"
        if code > 128 and getattr(provisioner, "bwrap", "") and not getattr(process, "forked", False):
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
