"""Grade many submissions in parallel, each once, in its own working copy, with a progress bar.

Workers (worker.py) get a submission's files and leave its graded notebooks; this process alone
writes the course: for each submission it moves the graded notebooks in, saves the scores once
(gradebook.py) and writes its record (records.py). Student code that changed course files is
found by the course guard (course_guard.py) and undone; the runs in flight when the change
happened are graded again one at a time to find out which one did it, and that one scores 0 and
is flagged W. A worker process that dies takes down only the runs it had in flight: each is
graded again alone, and one whose worker dies again is recorded as not graded, with the reason.
"""
import os
import shutil
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import nbformat
from nbgrader.utils import parse_utc
from tqdm import tqdm

from autograde.grading.scheduling import course_guard, pools, worker
from autograde.grading.gradebook import database as gradebook
from autograde.grading.course.config import CourseError, course_config
from autograde.grading.course.front_door import open_course
from autograde.grading.kernels.kernel_plan import SandboxUnavailable, preflight
from autograde.grading.gradebook.flags import notebook_flags
from autograde.grading.kernels.manager import SandboxKernelManager
from autograde.grading.gradebook.records import Record, write_record
from autograde.grading.settings import UNSANDBOXED, Settings

WORKER_DIED = ("the grading process died while running this notebook (killed by the system, for example "
               "out of memory, or by the notebook's own code)")
TIMESTAMP = "timestamp.txt"  # when the exchange took the submission in (nbgrader's file)
# What nbgrader's exchange puts beside a submission, and its release_feedback reads back beside the
# graded notebook: the only files besides the notebooks that go into autograded/.
EXCHANGE_FILES = (TIMESTAMP, "submission_secret.txt")
SLACK_NS = 1_000_000_000  # a change dated this close to a run's start or end may still be that run's


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
    released = open_course(course, assignments)
    plan = settings.plan(course_config(course / "nbgrader_config.py"))
    todo = find_submissions(course, released, assignments, students)
    if not todo:
        return []
    # the workers start (and start their kernels' fork servers) while this process checks that a
    # sandboxed kernel imports the course's package and prepares the run
    pool = pools.open_pool(settings.worker_count(), settings.scheduler, settings.warm_up(course, plan))
    with tempfile.TemporaryDirectory(prefix="autograde-run-") as run_dir:
        try:
            preflight(plan)
            run = Run(course, Path(run_dir), released, settings, plan)
        except SandboxUnavailable as error:
            pool.close()
            raise CourseError(str(error)) from None
        except BaseException:
            pool.close()
            raise
        return run.grade(todo, pool)  # which closes the pool


def worker_died(key):
    return Record(*key, False, reason=WORKER_DIED, flags=[{"code": "X", "cell": None, "message": WORKER_DIED}])


