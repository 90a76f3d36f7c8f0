"""Grade many submissions in parallel, each in its own working copy, with a progress bar.

Workers (autograde.grading.worker) only read a staged copy of the submission and write their working
copy; this process alone writes the course: it checks the course after every finished run
(autograde.grading.course_guard), then records the grades (autograde.grading.gradebook), the graded
notebook and a status file. A run that changed course files is undone and its notebook(s)
re-run one at a time to find out which one did it; that one scores 0 and is flagged W.
"""
import json
import os
import shutil
import tempfile
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.utils import parse_utc
from tqdm import tqdm

from . import course_guard, gradebook, worker
from .flags import notebook_flags
from .sandbox import default_user

STATUS_DIR = ".grading"  # autograded/.grading/<assignment>/<student>.json (nbgrader skips dot folders)


class CourseError(RuntimeError):
    """The instructor's setup is wrong (not a student's file): the command exits non-zero."""


@dataclass
class Settings:
    workers: int = 0                    # 0: one per core
    cell_timeout: int = None            # None: the course config's
    notebook_timeout: int = None
    memory_mb: int = None
    sandbox_user: str = "auto"          # "auto": 'nobody' when root; "": the current user
    progress: bool = True

    def worker_count(self):
        return self.workers or os.cpu_count() or 1

    def overrides(self):
        values = {
            "Execute.timeout": self.cell_timeout,
            "SandboxedExecute.notebook_timeout": self.notebook_timeout,
            "SandboxKernelManager.memory_mb": self.memory_mb,
            "SandboxKernelManager.user": default_user() if self.sandbox_user == "auto" else self.sandbox_user,
            # each kernel gets its share of the cores instead of all kernels fighting for all of them
            "SandboxKernelManager.threads": max(1, (os.cpu_count() or 1) // self.worker_count()),
            # the outputs are all in once the last cell replied: no need to wait for a polite exit
            "Execute.shutdown_kernel": "immediate",
        }
        return {key: value for key, value in values.items() if value is not None}


@dataclass
class Result:
    assignment: str
    student: str
    graded: bool
    reason: str = ""
    flags: list = field(default_factory=list)
    seconds: float = 0.0


def status_path(course, assignment, student):
    return Path(course) / "autograded" / STATUS_DIR / assignment / f"{student}.json"


def read_status(course, assignment, student):
    path = status_path(course, assignment, student)
    return Result(**json.loads(path.read_text())) if path.is_file() else None


def check_course(course, assignments=None):
    """Raise CourseError unless `course` is ready to grade; return the released assignments."""
    course = Path(course)
    if not (course / "nbgrader_config.py").is_file():
        raise CourseError(f"{course} has no nbgrader_config.py: is it a course folder?")
    if not (course / "gradebook.db").is_file():
        raise CourseError(f"{course} has no gradebook: run the release step first")
    with Gradebook(gradebook.db_url(course)) as gb:
        released = {a.name: [nb.name for nb in a.notebooks] for a in gb.assignments}
    for assignment in assignments or []:
        if assignment not in released:
            raise CourseError(f"assignment {assignment!r} has not been released (no such assignment in the gradebook)")
    return released


def find_submissions(course, released, assignments=None, students=None):
    """[(assignment, student)] for every submitted/<student>/<assignment> folder to grade."""
    submitted = Path(course) / "submitted"
    found = []
    if not submitted.is_dir():
        return found
    for student_dir in sorted(submitted.iterdir()):
        if not student_dir.is_dir() or student_dir.name.startswith(".") or (students and student_dir.name not in students):
            continue
        for assignment in sorted(released):
            if assignments and assignment not in assignments:
                continue
            if (student_dir / assignment).is_dir():
                found.append((assignment, student_dir.name))
    return found


def grade_class(course, assignments=None, students=None, settings=None):
    """Grade the submissions of `assignments` x `students` (all by default); return their Results."""
    course = Path(course).resolve()
    settings = settings or Settings()
    released = check_course(course, assignments)
    todo = find_submissions(course, released, assignments, students)
    if not todo:
        return []
    with tempfile.TemporaryDirectory(prefix="autograde-run-") as run_dir:
        return Run(course, Path(run_dir), released, settings).grade(todo)


class Run:
    def __init__(self, course, run_dir, released, settings):
        self.course, self.run_dir, self.released, self.settings = course, run_dir, released, settings
        os.chmod(run_dir, 0o711)
        self.config = worker.course_config(course / "nbgrader_config.py")
        self.template = run_dir / "template.db"
        gradebook.template(course, self.template)
        self.start_db = run_dir / "gradebook.start.db"
        gradebook.backup(course, self.start_db)
        self.staged = run_dir / "staged"
        worker.copy_files(course / "submitted", self.staged)  # the originals, for grading and for undoing
        os.chmod(self.staged, 0o700)
        self.results_dir = run_dir / "results"
        self.guard = course_guard.CourseGuard(course, extra_roots=[self.staged, self.template])
        self.recorded = []  # keys in the order their grades were written (for replay after an undo)
        self.results = {}
        self.regrade = set()  # graded before this run, and their graded notebook was changed

    def job(self, key):
        assignment, student = key
        return worker.Job(
            assignment, student, self.released[assignment], str(self.staged / student / assignment),
            str(self.run_dir / "work" / assignment / student), str(self.template),
            str(self.course / "nbgrader_config.py"), self.settings.overrides(),
        )

    # --- the parallel phase ------------------------------------------------------------------

    def grade(self, todo):
        bar = tqdm(total=len(todo), unit="nb", desc="grading", disable=not self.settings.progress,
                   dynamic_ncols=True)
        suspects = set()
        pending = list(todo)
        running = {}
        context = get_context("spawn")  # fresh workers: nothing of this process leaks into them
        with ProcessPoolExecutor(self.settings.worker_count(), mp_context=context) as pool:
            while pending or running:
                while pending and len(running) < self.settings.worker_count():
                    key = pending.pop(0)
                    running[pool.submit(worker.grade, self.job(key))] = key
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    key = running.pop(future)
                    outcome = future.result()
                    changed = self.guard.changes()
                    if changed:  # someone among the runs in flight wrote course files
                        self.undo(changed)
                        suspects |= {key, *running.values()}
                    if key in suspects:
                        self.cleanup(outcome)
                    else:
                        self.record(outcome)
                    bar.update(1)
                    failed = sum(not r.graded for r in self.results.values())
                    bar.set_postfix_str(f"{failed} not graded" if failed else "")
        bar.close()
        for key in sorted(suspects | (self.regrade - set(self.results))):  # alone now: changes are its own
            outcome = worker.grade(self.job(key))
            changed = self.guard.changes()
            if changed:
                self.undo(changed)
                self.cleanup(outcome)
                self.record_tampering(key, changed)
            else:
                self.record(outcome)
        return [self.results[key] for key in sorted(self.results)]

    # --- recording ----------------------------------------------------------------------------

    def timestamp(self, assignment, student):
        path = self.staged / student / assignment / "timestamp.txt"
        try:
            return parse_utc(path.read_text().strip()) if path.is_file() else None
        except (ValueError, OSError):
            return None

    def record(self, outcome):
        assignment, student = outcome.key
        if outcome.ok:
            kept = self.results_dir / assignment / student
            shutil.rmtree(kept, ignore_errors=True)
            shutil.copytree(outcome.graded_dir, kept, ignore=shutil.ignore_patterns(".*"), symlinks=True)
            self.cleanup(outcome)
            result = Result(assignment, student, True, flags=self.flags_of(kept), seconds=round(outcome.seconds, 2))
        else:
            self.cleanup(outcome)
            result = Result(assignment, student, False, reason=outcome.reason, seconds=round(outcome.seconds, 2),
                            flags=[{"code": "X", "cell": None, "message": outcome.reason}])
        self.write(result)

    def record_tampering(self, key, changed):
        assignment, student = key
        shown = ", ".join(str(Path(p).relative_to(self.course)) if str(p).startswith(str(self.course)) else str(p)
                          for p in changed[:5])
        reason = f"changed files outside its working copy ({shown}); the changes were undone"
        self.write(Result(assignment, student, False, reason=reason, flags=[
            {"code": "X", "cell": None, "message": "not graded: it tampered with course files"},
            {"code": "W", "cell": None, "message": reason}]))

    def write(self, result):
        """Put `result` into the course: graded notebooks, gradebook, status file."""
        key = (result.assignment, result.student)
        target = self.course / "autograded" / result.student / result.assignment
        shutil.rmtree(target, ignore_errors=True)  # a failed re-grade leaves no stale notebook behind
        kept = self.results_dir / result.assignment / result.student
        timestamp = self.timestamp(*key)
        if result.graded:
            shutil.copytree(kept, target, symlinks=True)
            gradebook.save_graded(self.course, *key, target, timestamp, self.config)
        else:
            shutil.rmtree(kept, ignore_errors=True)
            gradebook.save_failure(self.course, *key, timestamp)
        status = status_path(self.course, *key)
        status.parent.mkdir(parents=True, exist_ok=True)
        status.write_text(json.dumps(asdict(result), indent=1))
        self.results[key] = result
        if key in self.recorded:
            self.recorded.remove(key)
        self.recorded.append(key)
        self.guard.accept(self.course / "gradebook.db", target, status)

    def flags_of(self, graded_dir):
        flags = []
        for path in sorted(Path(graded_dir).glob("*.ipynb")):
            flags += notebook_flags(nbformat.read(path, as_version=4))
        return flags

    def cleanup(self, outcome):
        shutil.rmtree(self.run_dir / "work" / outcome.assignment / outcome.student, ignore_errors=True)

    # --- undoing a tampering run ----------------------------------------------------------------

    def undo(self, changed):
        """Put back every changed file: the gradebook from its start copy plus this run's grades,
        submissions from the staged copies; graded notebooks from before this run are graded again."""
        course = str(self.course)
        unrestorable = []
        for path in changed:
            parts = Path(path).relative_to(course).parts if path.startswith(course + os.sep) else ()
            if parts[:1] == ("submitted",) and len(parts) >= 3 and (self.staged / parts[1] / parts[2]).is_dir():
                course_guard.restore_tree(self.staged / parts[1] / parts[2], self.course / "submitted" / parts[1] / parts[2])
            elif parts[:1] == ("autograded",) and len(parts) >= 3 and parts[1] != STATUS_DIR:
                if (parts[2], parts[1]) not in self.results and (self.staged / parts[1] / parts[2]).is_dir():
                    self.regrade.add((parts[2], parts[1]))
            elif parts[:1] not in (("gradebook.db",), ("autograded",), ("submitted",)):
                unrestorable.append(path)
        shutil.copy(self.start_db, self.course / "gradebook.db")
        for key in list(self.recorded):
            self.write(self.results[key])
        self.guard.accept_all()
        if unrestorable:
            print(f"warning: student code changed files that cannot be restored: {unrestorable[:5]}")
