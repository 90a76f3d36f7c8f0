"""A test cell that passes ends with one line saying what it verified; one that fails shows the
check's message without the grader's frames (autograde.confirm). Plain Python prints nothing."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from autograde import compare_all, confirm
from autograde.check import GradientMismatch, check_gradient, check_value

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def nothing_noted():
    confirm._noted.clear()
    yield
    confirm._noted.clear()


def as_a_chapter(source):
    """Run `source` as code of a chapter's check (what the grader's checks are)."""
    namespace = {"__name__": "autograde.chapters.example", "np": np, "check_gradient": check_gradient,
                 "check_value": check_value, "compare_all": compare_all, "GradientMismatch": GradientMismatch}
    exec(compile(source, "<chapter>", "exec"), namespace)


def test_one_line_names_what_was_verified():
    assert confirm.confirmation([("dx", True, True), ("dy", True, True)]) == "✓ dx, dy match autograd"
    assert confirm.confirmation([("dx", True, True)]) == "✓ dx matches autograd"
    assert confirm.confirmation([("f", False, True), ("dx", True, True)]) == "✓ f, dx match the reference"
    # the grader's aside goes, and a name checked twice (visible and hidden tests) is said once
    noted = [("dx (through Square then Multiply)", True, True), ("dx", True, True)]
    assert confirm.confirmation(noted) == "✓ dx matches autograd"


def test_many_names_are_counted_on_one_line():
    line = confirm.confirmation([(f"params['layer_{i}'] after 5 steps", True, True) for i in range(12)])
    assert line.startswith("✓ all 12 match autograd: params['layer_0'] after 5 steps, ") and line.endswith(", …")
    assert "\n" not in line and len(line) < 120


def test_nothing_to_confirm_after_a_failure_or_without_checks():
    assert confirm.confirmation([]) is None
    assert confirm.confirmation([("dx", True, True), ("dy", True, False)]) is None


def test_the_chapters_checks_note_what_they_compared():
    as_a_chapter("check_value('f', 1.0, 1.0)\ncheck_gradient('dx', np.ones(3), np.ones(3))")
    assert confirm._noted == [("f", False, True), ("dx", True, True)]
    confirm._noted.clear()
    as_a_chapter("try:\n    check_gradient('dx', -np.ones(3), np.ones(3))\nexcept GradientMismatch:\n    pass")
    assert confirm._noted == [("dx", True, False)]


def test_a_wrong_row_of_a_table_is_noted_as_a_failure():
    as_a_chapter("report = compare_all({'a': np.ones(2)}, {'a': np.ones(2), 'b': np.ones(2)})")
    assert ("b", True, False) in confirm._noted and confirm.confirmation(confirm._noted) is None


def test_a_students_own_check_is_not_noted():
    """A student's check_gradient against a numerical gradient (or a lecture's compare_all) is not a
    comparison with autograd: the kernel says nothing more after it."""
    check_gradient("dx", np.ones(3), np.ones(3))
    compare_all({"a": np.ones(2)}, {"a": np.ones(2)})
    assert confirm._noted == []


# --- in a kernel: chapter 1 run cell by cell in IPython ---------------------------------------------

KERNEL = r"""
import json, os, sys
os.environ["MPLBACKEND"] = "Agg"
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from autograde.grading.demo.samples import correct_submission, variants

shell = InteractiveShell.instance()
shown = {}
wrong = {v.name: v for v in variants("01_chain_rule")}
for name, nb in [("correct", correct_submission("01_chain_rule")),
                 ("fork_overwritten", wrong["fork_overwritten"].build("01_chain_rule")),
                 ("blank", wrong["blank"].build("01_chain_rule"))]:
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        with capture_output() as out:
            result = shell.run_cell(cell.source)
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", cell.get("id"))
        shown[f"{name}/{grade_id}"] = {"text": out.stdout + out.stderr, "ok": result.success}
for cell in wrong["autograd_in_backward"].build("01_chain_rule").cells:
    if cell.metadata.get("nbgrader", {}).get("grade_id") in ("staged", "test_staged"):
        with capture_output() as out:
            result = shell.run_cell(cell.source)
        shown["autograd/" + cell.metadata["nbgrader"]["grade_id"]] = {"text": out.stdout + out.stderr,
                                                                      "ok": result.success}
with capture_output() as out:
    result = shell.run_cell("import math\ndef matvec_vjp(W, v):\n    return math.exp(W)\n"
                            "grader.check_matvec_vjp(matvec_vjp, seed=0, m=2, n=2)")
