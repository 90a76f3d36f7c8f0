"""The mistake report's collector (autograde.grading.inspection.causes) on small hand-made notebooks and a small
course: one cause per cell that lost points, read from the error's name, the grader's flags, the
record and the cause the kernel recorded, never from English; written answers that wait are not
mistakes; no student id in the examples. Then the page and causes.csv, and a real kernel recording a cause."""
import csv
import re

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook
from nbgrader.utils import compute_checksum

from autograde.cause import MIME
from autograde.grading.inspection.causes import anonymise, cell_loss, collect, examples, Loss
from autograde.grading.gradebook.flags import add_flag
from autograde.grading.gradebook.database import db_url, stamped_in_process
from autograde.grading.gradebook.records import Record, write_record
from autograde.grading.reports.report import write


def error(ename, evalue=""):
    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def recorded(cause):
    return new_output("display_data", data={MIME: {"cause": cause}, "text/plain": ""})


def graded_cell(grade_id, outputs=(), points=1):
    cell = new_code_cell("grader.check(...)", outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": points, "solution": False,
                                 "locked": True, "schema_version": 3}
    return cell


def written_cell(grade_id, source="YOUR ANSWER HERE", points=1, answered=False):
    cell = new_markdown_cell(source)
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": points, "solution": True,
                                 "locked": False, "schema_version": 3}
    cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    if answered:
        cell.source = "Because the paths add."
    return cell


# --- one cell ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("outputs, flags, cause", [
    ([recorded("factor_2"), error("GradientMismatch", "dW is wrong")], set(), "factor_2"),
    ([error("GradientMismatch", "dW is wrong"), recorded("transposed")], set(), "transposed"),
    ([error("GradientMismatch", "a chapter's own words")], set(), "specific"),
    ([error("AssertionError", "a student's assert")], set(), "other"),
    ([error("TypeError", "only length-1 arrays")], set(), "error"),
    ([error("NotImplementedError")], set(), "not_implemented"),
    ([error("AutogradCalled", "called torch autograd")], set(), "autograd"),
    ([error("NotAnArray", "got None")], set(), "not_an_array"),
    ([error("CellTimeoutError")], {"L"}, "timeout"),
    ([error("KeyboardInterrupt")], {"L"}, "timeout"),
    ([error("KernelDied", "segmentation fault")], {"K"}, "kernel_died"),
    ([error("CellNotRun", "not run: the kernel died in an earlier cell")], {"K"}, "kernel_died"),
    ([error("CellNotRun", "not run: the notebook used up its time budget")], {"L"}, "timeout"),
    ([error("CellNotRun", "not run")], set(), "not_run"),
    ([error("MemoryError")], {"M"}, "memory"),
    ([recorded("not_implemented"), error("NotImplementedError")], set(), "not_implemented"),
    ([new_output("stream", name="stdout", text="2 of 3 right"), recorded("fork_overwritten")], set(),
     "fork_overwritten"),                                        # partial credit: no error
    ([new_output("stream", name="stdout", text="2 of 3 right")], set(), "other"),
    ([recorded("no_such_code"), error("GradientMismatch")], set(), "specific"),
])
def test_one_cause_per_cell_from_structure(outputs, flags, cause):
    assert cell_loss((graded_cell("test_a", outputs), flags), None).cause == cause


def test_a_structural_cause_wins_over_what_the_kernel_recorded():
    # the time limit interrupted a check: the interrupt, not the check, took the points
    outputs = [recorded("factor_2"), error("KeyboardInterrupt")]
    assert cell_loss((graded_cell("test_a", outputs), {"L"}), None).cause == "timeout"


def test_not_graded_and_written_answers():
    failed = Record("a1", "carol", False, reason="nb.ipynb is not valid JSON")
    assert cell_loss(None, failed) == Loss("not_graded", "nb.ipynb is not valid JSON")
    assert cell_loss((written_cell("written"), set()), None).cause == "not_implemented"
    assert cell_loss((written_cell("written", answered=True), set()), None).cause == "other"


def test_examples_show_each_cause_once_then_other_messages():
    losses = ([Loss("sign", "dW sign")] * 3 + [Loss("factor_2", "dW twice")] * 2 + [Loss("sign", "db sign")]
              + [Loss("error", "TypeError")])
    assert examples(losses) == [("sign", "dW sign", 3), ("factor_2", "dW twice", 2), ("error", "TypeError", 1)]
    assert examples(losses, keep=5)[3:] == [("sign", "db sign", 1)]


def test_anonymise_takes_out_student_ids():
    students = ["jsmith42", "bob"]
    text = "jsmith42 changed /course/submitted/bob/a1/nb.ipynb and submitted/jsmith42/a1; bobcat stays"
    assert anonymise(text, "jsmith42", students) == (
        "<student> changed /course/submitted/<student>/a1/nb.ipynb and submitted/<student>/a1; bobcat stays")
    assert len(anonymise("x" * 5000, "bob")) < 1000


# --- a small course -----------------------------------------------------------------------------------

STUDENTS = {
    # student: ({cell: (score, outputs or written cell, flags)}, record)
    "alice": {"test_one": (0, [recorded("factor_2"), error("GradientMismatch", "dW is wrong (alice)")], set()),
              "test_two": (1, [], set()), "written": ("waiting", True, set())},
    "bob": {"test_one": (0, [error("NotImplementedError")], set()),
            "test_two": (0, [error("CellNotRun", "not run: the kernel died in an earlier cell")], {"K"}),
            "written": (0, False, set())},
    "carol": "could not read /course/submitted/carol/a1/nb.ipynb",
    "dave": {"test_one": (1.5, [new_output("stream", name="stdout", text="1 of 2 right"),
                                recorded("fork_overwritten")], set()),
             "test_two": (0, [error("TypeError", "unsupported operand")], set()),
             "written": (0.5, True, set())},
}
MAX = {"test_one": 2, "test_two": 1, "written": 1}


