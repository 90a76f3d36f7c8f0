"""The trusted checker (SandboxedExecute.checker = "trusted", autograde/grading/checker/) through
`python -m autograde grade`, on chapter 1: the test cells run in the grader's process and call into
the student's kernel. Every honest sample scores as when the tests run in the kernel; a blank
notebook whose hook erases its failed tests' errors gets its points in the kernel and none from
the checker; a hook that prints every cell's code shows the hidden tests in the kernel and none
from the checker."""
import shutil

import nbformat
import pytest

from autograde.grading.cli import main as cli
from autograde.grading.course.layout import manual_grade_ids, notebook_path, submit
from autograde.grading.demo.samples import blank_submission, variants
from autograde.grading.demo.samples.bad_inputs import solution_cells

ASSIGNMENT = "01_chain_rule"
HONEST = ("correct", "blank", "fork_overwritten", "tape_on_the_class", "written_differently")
HIDDEN_CALL = "check_tape(Multiply, Square, seed=101"  # a line of the first test cell's hidden part

FORGE = '''
from IPython.display import clear_output as _clear

def _forge(result):
    result.error_in_exec = None  # the kernel then reports the cell as a success
    _clear()  # and its error leaves the cell's outputs
    print("✓ matches the reference")

get_ipython().events.register("post_run_cell", _forge)
'''

LEAK = '''
def _leak(info):
    print("CELL:", info.raw_cell)

get_ipython().events.register("pre_run_cell", _leak)
'''


def hooked(code):
    nb = blank_submission(ASSIGNMENT)
    cell = solution_cells(nb)[0]
    cell.source = cell.source.rstrip() + "\n\n" + code.strip() + "\n"
    return nb


@pytest.fixture(scope="module")
def graded(released, tmp_path_factory):
    """{"kernel" | "trusted": (course, {student: {cell: (score, max)}})}, the same class graded both ways."""
    from autograde.grading.gradebook.database import cell_scores

    course = released(tmp_path_factory.mktemp("checker"), ASSIGNMENT)
    by_name = {v.name: v for v in variants(ASSIGNMENT)}
    for name in HONEST:
        submit(course, ASSIGNMENT, name, by_name[name].build(ASSIGNMENT))
    submit(course, ASSIGNMENT, "forged", hooked(FORGE))
    submit(course, ASSIGNMENT, "leaky", hooked(LEAK))
    written = manual_grade_ids(ASSIGNMENT)
    results = {}
    for mode in ("kernel", "trusted"):
        copy = tmp_path_factory.mktemp(mode) / "course"
        shutil.copytree(course, copy)
        with open(copy / "nbgrader_config.py", "a") as config:
            config.write(f'\nc.SandboxedExecute.checker = "{mode}"\n')
        assert cli(["grade", "--course", str(copy), "-a", ASSIGNMENT, "--no-progress"]) == 0
        scores = {student: {cell: s for cell, s in cells.items() if cell not in written}
                  for student, cells in cell_scores(copy, ASSIGNMENT).items()}
        results[mode] = copy, scores
    return results


def total(cells):
    return sum(score for score, _ in cells.values()), sum(maximum for _, maximum in cells.values())


def outputs_text(course, student):
    nb = nbformat.read(notebook_path(course, "autograded", ASSIGNMENT, student), as_version=4)
    return "\n".join(str(out.get("text", "")) + str(out.get("data", "")) + str(out.get("evalue", ""))
                     for cell in nb.cells for out in cell.get("outputs", []))


def test_every_honest_sample_scores_as_when_the_tests_run_in_the_kernel(graded):
    kernel, trusted = graded["kernel"][1], graded["trusted"][1]
    assert {s: trusted[s] for s in HONEST} == {s: kernel[s] for s in HONEST}
    assert total(trusted["correct"])[0] == total(trusted["correct"])[1] > 0
    assert total(trusted["blank"])[0] == 0


def test_a_hook_that_erases_errors_forges_the_kernels_verdict_not_the_checkers(graded):
    forged_in_kernel, maximum = total(graded["kernel"][1]["forged"])
    assert forged_in_kernel == maximum  # the flaw the checker closes, shown
    assert total(graded["trusted"][1]["forged"]) == (0, maximum)


def test_a_hook_that_prints_each_cell_shows_no_hidden_test_from_the_checker(graded):
    assert HIDDEN_CALL in outputs_text(graded["kernel"][0], "leaky")  # the leak, shown
    text = outputs_text(graded["trusted"][0], "leaky")
    assert "CELL:" in text and HIDDEN_CALL not in text and "grader.check_" not in text


def test_the_hooks_are_flagged_for_the_instructor_both_ways(graded):
    from autograde.grading.gradebook.records import read_record

    for mode, (course, _) in graded.items():
        for student in ("forged", "leaky"):
            flags = read_record(course, ASSIGNMENT, student).flags
            assert any(f["code"] == "P" and "hooks into IPython" in f["message"] for f in flags), (mode, student, flags)
        assert not any(f["code"] == "P" for f in read_record(course, ASSIGNMENT, "correct").flags)