shown["student_error"] = {"text": out.stdout + out.stderr, "ok": result.success}
with capture_output() as out:
    result = shell.run_cell("from autograde.check import tolerance\ntolerance('not an array')")
shown["grader_bug"] = {"text": out.stdout + out.stderr, "ok": result.success}
with capture_output() as out:
    result = shell.run_cell("def forward(x:\n    return x")
shown["syntax_error"] = {"text": out.stdout + out.stderr, "ok": result.success}
with capture_output() as out:
    shell.run_cell("from autograde import check_gradient\ncheck_gradient('dW', np.ones(2), np.ones(2))")
shown["students_own_check"] = {"text": out.stdout, "ok": True}
sys.__stdout__.write("\nRESULT " + json.dumps(shown))
"""

TESTS = ["test_tape", "test_staged", "test_conv_net", "test_quadratic_form_grad", "test_matvec_vjp",
         "test_broadcast_add_vjp"]


@pytest.fixture(scope="module")
def kernel():
    result = subprocess.run([sys.executable, "-c", KERNEL], capture_output=True, text=True, timeout=600)
    assert "\nRESULT " in result.stdout, result.stderr[-3000:]
    shown = json.loads(result.stdout.split("\nRESULT ", 1)[1])
    return {key: {"text": ANSI.sub("", value["text"]), "ok": value["ok"]} for key, value in shown.items()}


def test_every_passing_test_cell_ends_with_one_confirmation(kernel):
    for grade_id in TESTS:
        cell = kernel[f"correct/{grade_id}"]
        lines = cell["text"].rstrip("\n").split("\n")
        assert cell["ok"], cell["text"]
        assert lines[-1].startswith("✓ ") and sum(line.startswith("✓") for line in lines) == 1, cell["text"]
    assert kernel["correct/test_staged"]["text"].rstrip().endswith("✓ f, dx, dy match the reference")
    assert kernel["correct/test_matvec_vjp"]["text"].rstrip().endswith("✓ matvec_vjp matches autograd")


def test_cells_that_check_nothing_confirm_nothing(kernel):
    assert "✓" not in kernel["correct/setup"]["text"]
    assert "✓" not in kernel["correct/staged"]["text"]
    assert kernel["students_own_check"]["text"] == ""


def test_a_failing_check_shows_its_message_alone(kernel):
    cell = kernel["fork_overwritten/test_staged"]
    text = cell["text"]
    assert not cell["ok"] and "✓" not in text
    printed, error = text.split("GradientMismatch: dx is wrong", 1)
    assert printed == "f = 1.545645, dx = 0.512144, dy = 1.592233\n"  # what the test printed, then the message
    assert "accumulate with `dx += ...`" in error and "Traceback" not in text
    for internal in ("chain_rule.py", "check.py", "guard.py", "autograde/"):
        assert internal not in text, text
    assert "✓" in kernel["fork_overwritten/test_tape"]["text"]  # the other tests still pass


def test_an_error_in_student_code_shows_the_students_frame_not_the_graders(kernel):
    text = kernel["student_error"]["text"]
    assert "TypeError" in text and "in matvec_vjp(W, v), called with W: numpy float64 array" in text
    assert "return math.exp(W)" in text  # the student's own line, where it was raised
    assert "grader.check_matvec_vjp(" in text  # and the test's line that called it
    for internal in ("chain_rule.py", "guard.py", "autograde/"):
        assert internal not in text, text
    blank = kernel["blank/test_tape"]["text"]
    assert "raise NotImplementedError()" in blank and "autograde/" not in blank


def test_autograd_called_shows_the_students_line_that_called_it(kernel):
    cell = kernel["autograd/test_staged"]
    assert not cell["ok"] and "called torch autograd" in cell["text"]
    assert "f.sum().backward()" in cell["text"]  # the student's line
    assert "autograde/" not in cell["text"] and "guard.py" not in cell["text"], cell["text"]


def test_other_errors_look_as_ipython_shows_them(kernel):
    cell = kernel["syntax_error"]
    assert not cell["ok"] and "SyntaxError" in cell["text"] and "def forward(x:" in cell["text"]
    assert "interactiveshell.py" not in cell["text"], cell["text"]


def test_a_grader_bug_still_says_where_it_happened(kernel):
    cell = kernel["grader_bug"]
    assert not cell["ok"] and "AttributeError" in cell["text"] and "check.py" in cell["text"], cell["text"]