class Run:
    def __init__(self, course, run_dir, released, settings, plan):
        self.course, self.released, self.settings, self.plan = course, released, settings, plan
        self.config = course_config(course / "nbgrader_config.py")
        template = run_dir / "template.db"
        gradebook.template(course, template)
        self.template = template.read_bytes()  # what every job carries, with the config's text
        self.config_text = (course / "nbgrader_config.py").read_text()
        # a SQLite gradebook can be written by unsandboxed student code: keep a copy to undo that
        self.start_db = run_dir / "gradebook.start.db" if gradebook.backup(course, run_dir / "gradebook.start.db") else None
        self.staged = run_dir / "staged"  # the submissions as handed in: what is graded, and what undoing restores
        shutil.copytree(course / "submitted", self.staged, symlinks=True)
        os.chmod(self.staged, 0o700)
        self.guard = course_guard.CourseGuard(course, gradebook.gradebook_file(course), extra_roots=[self.staged])
        self.recorded = []  # keys in the order their grades were saved (replayed after an undo)
        self.results = {}
        self.windows = {}   # key -> [start, end] of its run, ns since the epoch (ctime's clock)
        self.regrade = set()  # graded before this run, and their graded notebook was changed
        self.left_out = {}    # key -> how many of its files were over the size limits (worker.submission_files)

    def job(self, key):
        assignment, student = key
        files, self.left_out[key] = worker.submission_files(self.staged / student / assignment, self.released[assignment])
        return worker.Job(assignment, student, self.released[assignment], files, self.config_text, self.template,
                          self.overrides)

    @property
    def overrides(self):
        values = self.settings.overrides(self.plan)
        # the worker must know before building the working copy whether it goes into a fork server's slot
        values.setdefault("SandboxKernelManager.kernels", self.config.SandboxKernelManager.get(
            "kernels", SandboxKernelManager.kernels.default_value))
        return values


    # --- the parallel phase ------------------------------------------------------------------

    def grade(self, todo, pool):
        bar = tqdm(total=len(todo), unit="nb", desc="grading", disable=not self.settings.progress,
                   dynamic_ncols=True)
        suspects, died, finished = set(), set(), set()

        def advance(key):  # once per submission, however often it is graded again
            if key not in finished:
                finished.add(key)
                bar.update(1)
        pending, running = list(todo), {}
        try:
            while pending or running:
                while pending and len(running) < pool.capacity():
                    key = pending.pop(0)
                    self.windows[key] = [time.time_ns(), None]
                    running[pool.submit(worker.grade, self.job(key))] = key
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = False
                for future in done:
                    key = running.pop(future)
                    self.windows[key][1] = time.time_ns()
                    try:
                        outcome = future.result()
                    except Exception as error:  # noqa: BLE001 (only a lost worker is expected here)
                        if not pool.lost_worker(error):
                            raise
                        if pool.retries_elsewhere:  # it killed every worker it was given
                            self.write(worker_died(key))
                            advance(key)
                        else:
                            died.add(key)
                            broken = True
                        continue
                    if self.guard.gradebook_changed():  # a run in flight wrote the gradebook
                        suspects |= {key, *running.values()}
                        self.restore_gradebook()
                    if key not in suspects:  # a suspect is graded again, alone, below
                        self.record(outcome)
                        advance(key)
                    self.show_failures(bar)
                if broken:  # the pool is gone with every run it had in flight
                    for key in running.values():
                        self.windows[key][1] = time.time_ns()
                    died |= set(running.values())
                    running.clear()
                    pool.replace()
        finally:
            pool.close()
        changed = self.guard.changes()  # the whole course, once
        if changed:
            self.undo(changed)
            suspects |= self.in_flight_at(when for _, when in changed)
        for key in sorted(suspects | died | (self.regrade - set(self.results))):  # alone: changes are its own
            self.grade_alone(key)
            advance(key)
        bar.close()
        return [self.results[key] for key in sorted(self.results)]

    def show_failures(self, bar):
        failed = sum(not r.graded for r in self.results.values())
        bar.set_postfix_str(f"{failed} not graded" if failed else "")

    def in_flight_at(self, times):
        times = list(times)
        return {key for key, (start, end) in self.windows.items()
                if any(start - SLACK_NS <= when <= (end or time.time_ns()) + SLACK_NS for when in times)}

    def grade_alone(self, key):
        self.windows[key] = [time.time_ns(), None]
        pool = pools.LocalPool(1)
        try:
            outcome = pool.submit(worker.grade, self.job(key)).result()
        except BrokenProcessPool:
            outcome = None
        finally:
            pool.close()
        self.windows[key][1] = time.time_ns()
        changed = self.guard.changes()
        if changed:
            self.undo(changed)
            self.record_tampering(key, [path for path, _ in changed])
        elif outcome is None:
            self.write(worker_died(key))
        else:
            self.record(outcome)

    # --- recording ----------------------------------------------------------------------------

    def timestamp(self, assignment, student):
        path = self.staged / student / assignment / TIMESTAMP
        try:
            return parse_utc(path.read_text().strip()) if path.is_file() and not path.is_symlink() else None
        except (ValueError, OSError):
            return None

    def graded_dir(self, assignment, student):
        return self.course / "autograded" / student / assignment

    def record(self, outcome):
        if not outcome.ok:
            code = "G" if outcome.grader_failed else "X"
            self.write(Record(*outcome.key, False, reason=outcome.reason, seconds=round(outcome.seconds, 2),
                              flags=[{"code": code, "cell": None, "message": outcome.reason}]))
            return
        target = self.graded_dir(*outcome.key)
        self.guard.forget(target)
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        worker.write_files(outcome.graded, target)
        for name in EXCHANGE_FILES:  # nbgrader's own: feedback is released under them
            path = self.staged / outcome.student / outcome.assignment / name
            if path.is_file() and not path.is_symlink() and path.stat().st_size <= 4096:
                shutil.copyfile(path, target / name)
        notebooks = {Path(name).stem: nbformat.reads(data.decode(), as_version=4)
                     for name, data in sorted(outcome.graded.items()) if name.endswith(".ipynb") and "/" not in name}
        flags = [flag for name in sorted(notebooks) for flag in notebook_flags(notebooks[name])]
        self.write(Record(*outcome.key, True, flags=flags, seconds=round(outcome.seconds, 2)), notebooks)

    def graded_notebooks(self, assignment, student):
        return {path.stem: nbformat.read(path, as_version=4)
                for path in sorted(self.graded_dir(assignment, student).glob("*.ipynb"))}

    def record_tampering(self, key, changed):
        shown = ", ".join(str(Path(p).relative_to(self.course)) if str(p).startswith(str(self.course)) else str(p)
                          for p in changed[:5])
        reason = f"changed files outside its working copy ({shown}); the changes were undone"
        self.write(Record(*key, False, reason=reason, flags=[
            {"code": "X", "cell": None, "message": "not graded: it tampered with course files"},
            {"code": "W", "cell": None, "message": reason}]))

    def write(self, record, notebooks=None):
        """Put `record` into the course: its scores into the gradebook, the record beside the graded
        notebooks (which record() moved in); a submission that was not graded keeps no graded notebook."""
        record.protections = self.plan.protections()
        if self.settings.unsandboxed:
            record.flags.append({"code": "U", "cell": None, "message": UNSANDBOXED})
        if self.left_out.get(record.key):
            record.flags.append({"code": "S", "cell": None, "message": f"{self.left_out[record.key]} files beyond "
                                 f"{worker.MAX_EXTRA_FILES} files or {worker.MAX_EXTRA_BYTES // 2**20} MB were left out"})
        target = self.graded_dir(*record.key)
        if not record.graded:
            self.guard.forget(target)
            shutil.rmtree(target, ignore_errors=True)  # a failed re-grade leaves no stale notebook behind
        self.save_scores(record, notebooks)
        path = write_record(self.course, record)
        self.results[record.key] = record
        if record.key in self.recorded:
            self.recorded.remove(record.key)
        self.recorded.append(record.key)
        self.guard.accept(target, path)
        self.guard.accept_gradebook()

    def save_scores(self, record, notebooks=None):
        timestamp = self.timestamp(*record.key)
        if record.graded:
            notebooks = notebooks if notebooks is not None else self.graded_notebooks(*record.key)
            gradebook.save_graded(self.course, *record.key, notebooks, timestamp, self.config)
        elif any(flag["code"] == "G" for flag in record.flags):
            gradebook.save_not_graded(self.course, *record.key, timestamp)
        else:
            gradebook.save_failure(self.course, *record.key, timestamp)

    # --- undoing a tampering run ----------------------------------------------------------------

    def restore_gradebook(self):
        """The gradebook as it was before this run, plus the scores this run saved."""
        if self.start_db is None:
            return  # on a server: out of the sandbox's reach, nothing to restore
        shutil.copy(self.start_db, gradebook.gradebook_file(self.course))
        for key in self.recorded:
            self.save_scores(self.results[key])
        self.guard.accept_gradebook()

    def undo(self, changed):
        """Put back every changed file: submissions from the staged copies, the gradebook from its
        start copy plus this run's scores; changed graded notebooks are graded again."""
        course = str(self.course)
        unrestorable = []
        for path, _ in changed:
            if path == self.guard.gradebook:
                continue  # restored below
            parts = Path(path).relative_to(course).parts if path.startswith(course + os.sep) else ()
            if parts[:1] == ("submitted",) and len(parts) >= 3 and (self.staged / parts[1] / parts[2]).is_dir():
                course_guard.restore_tree(self.staged / parts[1] / parts[2], self.course / "submitted" / parts[1] / parts[2])
            elif parts[:1] == ("autograded",) and len(parts) >= 3 and (self.staged / parts[1] / parts[2]).is_dir():
                self.regrade.add((parts[2], parts[1]))
            elif parts[:1] not in (("autograded",), ("submitted",)):
                unrestorable.append(path)
        for key in self.regrade & set(self.results):
            del self.results[key]  # graded again below, alone
            self.recorded.remove(key)
        self.restore_gradebook()
        self.guard.accept_all()
        if unrestorable:
            print(f"warning: student code changed files that cannot be restored: {unrestorable[:5]}")
