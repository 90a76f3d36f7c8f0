"""The pipeline's parts, without running notebooks: static scan, hidden-test removal, cell
integrity, unreadable files, the course guard, the command line's exit status."""
import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from autograde.grading.inspection import cell_integrity, hidden, scan
from autograde.grading.course.layout import ROOT, available_assignments, notebook_path
from autograde.grading.cli import main as cli
from autograde.grading.scheduling.course_guard import CourseGuard
from autograde.grading.scheduling.worker import unreadable_reason
from autograde.grading.demo.samples import correct_submission, variants
from autograde.grading.demo.samples.bad_inputs import BAD_INPUTS, hang_every_function, solution_cells

ASSIGNMENTS = available_assignments()
SETUP_NAMES = {"np", "plt", "torch", "grader", "check_gradient"}


def codes(source, protected=SETUP_NAMES):
    return {code for code, _, _ in scan.scan_source(source, protected)}


# --- static scan -----------------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "def backward(x):\n    x.sum().backward()\n    return x.grad",
    "import torch\ng = torch.autograd.grad(y, x)",
    "from torch.autograd import grad",
    "from torch.func import vjp",
    "t = torch.tensor(x, requires_grad=True)",
    "x.requires_grad = True",
    "x.requires_grad_()",
])
def test_scan_finds_autograd(source):
    assert codes(source) == {"A"}


@pytest.mark.parametrize("source", [
    "np.allclose = lambda *a, **k: True",
    "import numpy as nump\nnump.testing.assert_allclose = print",
    "import autograde.check\nautograde.check.is_close = None",
    "setattr(torch.Tensor, 'backward', lambda self: None)",
    "grader = None",
    "def check_gradient(*args, **kwargs):\n    pass",
    "import sys\nsys.modules['autograde'] = None",
])
def test_scan_finds_patches(source):
    assert "P" in codes(source)


def test_own_backward_methods_are_not_autograd():
    source = "def train(model, x):\n    model.backward(x)"
    assert codes(source) == {"A"}
    assert scan.scan_source(source, own_functions={"backward"}) == []


def test_scan_finds_grading_files_and_ignores_honest_code():
    assert codes('open("../../gradebook.db", "wb")') == {"W"}
    honest = "def f(x):\n    y = np.tanh(x) @ x.T\n    return torch.as_tensor(y).sum(axis=0)\n%timeit f(1)"
    assert codes(honest) == set()
    assert codes("def f(:\n") == set()  # unparsable code: the tests will say so when it runs


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_scan_passes_every_honest_sample_answer(assignment):
    """No false alarm on the chapters' sample answers (correct, written differently, mistakes);
    a sample that calls autograd on purpose must be found."""
    for variant in variants(assignment):
        nb = variant.build(assignment)
        code = [c for c in nb.cells if c.cell_type == "code"]
        protected = set().union(*(scan.bound_names(c.source) for c in code
                                  if c.metadata.get("nbgrader", {}).get("locked")))
        own = set().union(*(scan.defined_functions(c.source) for c in code))
        found = set()
        for cell in solution_cells(nb):
            found |= {letter for letter, _, _ in scan.scan_source(cell.source, protected, own)}
        wants_autograd = "autograd" in variant.name
        assert found == ({"A"} if wants_autograd else set()), (variant.name, found)


# --- hidden tests in feedback ------------------------------------------------------------------------

def test_hidden_region_is_removed_and_the_visible_part_kept():
    source = "visible()\n    ### BEGIN HIDDEN TESTS\n    secret(101)\n    ### END HIDDEN TESTS\nafter()"
    shown = hidden.hide_hidden_tests(source)
    assert "secret" not in shown and "visible()" in shown and "after()" in shown
    assert hidden.HIDDEN_NOTE in shown
    assert "secret" not in hidden.hide_hidden_tests("a\n### BEGIN HIDDEN TESTS\nsecret()")  # unclosed


