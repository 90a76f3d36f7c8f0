"""nbgrader preprocessors for this course, one small class per grading step.

They are composed in nbgrader_config.py's lists next to nbgrader's own, so `nbgrader autograde`
and `python -m autograde grade` grade the same way (the pipeline adds parallelism, working
copies and the summary around them):

  sanitize:  RestoreGradedCells (before DeduplicateIds), ScanStudentCode (after OverwriteCells)
  autograde: SandboxedExecute (in place of Execute), StderrIsNotFailure, LimitOutputSize
  feedback:  HideHiddenTests, ShowFlags

Why StderrIsNotFailure: nbgrader gives a test cell zero points if anything reached stderr.
Torch and numpy print warnings there, and tqdm draws progress bars there, so a correct answer
could score zero. In this course a test fails by raising; StderrIsNotFailure moves stderr text
of cells without an error to stdout (prefixed, so nothing is hidden) before grades are saved.
"""
import os
import signal
import time

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_markdown_cell, new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Integer, Unicode

from . import cell_integrity, hidden, sandbox, scan
from .flags import LEGEND, METADATA_KEY, add_flag, notebook_flags

MEMORY_SIGNS = ("MemoryError", "can't allocate memory", "Unable to allocate", "bad_alloc", "out of memory")


def cell_name(cell, index):
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"


def error_output(ename, evalue):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class StderrIsNotFailure(NbGraderPreprocessor):
    prefix = "[stderr] "

    def preprocess_cell(self, cell, resources, index):
        outputs = cell.get("outputs", [])
        if any(out.get("output_type") == "error" for out in outputs):
            return cell, resources
        for out in outputs:
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                out["name"] = "stdout"
                text = out.get("text", "")
                out["text"] = "".join(self.prefix + line for line in text.splitlines(keepends=True))
        return cell, resources


# --- sanitizing: what the student did to the cells -------------------------------------------

class RestoreGradedCells(NbGraderPreprocessor):
    """Report duplicated, retyped and edited graded/locked cells (nbgrader repairs those) and put
    deleted ones back in place (nbgrader's own re-insertion can crash). Flag T."""

    def preprocess(self, nb, resources):
        nb.metadata.pop(METADATA_KEY, None)  # flags come from the grader, never from the file
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            master = cell_integrity.master_cells(gb, info["notebook"], info["assignment"])
        found = cell_integrity.findings(nb, master)
        cell_integrity.drop_duplicate_ids(nb)
        for name, message in found + cell_integrity.restore_missing(nb, master):
            add_flag(nb, "T", message, name)
        return nb, resources


class ScanStudentCode(NbGraderPreprocessor):
    """Read every cell the student could edit, outside the kernel: autograd calls (A), patches of
    the checks, numpy or torch (P), references to grading files (W)."""

    def preprocess(self, nb, resources):
        protected, own = set(), set()
        for cell in nb.cells:
            if cell.cell_type == "code":
                own |= scan.defined_functions(cell.source)
                if utils.is_locked(cell):
                    protected |= scan.bound_names(cell.source)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or utils.is_locked(cell):
                continue
            for code, line, message in scan.scan_source(cell.source, protected, own):
                add_flag(nb, code, f"line {line}: {message}", cell_name(cell, index))
        return nb, resources


# --- running: the kernel under limits -----------------------------------------------------------

class SandboxKernelManager(AsyncKernelManager):
    """Starts kernels through autograde.sandbox (memory and file-size limits, unprivileged user)."""

    memory_mb = Integer(0, help="Address-space limit of a kernel in MB (0: none).").tag(config=True)
    file_mb = Integer(0, help="Largest file a kernel may write, in MB (0: no limit).").tag(config=True)
    user = Unicode("", help="User to run kernels as when grading as root ('' keeps the current user).").tag(
        config=True)
    threads = Integer(0, help="numpy/torch threads per kernel (0: library default).").tag(config=True)

    def format_kernel_cmd(self, extra_arguments=None):
        kernel = super().format_kernel_cmd(extra_arguments)
        return sandbox.launcher_command(self.memory_mb, self.file_mb, self.user, self.threads) + kernel


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
        self._hide_notebooks((resources or {}).get("metadata", {}).get("path"))
        nb, resources = super().preprocess(nb, resources, km)
        self._flag_limits(nb)
        return nb, resources

    def _hide_notebooks(self, path):
        """A kernel that runs as another user must not read the graded notebook (hidden tests)."""
        if path and os.geteuid() == 0 and self.config.SandboxKernelManager.get("user"):
            for name in os.listdir(path):
                if name.endswith(".ipynb"):
                    os.chmod(os.path.join(path, name), 0o600)

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
            return super().preprocess_cell(cell, resources, index)
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

    def _death_cause(self):
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return "it stopped answering"
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


class LimitOutputSize(NbGraderPreprocessor):
    """nbgrader's LimitOutput caps the number of lines; this caps their size, so a cell printing
    megabytes on one line cannot bloat the graded notebook and the feedback. Flag O."""

    max_chars = Integer(20000, help="Most characters kept per text output.").tag(config=True)
    max_data_chars = Integer(2_000_000, help="Largest image or other binary output kept (base64 chars).").tag(
        config=True)

    def preprocess(self, nb, resources):
        for index, cell in enumerate(nb.cells):
            if any([self._limit(out) for out in cell.get("outputs", [])]):
                add_flag(nb, "O", "output too large: cut", cell_name(cell, index))
        return nb, resources

    def _limit(self, out):
        truncated = False
        if out.get("output_type") == "stream" and len(out.get("text", "")) > self.max_chars:
            out["text"] = out["text"][:self.max_chars] + "\n... Output truncated ...\n"
            truncated = True
        for mime, value in list(out.get("data", {}).items()):
            text = "".join(value) if isinstance(value, list) else value if isinstance(value, str) else ""
            if mime.startswith("text/") and len(text) > self.max_chars:
                out["data"][mime] = text[:self.max_chars] + "\n... Output truncated ..."
                truncated = True
            elif not mime.startswith("text/") and len(text) > self.max_data_chars:
                del out["data"][mime]
                truncated = True
        return truncated


# --- feedback: what the student sees ------------------------------------------------------------

class HideHiddenTests(NbGraderPreprocessor):
    """Feedback shows each test's result and message, never the hidden test code (neither the
    source nor the traceback lines that quote it)."""

    def preprocess(self, nb, resources):
        student_cells = {
            cell.get("execution_count") for cell in nb.cells
            if cell.cell_type == "code" and not utils.is_grade(cell) and not utils.is_locked(cell)
        }
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            cell.source = hidden.hide_hidden_tests(cell.source)
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = hidden.student_traceback(out.get("traceback", []), student_cells)
        return nb, resources


class ShowFlags(NbGraderPreprocessor):
    """Put what the grader noticed (the flags) in a note at the top of the feedback."""

    def preprocess(self, nb, resources):
        flags = notebook_flags(nb)
        if flags:
            lines = ["**Notes from the grader**", ""]
            for flag in flags:
                where = f"`{flag['cell']}`: " if flag.get("cell") else ""
                lines.append(f"- **{flag['code']}** ({LEGEND[flag['code']]}) — {where}{flag['message']}")
            nb.cells.insert(0, new_markdown_cell("\n".join(lines)))
        return nb, resources
