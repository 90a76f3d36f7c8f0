"""Grade one submission in its own working copy (runs in a worker process, here or on a Dask worker).

The job carries everything: the submission's files, the course's nbgrader_config.py and a
gradebook holding the assignment's definitions (no students), so a worker needs no filesystem
shared with the instructor. The working copy is a one-submission nbgrader course in a temporary
folder; nbgrader's Autograde converter grades it there with the course's preprocessors, except the
two that write scores, and the worker returns the graded files: the parent process
(autograde.grading.scheduling.runner) alone writes the course and records the scores, once.
The kernel's working directory is inside the copy, so the course is never under the student's code.
"""
import logging
import os
import tempfile
import sys
import time
from contextlib import chdir
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades
from traitlets.utils.importstring import import_item

from autograde.grading.kernels import forked_kernels, grader_failures
from autograde.grading.course.layout import FIRST_USE_IMPORTS
from autograde.grading.course.config import course_config
from autograde.grading.gradebook.database import DB_URL_VARIABLE, quiet_sqlalchemy

quiet_sqlalchemy()  # this module is what a worker process imports

SCORE_WRITERS = (SaveAutoGrades, AssignLatePenalties)  # run once, by the parent
CONFIG_FILE = "nbgrader_config.py"
ATTEMPTS = 2  # a submission during which the grader itself failed is graded again on a fresh kernel, once
# What one submission may bring. An honest notebook of this course has under 50 cells, none over
# 10,000 characters, and weighs under 1 MB with its outputs; its other files are none.
MAX_NOTEBOOK_BYTES = 50 * 2**20
MAX_CELLS = 1000
MAX_CELL_CHARS = 200_000
MAX_EXTRA_FILES = 100                # files besides the notebooks, given to the kernel, never returned
MAX_EXTRA_BYTES = 20 * 2**20
MAX_GRADED_BYTES = 50 * 2**20        # a graded notebook larger than this is not taken back


@dataclass
class Job:
    assignment: str
    student: str
    notebooks: list          # notebook names the assignment expects (without .ipynb)
    files: dict              # {relative path: bytes}: the submission as the student handed it in
    config: str              # the text of the course's nbgrader_config.py
    template: bytes          # a SQLite gradebook with the assignments and no students
    overrides: dict = field(default_factory=dict)  # {"Section.trait": value}


@dataclass
class Outcome:
    assignment: str
    student: str
    ok: bool
    reason: str = ""
    graded: dict = field(default_factory=dict)  # {relative path: bytes}: the graded notebooks
    seconds: float = 0.0
    grader_failed: bool = False  # not graded through the grader's fault (reason says which), not the student's

    @property
    def key(self):
        return self.assignment, self.student


def unreadable_reason(path):
    """Why the file at `path` cannot be graded as a notebook, or None if it can."""
    size = os.path.getsize(path)
    if size > MAX_NOTEBOOK_BYTES:
        return f"{Path(path).name} is {size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_BYTES // 2**20} MB a notebook may be"
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as error:  # noqa: BLE001 (nbformat raises many kinds for broken files)
        kind = "is not valid JSON" if "JSON" in f"{type(error).__name__} {error}" else "is not a notebook"
        return f"{Path(path).name} {kind} ({first_line(error)})"
    try:
        nbformat.validate(nb)
    except Exception as error:  # noqa: BLE001
        return f"{Path(path).name} is not a valid notebook ({first_line(error)})"
    if not any(cell.get("metadata", {}).get("nbgrader") for cell in nb.cells):
        return f"{Path(path).name} has none of the assignment's cells (was the wrong notebook submitted?)"
    if len(nb.cells) > MAX_CELLS:
        return f"{Path(path).name} has {len(nb.cells)} cells, over the {MAX_CELLS} a notebook may have"
    longest = max(len(cell.source) for cell in nb.cells)
    if longest > MAX_CELL_CHARS:
        return f"{Path(path).name} has a cell of {longest:,} characters, over the {MAX_CELL_CHARS:,} a cell may have"
    return None


def first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def submission_files(folder, notebooks):
    """The files of the submission in `folder` to grade, as {relative path: bytes}, and how many were
    left out: the assignment's notebooks, and other regular files up to MAX_EXTRA_FILES and
    MAX_EXTRA_BYTES in all (a kernel gets room to work, not a way to fill the grader's disk).
    Symlinks are not followed: a submission cannot smuggle in a link to a file the grader may read."""
    wanted = {f"{name}.ipynb" for name in notebooks}
    files, left_out, extra_bytes = {}, 0, 0
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if not os.path.islink(os.path.join(root, name)))
        for name in sorted(names):
            path = os.path.join(root, name)
            relative = os.path.relpath(path, folder)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            if relative in wanted:
                files[relative] = Path(path).read_bytes()
                continue
            size = os.path.getsize(path)
            if len(files) - len(wanted & files.keys()) >= MAX_EXTRA_FILES or extra_bytes + size > MAX_EXTRA_BYTES:
                left_out += 1
                continue
            extra_bytes += size
            files[relative] = Path(path).read_bytes()
    return files, left_out