def test_traceback_keeps_the_students_frames_and_the_message_only():
    traceback = [
        "\x1b[31m-----\x1b[39m",
        "\x1b[31mGradientMismatch\x1b[39m   Traceback (most recent call last)",
        "\x1b[36mCell\x1b[39m \x1b[32mIn[6]\x1b[39m, line 4\n----> 4 grader.check_staged(secret_input)",
        "\x1b[36mFile \x1b[39m/work/autograde/chapters/chain_rule.py:99, in check_staged\n  97 hidden_ref = 1",
        "\x1b[36mCell\x1b[39m \x1b[32mIn[5]\x1b[39m, line 12, in staged_backward\n---> 12 dx = dnum",
        "\x1b[31mGradientMismatch\x1b[39m: dx is wrong: accumulate with `dx += ...`",
    ]
    kept = hidden.student_traceback(traceback, student_cells={5})
    text = "\n".join(kept)
    assert "secret_input" not in text and "hidden_ref" not in text
    assert "staged_backward" in text and kept[-1] == traceback[-1] and hidden.FRAMES_NOTE in kept


# --- cell integrity ----------------------------------------------------------------------------------

def master_of(assignment):
    """The release's nbgrader cells as the gradebook holds them, read from the master notebook."""
    master = nbformat.read(notebook_path(ROOT, "source", assignment), as_version=4)
    cells = []
    for cell in master.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade_id") and (meta.get("locked") or meta.get("grade") or meta.get("solution")):
            cells.append(cell_integrity.MasterCell(
                meta["grade_id"], cell.cell_type, cell.source, meta.get("checksum", ""), bool(meta.get("locked")),
                bool(meta.get("grade")), bool(meta.get("solution")), float(meta.get("points", 0))))
    return cells


def ids(nb):
    return [cell_integrity.grade_id(c) for c in nb.cells if cell_integrity.grade_id(c)]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_deleted_cells_come_back_in_their_place(assignment):
    master = master_of(assignment)
    intact = correct_submission(assignment)
    broken = [b for b in BAD_INPUTS if b.name == "deleted_cells"][0].build(assignment)
    assert len(ids(broken)) == len(ids(intact)) - 2
    restored = cell_integrity.restore_missing(broken, master)
    assert len(restored) == 2 and ids(broken) == ids(intact)
    assert cell_integrity.findings(intact, master) == []


@pytest.mark.parametrize("name, phrase", [
    ("duplicated_cells", "appears 2 times"), ("retyped_cells", "was turned from a code cell"),
    ("edited_tests", "locked cell but was edited"),
])
def test_tampered_cells_are_reported(name, phrase):
    assignment = ASSIGNMENTS[0]
    nb = [b for b in BAD_INPUTS if b.name == name][0].build(assignment)
    found = cell_integrity.findings(nb, master_of(assignment))
    assert found and all(cell for cell, _ in found) and any(phrase in message for _, message in found), found


def test_endless_loop_edit_keeps_the_code_valid():
    source = 'def f(x):\n    """doc"""\n    return x\n\n\nclass A:\n    def g(self):\n        return 1'
    looped = hang_every_function(source)
    compile(looped, "<cell>", "exec")
    assert looped.count("while True") == 2


# --- files that are not notebooks -----------------------------------------------------------------

def test_unreadable_files_are_named_with_their_reason(tmp_path):
    assignment = ASSIGNMENTS[0]
    reasons = {}
    for bad in BAD_INPUTS:
        content = bad.build(assignment)
        if isinstance(content, bytes):  # the files that are not notebooks
            path = tmp_path / f"{bad.name}.ipynb"
            path.write_bytes(content)
            reasons[bad.name] = unreadable_reason(path)
    assert "not valid JSON" in reasons["invalid_json"]
    assert "not a notebook" in reasons["not_a_notebook"]
    good = tmp_path / "good.ipynb"
    nbformat.write(correct_submission(assignment), good)
    assert unreadable_reason(good) is None


# --- the course guard ------------------------------------------------------------------------------

COARSE_CLOCK = 100_000_000  # file times come from the kernel's coarse clock (a tick or so behind)