def make_course(root):
    """A gradebook with one assignment (two tests, one written answer), four submissions, their
    graded notebooks and records, and the release (for the order of the cells)."""
    release = new_notebook(cells=[graded_cell("test_two"), written_cell("written"), graded_cell("test_one", points=2)])
    (root / "release" / "a1").mkdir(parents=True)
    nbformat.write(release, root / "release" / "a1" / "nb.ipynb")
    with stamped_in_process(), Gradebook(db_url(root)) as gb:  # no `alembic heads` subprocess
        gb.add_assignment("a1")
        gb.add_notebook("nb", "a1")
        for name, points in MAX.items():
            gb.add_grade_cell(name, "nb", "a1", max_score=points, cell_type="markdown" if name == "written" else "code")
        gb.add_solution_cell("written", "nb", "a1")
        for student, cells in STUDENTS.items():
            gb.add_student(student)
            gb.add_submission("a1", student)
            for name in MAX:
                grade = gb.find_grade(name, "nb", "a1", student)
                score = 0 if isinstance(cells, str) else cells[name][0]
                grade.needs_manual_grade = score == "waiting"
                grade.auto_score = None if score == "waiting" else score
            gb.db.commit()
    for student, cells in STUDENTS.items():
        if isinstance(cells, str):
            write_record(root, Record("a1", student, False, reason=cells))
            continue
        write_record(root, Record("a1", student, True))
        nb = new_notebook()
        for name, (_, outputs, flags) in cells.items():
            nb.cells.append(written_cell(name, answered=outputs) if name == "written" else graded_cell(name, outputs))
            for code in flags:
                add_flag(nb, code, "a flag", name)
        folder = root / "autograded" / student / "a1"
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "nb.ipynb")
    return root


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    return make_course(tmp_path_factory.mktemp("course"))


def test_collect_counts_one_cause_per_lost_cell_and_waits_for_written_answers(course):
    found = collect(course)
    summary = found["a1"]
    assert list(summary.cells) == ["test_two", "written", "test_one"]  # the release's order
    assert sorted(summary.totals) == [(0, 4), (0, 4), (1, 4), (2, 4)]
    assert summary.not_graded == 1 and summary.waiting == 1
    one, two, written = summary.cells["test_one"], summary.cells["test_two"], summary.cells["written"]
    assert one.causes == {"factor_2": 1, "not_implemented": 1, "not_graded": 1, "fork_overwritten": 1}
    assert two.causes == {"kernel_died": 1, "not_graded": 1, "error": 1}
    assert written.causes == {"not_implemented": 1, "not_graded": 1, "other": 1}
    assert written.waiting == 1 and len(written.scores) == 3   # alice's answer waits: not a mistake
    assert one.lost == 4 and two.lost == 3 and one.mean == pytest.approx(1.5 / 4)
    assert two.share_lost == pytest.approx(3 / 4)
    for cell in summary.cells.values():  # every lost cell counted exactly once
        assert sum(cell.causes.values()) == cell.lost


def test_examples_name_no_student(course):
    found = collect(course)
    text = "\n".join(message for cell in found["a1"].cells.values() for _, message, _ in cell.examples)
    assert "dW is wrong (<student>)" in text and "submitted/<student>/a1" in text
    assert not re.search(r"\b(alice|bob|carol|dave)\b", text)


def test_report_page_and_csv(course, tmp_path):
    html_path, csv_path, found = write(course, tmp_path / "report")
    page = html_path.read_text()
    assert page.count("<img src='data:image/png;base64,") == 2          # histogram, heat map
    assert "needs grading (1)" in page and "could not be graded" in page
    assert not re.search(r"\b(alice|bob|carol|dave)\b", page)
    assert "http://" not in page and "https://" not in page             # nothing to fetch: readable offline
    rows = list(csv.DictReader(open(csv_path)))
    assert {(r["cell"], r["cause"]): int(r["count"]) for r in rows} == {
        (cell, cause): n for (cell, cause), n in found["a1"].counts().items()}
    assert {"assignment": "a1", "cell": "test_one", "cause": "factor_2", "count": "1"} in rows


def test_an_empty_course_gives_a_page_saying_so(tmp_path):
    with stamped_in_process(), Gradebook(db_url(tmp_path)):
        pass
    html_path, csv_path, found = write(tmp_path, tmp_path / "report")
    assert found == {} and "No graded submissions yet" in html_path.read_text()
    assert csv_path.read_text().splitlines() == ["assignment,cell,cause,count"]


# --- a real kernel ------------------------------------------------------------------------------------

@pytest.mark.nbgrader
def test_a_real_kernel_records_the_cause_in_the_failing_cell(tmp_path):
    nb = new_notebook(cells=[
        new_code_cell("import numpy as np\nfrom autograde import check_gradient"),
        graded_cell("test_twice", [], 1),
        graded_cell("test_right", [], 1),
    ])
    nb.cells[1].source = "check_gradient('dW', 2 * np.ones(3), np.ones(3))"
    nb.cells[2].source = "check_gradient('dW', np.ones(3), np.ones(3))"
    NotebookClient(nb, timeout=120, allow_errors=True, kernel_name="python3", resources={
        "metadata": {"path": str(tmp_path)}}).execute()
    twice, right = nb.cells[1], nb.cells[2]
    assert [out.output_type for out in twice.outputs] == ["error", "display_data"]
    assert twice.outputs[1].data == {MIME: {"cause": "factor_2"}, "text/plain": ""}
    assert right.outputs == []
    assert cell_loss((twice, set()), None).cause == "factor_2"
    nbformat.validate(nb)
