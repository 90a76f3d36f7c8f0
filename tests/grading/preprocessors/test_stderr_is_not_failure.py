"""A test cell that wrote to stderr but raised nothing keeps its points; a failing one stays failed."""
from nbformat.v4 import new_code_cell, new_output
from nbgrader.utils import determine_grade

from autograde.grading.preprocessors import StderrIsNotFailure


def graded_cell(*outputs):
    cell = new_code_cell("check()", outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": "t", "points": 2, "solution": False, "locked": True}
    return cell


def run(cell):
    return StderrIsNotFailure().preprocess_cell(cell, {}, 0)[0]


def test_warning_on_stderr_no_longer_zeroes_the_cell():
    cell = graded_cell(new_output("stream", name="stderr", text="UserWarning: something\nmore\n"))
    assert determine_grade(cell)[0] == 0  # what plain nbgrader would give
    cell = run(cell)
    assert determine_grade(cell)[0] == 2
    assert cell.outputs[0].name == "stdout"
    assert cell.outputs[0].text == "[stderr] UserWarning: something\n[stderr] more\n"


def test_a_cell_that_raised_keeps_its_stderr_and_its_zero():
    cell = run(graded_cell(
        new_output("stream", name="stderr", text="warning\n"),
        new_output("error", ename="AssertionError", evalue="dx is wrong", traceback=[]),
    ))
    assert cell.outputs[0].name == "stderr"
    assert determine_grade(cell)[0] == 0