def paths(changes):
    return [path for path, _ in changes]


def test_guard_sees_other_writes_and_not_its_own(tmp_path):
    (tmp_path / "submitted" / "ann" / "hw").mkdir(parents=True)
    work = tmp_path / "submitted" / "ann" / "hw" / "hw.ipynb"
    work.write_text("{}")
    (tmp_path / "gradebook.db").write_text("db")
    guard = CourseGuard(tmp_path, tmp_path / "gradebook.db")
    assert guard.changes() == [] and not guard.gradebook_changed()
    (tmp_path / "gradebook.db").write_text("db")  # same content, but written: still a change
    assert guard.gradebook_changed() and str(tmp_path / "gradebook.db") in paths(guard.changes())
    guard.accept_gradebook()
    assert not guard.gradebook_changed()
    graded = tmp_path / "autograded" / "bob" / "hw"
    graded.mkdir(parents=True)  # the grader's own output
    (graded / "hw.ipynb").write_text("{}")
    guard.accept(graded)
    assert guard.changes() == []
    guard.forget(graded)  # the grader replaces it with fewer files
    (graded / "hw.ipynb").unlink()
    guard.accept(graded)
    assert guard.changes() == []
    before = time.time_ns()
    work.write_text("{}")
    [(path, when)] = guard.changes()
    assert path == str(work) and before - COARSE_CLOCK <= when <= time.time_ns()


def test_guard_dates_a_deletion_by_its_folder(tmp_path):
    (tmp_path / "submitted" / "ann").mkdir(parents=True)
    gone = tmp_path / "submitted" / "ann" / "hw.ipynb"
    gone.write_text("{}")
    guard = CourseGuard(tmp_path)
    before = time.time_ns()
    gone.unlink()
    changes = dict(guard.changes())
    assert set(changes) == {str(gone), str(gone.parent)}
    assert before - COARSE_CLOCK <= changes[str(gone)] <= time.time_ns()


# --- the command line -----------------------------------------------------------------------------------

