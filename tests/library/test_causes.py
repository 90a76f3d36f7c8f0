"""Every failed check carries a cause code, and a notebook kernel records the cause of each cell that
fails or ends with partial credit as an invisible output (autograde.cause); plain python publishes nothing."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from autograde import AutogradCalled, by_hand, compare_all
from autograde.cause import CAUSES, MIME, cause_of
from autograde.check import GradientMismatch, Mistake, check_gradient, check_value

REF = np.array([[1.0, -2.0, 3.0], [0.5, 4.0, -1.5]])
SQUARE = np.array([[1.0, 2.0], [3.0, 5.0]])


def cause(got, expected=REF, check=check_gradient, **kwargs):
    with pytest.raises(GradientMismatch) as info:
        check("dW", got, expected, **kwargs)
    return cause_of(info.value)


@pytest.mark.parametrize("got, expected, kwargs, code", [
    (2 * REF, REF, {}, "factor_2"),
    (0.5 * REF, REF, {}, "factor_2"),
    (-REF, REF, {}, "sign"),
    (SQUARE.T, SQUARE, {}, "transposed"),
    (REF.T, REF, {}, "transposed"),                                    # caught by the shape
    (4 * REF, REF, {"batch_size": 4}, "missing_1_over_n"),
    (REF / 4, REF, {"batch_size": 4}, "extra_1_over_n"),
    (3 * REF, REF, {}, "factor"),
    (REF * np.nan, REF, {}, "nan"),
    (np.zeros_like(REF), REF, {}, "zeros"),
    (np.ones((5, 3)) * REF[0], REF[0], {}, "broadcast_not_summed"),  # a bias gradient not summed
    (REF.reshape(-1), REF, {}, "shape"),
    (np.array([1.0, 2.0, 0.5]), np.array([1.0, 2.0, 0.0]), {}, "gate"),
    (REF * 1.001, REF, {}, "precision"),
    (REF + np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 3.0]]), REF, {}, "other"),
])
def test_each_generic_mistake_has_its_code(got, expected, kwargs, code):
    assert code in CAUSES
    assert cause(got, expected, **kwargs) == code


def test_a_value_with_a_summed_axis_is_a_shape_mistake():
    assert cause(np.ones((5, 3)), np.ones(3), check=check_value) == "shape"


def test_known_mistakes_give_their_own_code_or_specific():
    wrong = REF + 1
    assert cause(wrong, known_mistakes={"an overwritten fork": Mistake(wrong, "fork_overwritten")}) == "fork_overwritten"
    assert cause(wrong, known_mistakes={"the chapter's own slip": wrong}) == "specific"
    assert cause(wrong, known_mistakes={"not this one": Mistake(REF - 1, "sign")}) == "other"
    with pytest.raises(GradientMismatch, match="an overwritten fork"):
        check_gradient("dW", wrong, REF, known_mistakes={"an overwritten fork": Mistake(wrong, "fork_overwritten")})


def test_a_message_raised_again_with_more_words_keeps_the_cause():
    try:
        try:
            check_gradient("dW", 2 * REF, REF)
        except GradientMismatch as exc:
            raise GradientMismatch(f"With these inputs:\n{exc}") from None
    except GradientMismatch as outer:
        assert cause_of(outer) == "factor_2"
    assert cause_of(GradientMismatch("a chapter's own message")) == "specific"
    assert cause_of(GradientMismatch("said by the chapter", cause="transposed")) == "transposed"


def test_a_crash_while_explaining_a_mismatch_is_a_crash_not_the_mismatch():
    try:
        try:
            check_gradient("dW", 2 * REF, REF)
        except GradientMismatch:
            raise TypeError("boom")
    except TypeError as error:
        assert cause_of(error) is None


def test_errors_that_say_their_cause_by_their_kind():
    def blank(x):
        raise NotImplementedError()

    def uses_autograd(x):
        t = torch.tensor(x, requires_grad=True)
        (t ** 2).sum().backward()
        return t.grad

    with pytest.raises(NotImplementedError) as info:
        by_hand(blank, np.ones(2))
    assert cause_of(info.value) == "not_implemented"
    with pytest.raises(AutogradCalled) as info:
        by_hand(uses_autograd, np.ones(2))
    assert cause_of(info.value) == "autograd"
    assert cause_of(ValueError("a student's crash")) is None

    class LibraryCalled(AssertionError):
        """A chapter's own kind of failure."""

    assert cause_of(LibraryCalled("called torch.softmax")) == "specific"
    assert cause_of(AssertionError("a bare assert")) is None


