"""No student can touch another's grade, and the grader's own failures are nobody's zero: real
grading of chapter 1 by `grade_class` (forked kernels in the real sandbox) with a hostile
submission next to honest classmates, a fork server killed mid-class, a student holding hundreds
of threads, a submission of thirty thousand files, a grader that cannot start kernels, and a
course folder with its own copy of the course's package."""
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograde.grading.gradebook.database import cell_scores
from autograde.grading.course.layout import manual_grade_ids, notebook_path, submit
from autograde.grading.gradebook.records import read_record, recorded_submissions
from autograde.grading.reports.feedback import generate
from autograde.grading.scheduling.runner import grade_class
from autograde.grading.demo.samples import correct_submission
from autograde.grading.demo.samples.bad_inputs import append_to_first_answer, append_to_last_answer
from autograde.grading.demo.samples.hostile_kernels import WRITE_DESCRIPTORS
from grading_suite import PIPELINE

pytestmark = pytest.mark.nbgrader
ASSIGNMENT = "01_chain_rule"
WRITTEN = manual_grade_ids(ASSIGNMENT)
HOLD_THREADS = """
import threading as _threading, time as _time
for _ in range(470):
    _threading.Thread(target=_time.sleep, args=(15,), daemon=True).start()
_time.sleep(15)
"""


def full_marks(course, student):
    cells = cell_scores(course, ASSIGNMENT)[student]
    return all(score == maximum for cell, (score, maximum) in cells.items() if cell not in WRITTEN)


def grade(course, students, **settings):
    """Graded by the pipeline from the course folder, with budgets a loaded 2-core machine meets."""
    settings = {"cell_timeout": 30, "notebook_timeout": 60, **settings}
    here = os.getcwd()
    os.chdir(course)
    try:
        return {r.student: r for r in grade_class(course, [ASSIGNMENT], students, dataclasses.replace(PIPELINE, **settings))}
    finally:
        os.chdir(here)


@pytest.fixture
def course(tmp_path, released):
    return released(tmp_path / "course", ASSIGNMENT)


def test_descriptors_a_kernel_writes_to_reach_no_classmate(course):
    """Graded first, in the same worker as three honest classmates after it: whatever it writes to
    every descriptor it holds, they keep full marks and are graded once, by a working grader."""
    submit(course, ASSIGNMENT, "a_hostile", append_to_last_answer(WRITE_DESCRIPTORS)(ASSIGNMENT))
    honest = ["b_honest", "c_honest", "d_honest"]
    for student in honest:
        submit(course, ASSIGNMENT, student, correct_submission(ASSIGNMENT))
    results = grade(course, None, workers=1, cell_timeout=10, notebook_timeout=20)  # its own kernel stalls
    for student in honest:
        assert results[student].graded and full_marks(course, student), results[student]
        assert not {flag["code"] for flag in results[student].flags}, results[student].flags
    assert "G" not in {flag["code"] for flag in results["a_hostile"].flags}


def test_a_fork_server_killed_mid_class_costs_nobody_anything(course):
    students = [f"s{index}" for index in range(5)]
    for student in students:
        submit(course, ASSIGNMENT, student, correct_submission(ASSIGNMENT))
    killed = []

    def kill_a_server_once_grading_started():
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            if recorded_submissions(course):
                for pid in fork_servers():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)
    killer = threading.Thread(target=kill_a_server_once_grading_started)
    killer.start()
    results = grade(course, None, workers=1)
    killer.join()
    assert killed, "no fork server was found to kill"
    assert sorted(results) == students and len(recorded_submissions(course)) == len(students)
    for student in students:
        assert results[student].graded and full_marks(course, student), results[student]


def fork_servers():
    """Host pids of the fork servers' Python processes (not their forked kernels)."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if argv[1:3] == [b"-m", b"autograde.grading.kernels.forkserver"]:
            found[int(entry.name)] = parent
    return [pid for pid, parent in found.items() if parent not in found]


def test_a_student_holding_hundreds_of_threads_slows_no_classmate(course):
    """Each worker's kernels have a uid of their own: the process limit one of them uses up is not
    the other worker's."""
    submit(course, ASSIGNMENT, "a_threads", append_to_first_answer(HOLD_THREADS)(ASSIGNMENT))
    honest = [f"h{index}" for index in range(4)]
    for student in honest:
        submit(course, ASSIGNMENT, student, correct_submission(ASSIGNMENT))
    results = grade(course, None, workers=2)
    for student in honest:
        assert results[student].graded and full_marks(course, student), (results[student], cell_scores(course, ASSIGNMENT))