def test_help_lists_the_commands():
    """`python -m autograde --help` as the instructor types it (a subprocess: the entry point is the point)."""
    result = subprocess.run([sys.executable, "-m", "autograde", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("release", "grade", "feedback", "export", "demo"):
        assert command in result.stdout


def test_instructor_errors_exit_non_zero(tmp_path, capsys):
    assert cli(["grade", "--course", str(tmp_path)]) == 2
    assert "nbgrader_config.py" in capsys.readouterr().err
    assert cli(["release", "--course", str(ROOT), "-a", "99_no_such_assignment"]) == 2
    assert "no source/99_no_such_assignment" in capsys.readouterr().err
    (tmp_path / "nbgrader_config.py").write_text("")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "precious.txt").write_text("keep me")
    assert cli(["demo", "--workdir", str(tmp_path / "demo")]) == 2
    assert (tmp_path / "demo" / "precious.txt").exists()


def test_records_are_plain_json_written_and_read_back(tmp_path):
    """What the grader writes for a submission is JSON any tool reads, and reads back the same."""
    from autograde.grading.gradebook.records import Record, read_record, write_record

    record = Record("hw", "ann", False, reason="not valid JSON", flags=[{"code": "X", "cell": None, "message": "m"}],
                    seconds=1.5, protections=["bubblewrap"])
    path = write_record(tmp_path, record)
    assert json.loads(path.read_text()) == {"assignment": "hw", "student": "ann", "graded": False,
                                            "reason": "not valid JSON", "seconds": 1.5, "protections": ["bubblewrap"],
                                            "flags": [{"code": "X", "cell": None, "message": "m"}]}
    assert read_record(tmp_path, "hw", "ann") == record


def test_the_worker_leaves_the_scores_to_the_parent():
    """The course config names its steps by import string or by class: either way the worker drops
    the two that write scores, which the parent runs once."""
    from nbgrader.preprocessors import AssignLatePenalties, LimitOutput, SaveAutoGrades

    from autograde.grading.course.config import course_config
    from autograde.grading.scheduling.worker import writes_scores
    steps = course_config(ROOT / "nbgrader_config.py").Autograde.autograde_preprocessors
    writers = [step for step in steps if writes_scores(step)]
    assert len(writers) == 2 and all(isinstance(step, str) for step in writers)
    assert writes_scores(SaveAutoGrades) and writes_scores(AssignLatePenalties) and not writes_scores(LimitOutput)


def newest_nbgrader_migration():
    """The revision no other of nbgrader's migrations builds on: what `alembic heads` prints, which
    nbgrader stamps a new gradebook with (read from the files here, without running alembic)."""
    import re

    import nbgrader
    revisions, bases = set(), set()
    for migration in (Path(nbgrader.__file__).parent / "alembic" / "versions").glob("*.py"):
        text = migration.read_text()
        revisions.add(re.search(r"^revision = '(\w+)'", text, re.M).group(1))
        bases.add(re.search(r"^down_revision = '?(\w+)'?", text, re.M).group(1))
    [head] = revisions - bases
    return head


def test_the_workers_gradebook_template_is_stamped_as_nbgrader_stamps_and_has_no_students(tmp_path):
    """The template gets the schema version from alembic in-process instead of nbgrader's `alembic
    heads` subprocess: it must be the version nbgrader itself stamps, with the assignments and no students."""
    import sqlite3

    from nbgrader.api import Gradebook

    from autograde.grading.gradebook.database import stamped_in_process, template
    course = tmp_path / "course"
    course.mkdir()
    with stamped_in_process(), Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        gb.add_assignment("hw")
        gb.add_student("ann")
    template(course, tmp_path / "template.db")
    with sqlite3.connect(tmp_path / "template.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(newest_nbgrader_migration(),)]
        assert db.execute("SELECT name FROM assignment").fetchall() == [("hw",)]
        assert db.execute("SELECT count(*) FROM student").fetchone() == (0,)


def test_a_pool_is_kept_for_the_next_run_unless_a_worker_died():
    import os

    from autograde.grading.scheduling.pools import LocalPool
    first = LocalPool(1)
    pid = first.submit(os.getpid).result()
    first.close()
    second = LocalPool(1)
    assert second.submit(os.getpid).result() == pid  # the same warm worker
    second.submit(os._exit, 1).exception(timeout=60)  # a worker that dies
    second.close()
    third = LocalPool(1)
    assert third.executor is not second.executor and third.submit(os.getpid).result() != pid
    third.close()


def test_a_pool_started_in_the_background_warms_up_its_workers_for_the_run_that_opens_it(tmp_path):
    import os

    from autograde.grading.scheduling import pools
    warm_up = (os.chdir, (str(tmp_path),))  # each worker's first act
    pools.start(2, warm_up)
    pool = pools.LocalPool(2, warm_up)  # waits for the start instead of starting a second pool
    assert not pools._starting and (2, warm_up) not in pools._kept
    futures = [pool.submit(os.getcwd) for _ in range(4)]
    assert [future.result() for future in futures] == [str(tmp_path)] * 4
    pool.executor.shutdown()


def test_why_nbgrader_failed_is_the_exception_it_logged_not_a_line_of_its_log():
    """nbgrader logs a traceback's text inside its except block: the reason recorded is that
    exception, whatever the log's lines say."""
    import logging

    from autograde.grading.scheduling.worker import RaisedErrors

    raised = RaisedErrors()
    log = logging.getLogger("autograde.tests.raised")
    log.handlers, log.propagate = [raised], False
    log.error("Error: a line that only looks like an error")
    assert raised.summary() == ""
    try:
        raise ValueError("no kernel named 'python2'")
    except ValueError:
        log.error("There was an error processing assignment: hw")
        log.error("Traceback (most recent call last):\n  ...\nValueError: no kernel named 'python2'")
    log.error("KeyError: not raised, only printed")
    assert raised.summary() == "ValueError: no kernel named 'python2'"