def test_table_rows_carry_causes_and_the_report_names_the_first_wrong_row():
    expected = {"dz": np.ones(3), "dh": np.arange(1.0, 4.0), "dW": np.eye(2)}
    report = compare_all({"dz": np.ones(3), "dh": -np.arange(1.0, 4.0), "dW": 2 * np.eye(2)}, expected)
    assert [row.cause for row in report.rows] == ["", "sign", "factor_2"]
    assert report.cause == "sign"
    assert compare_all({"dz": np.ones(3)}, {"dz": np.ones(3), "dW": np.eye(2)}).cause == "not_an_array"
    assert compare_all({"dz": np.ones(3)}, {"dz": np.ones(3)}).cause is None


# --- in a kernel, and in plain python -------------------------------------------------------------

IPYTHON_CELLS = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.displaypub import CapturingDisplayPublisher

shell = InteractiveShell.instance()
shell.display_pub = CapturingDisplayPublisher()
cells = {
    "setup": "import numpy as np\nfrom autograde import check_gradient, compare_all\nfrom autograde.check import GradientMismatch",
    "factor_2": "check_gradient('dW', 2 * np.ones(3), np.ones(3))",
    "passes": "check_gradient('dW', np.ones(3), np.ones(3))",
    "caught": "try:\n    check_gradient('dW', -np.ones(3), np.ones(3))\nexcept GradientMismatch:\n    pass",
    "reworded": "try:\n    check_gradient('dW', -np.ones(3), np.ones(3))\nexcept GradientMismatch as e:\n"
                "    raise GradientMismatch(f'{e}\\nmore words') from None",
    "partial": "compare_all({'a': np.ones(2), 'b': np.zeros(2)}, {'a': np.ones(2), 'b': np.ones(2)}).points(2)",
    "full": "compare_all({'a': np.ones(2)}, {'a': np.ones(2)}).points(2)",
    "blank": "raise NotImplementedError()",
    "crash": "1 / 0",
}
published = {}
for name, source in cells.items():
    before = len(shell.display_pub.outputs)
    shell.run_cell(source)
    published[name] = [out["data"] for out in shell.display_pub.outputs[before:]]
sys.__stdout__.write("\nRESULT " + json.dumps(published))
"""


def test_a_kernel_records_the_cause_of_each_failed_cell_once():
    result = subprocess.run([sys.executable, "-c", IPYTHON_CELLS], capture_output=True, text=True, check=True)
    published = json.loads(result.stdout.split("\nRESULT ", 1)[1])

    def recorded(name):
        return [data[MIME]["cause"] for data in published[name]]

    assert recorded("factor_2") == ["factor_2"]
    assert recorded("reworded") == ["sign"]
    assert recorded("partial") == ["zeros"]
    assert recorded("blank") == ["not_implemented"]
    for quiet in ("setup", "passes", "caught", "full", "crash"):
        assert published[quiet] == [], quiet
    # nothing visible: an empty text beside the cause
    assert published["factor_2"] == [{MIME: {"cause": "factor_2"}, "text/plain": ""}]


PLAIN_PYTHON = r"""
import sys
import numpy as np
from autograde.cause import emit
from autograde.check import GradientMismatch, check_gradient
try:
    check_gradient("dW", 2 * np.ones(3), np.ones(3))
except GradientMismatch as exc:
    assert exc.cause == "factor_2"
emit("factor_2")
assert "IPython" not in sys.modules
"""


def test_plain_python_publishes_nothing():
    result = subprocess.run([sys.executable, "-c", PLAIN_PYTHON], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