def test_thirty_thousand_files_are_left_out_and_never_come_back(course):
    folder = submit(course, ASSIGNMENT, "many_files", correct_submission(ASSIGNMENT)).parent
    for index in range(30_000):
        (folder / f"f{index}.txt").write_bytes(b"x")
    (folder / "big.bin").write_bytes(os.urandom(2**20))
    results = grade(course, None, workers=1)
    record = results["many_files"]
    assert record.graded and full_marks(course, "many_files")
    assert "S" in {flag["code"] for flag in record.flags}
    graded = course / "autograded" / "many_files" / ASSIGNMENT
    assert sorted(path.name for path in graded.iterdir()) == [notebook_path(course, "release", ASSIGNMENT).name]
    assert generate(course, [ASSIGNMENT], ["many_files"]) == (1, [])  # the feedback copies none of them either
    assert sorted(path.name for path in (course / "feedback" / "many_files" / ASSIGNMENT).iterdir()) == [
        notebook_path(course, "release", ASSIGNMENT).with_suffix(".html").name]


def test_a_grader_that_cannot_start_kernels_records_no_score_and_says_so(course, capsys):
    """A kernel that cannot start (here: a memory limit too small for Python) is the grader's failure:
    tried twice, then "not graded" with the reason and flag G, no score (not a zero, and not the
    earlier one), and the command exits 1 naming the submission."""
    from autograde.grading.cli import main as cli

    submit(course, ASSIGNMENT, "correct", correct_submission(ASSIGNMENT))
    assert grade(course, None, workers=1)["correct"].graded and full_marks(course, "correct")
    status = cli(["grade", "--course", str(course), "-a", ASSIGNMENT, "--memory-mb", "1", "--no-progress", "-j", "1"])
    err = capsys.readouterr().err
    record = read_record(course, ASSIGNMENT, "correct")
    assert status == 1 and "grader itself failed on 1 submission" in err and "correct / 01_chain_rule" in err
    assert not record.graded and [flag["code"] for flag in record.flags] == ["G"]
    assert "the grader failed twice" in record.reason and "kernel" in record.reason
    assert all(score is None or score == 0 for score, _ in cell_scores(course, ASSIGNMENT)["correct"].values())
    assert not (course / "autograded" / "correct" / ASSIGNMENT).exists()
    from nbgrader.api import Gradebook

    from autograde.grading.gradebook.database import db_url

    with Gradebook(db_url(course)) as gb:
        notebook = gb.find_submission(ASSIGNMENT, "correct").notebooks[0]
        assert all(grade.auto_score is None and grade.needs_manual_grade for grade in notebook.grades)


def copy_package(course):
    shutil.copytree(Path(__import__("autograde").__file__).parent, course / "autograde",
                    ignore=shutil.ignore_patterns("__pycache__"))


def run_grader(course, *extra):
    """`python -m autograde grade` from the course folder, as an instructor types it: the course's own
    copy of the package is the one imported."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "autograde", "grade", "-a", ASSIGNMENT, "--no-progress", "-j", "1",
                           *extra], cwd=course, env=env, capture_output=True, text=True, timeout=600)


def test_a_course_folder_with_its_own_package_grades_with_that_package(course):
    copy_package(course)
    submit(course, ASSIGNMENT, "correct", correct_submission(ASSIGNMENT))
    result = run_grader(course)
    assert result.returncode == 0, result.stderr[-3000:]
    assert full_marks(course, "correct"), result.stdout[-3000:]


def test_the_preflight_refuses_a_package_the_sandbox_cannot_import(course):
    """The course's copy imports a helper from the course folder, which the grader reaches and no
    sandboxed kernel does: one line, exit 2, nothing graded."""
    copy_package(course)
    (course / "course_helpers.py").write_text("TOLERANCE = 1e-5\n")
    check = course / "autograde" / "check.py"
    check.write_text("import course_helpers  # noqa: F401\n" + check.read_text())
    submit(course, ASSIGNMENT, "correct", correct_submission(ASSIGNMENT))
    result = run_grader(course)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot import the course's package" in lines[0] and "course_helpers" in lines[0], lines
    assert not (course / "autograded").exists() or not recorded_submissions(course)