def write_files(files, folder):
    for name, data in files.items():
        if Path(name).is_absolute() or ".." in Path(name).parts:
            continue  # submission_files never makes such names; a job built elsewhere must not escape
        path = Path(folder) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def make_working_copy(job, work):
    work = Path(work)
    os.chmod(work, 0o711)  # a kernel running as another user may pass through, not look around
    (work / CONFIG_FILE).write_text(job.config)
    (work / "gradebook.db").write_bytes(job.template)
    os.chmod(work / "gradebook.db", 0o600)
    source = work / "source" / job.assignment
    source.mkdir(parents=True)
    submitted = work / "submitted" / job.student / job.assignment
    submitted.mkdir(parents=True)
    write_files(job.files, submitted)
    for folder in (work / "source", work / "submitted"):
        os.chmod(folder, 0o700)
    (work / "autograded").mkdir(mode=0o711)
    return work, submitted


def grade(job):
    """Grade `job` in a fresh working copy and say how it went; never raises for a student's file.
    When the grader's own machinery failed meanwhile (grader_failures), the result is not the
    student's: it is graded again on a fresh kernel, and reported as the grader's failure if that
    fails too."""
    os.environ.pop(DB_URL_VARIABLE, None)  # the worker's own gradebook is local; its kernels must not learn the course's
    started = time.monotonic()
    for _ in range(ATTEMPTS):
        with grader_failures.watching() as failures:
            outcome = grade_once(job)
        if not failures:
            return outcome
    reason = f"the grader failed twice while grading it: {failures[0]}"
    return Outcome(job.assignment, job.student, ok=False, reason=reason, grader_failed=True,
                   seconds=time.monotonic() - started)


def grade_once(job):
    # forked kernels: the working copy goes into the slot of this process's fork server (forked_kernels.py)
    with forked_kernels.slot(job.overrides["SandboxKernelManager.kernels"]) as slot:
        if slot:
            return grade_in(job, Path(slot))
    with tempfile.TemporaryDirectory(prefix="autograde-job-") as work:
        return grade_in(job, Path(work))


def grade_in(job, work):
    start = time.monotonic()
    outcome = Outcome(job.assignment, job.student, ok=False)
    raised = RaisedErrors()
    with chdir(os.getcwd()):  # nbgrader changes into the course folder: back here afterwards
        try:
            work, submitted = make_working_copy(job, work)
            problems = []
            for name in job.notebooks:
                path = submitted / f"{name}.ipynb"
                if not path.is_file():
                    present = sorted(p.name for p in submitted.iterdir()) or ["nothing"]
                    problems.append(f"no {name}.ipynb in the submission (found: {', '.join(present)})")
                else:
                    problems.append(unreadable_reason(path))
            problems = [p for p in problems if p]
            if problems:
                outcome.reason = "; ".join(problems)
            else:
                run_converter(job, work, raised)
                graded = work / "autograded" / job.student / job.assignment
                missing = [n for n in job.notebooks if not (graded / f"{n}.ipynb").is_file()]
                if missing:
                    outcome.reason = raised.summary() or "nbgrader produced no graded notebook"
                else:  # the graded notebooks only: nothing else a submission brought goes back to the course
                    outcome.graded = {f"{name}.ipynb": (graded / f"{name}.ipynb").read_bytes() for name in job.notebooks}
                    large = [name for name, data in outcome.graded.items() if len(data) > MAX_GRADED_BYTES]
                    if large:
                        outcome.graded = {}
                        outcome.reason = f"the graded {large[0]} is over {MAX_GRADED_BYTES // 2**20} MB"
                    else:
                        outcome.ok = True
        except NbGraderException:
            outcome.reason = raised.summary() or "nbgrader could not grade it"
        except Exception as error:  # noqa: BLE001 (a broken submission must not stop the class)
            outcome.reason = f"grading failed: {first_line(error)}"
    outcome.seconds = time.monotonic() - start
    return outcome


def run_converter(job, work, raised):
    config = course_config(work / CONFIG_FILE, job.overrides)
    config.CourseDirectory.root = str(work)
    config.CourseDirectory.db_url = f"sqlite:///{work / 'gradebook.db'}"
    config.CourseDirectory.assignment_id = job.assignment
    config.CourseDirectory.student_id = job.student
    config.SandboxKernelManager.preload = list(FIRST_USE_IMPORTS.get(job.assignment, ()))
    config.Autograde.autograde_preprocessors = [
        step for step in config.Autograde.autograde_preprocessors if not writes_scores(step)]
    logger = logging.getLogger(f"autograde.grading.scheduling.worker.{os.getpid()}")
    logger.handlers = [raised]
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    coursedir = CourseDirectory(config=config, log=logger)
    Autograde(coursedir=coursedir, config=config, log=logger).start()


def writes_scores(step):
    """Is this autograde step (a class, or its import string as in nbgrader_config.py) a score writer?"""
    return (import_item(step) if isinstance(step, str) else step) in SCORE_WRITERS


class RaisedErrors(logging.Handler):
    """The exceptions nbgrader logs while it handles them: it logs a traceback's text from inside its
    except block, where the exception itself is at hand. The last one is why a submission could
    not be graded (nbgrader then raises its own, saying only that something failed)."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.errors = []

    def emit(self, record):
        error = record.exc_info[1] if record.exc_info else sys.exc_info()[1]
        if error is not None and (not self.errors or self.errors[-1] is not error):
            self.errors.append(error)

    def summary(self):
        return first_line(self.errors[-1])[:300] if self.errors else ""
