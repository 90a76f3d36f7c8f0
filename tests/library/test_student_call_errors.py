"""An error inside a student's function keeps its type, message and traceback, and says which
function was called with what and what the error usually means (guard.by_hand / by_hand_on_copies)."""
import math
import traceback

import numpy as np
import pytest
import torch

from autograde import AutogradCalled, GradientMismatch, by_hand
from autograde.chapters import chain_rule
from autograde.guard import SCALAR_ONLY, by_hand_on_copies, describe


def raised_by(function, *args, **kwargs):
    with pytest.raises(Exception) as info:
        by_hand_on_copies(function, *args, **kwargs) if not kwargs else by_hand(function, *args, **kwargs)
    return info.value


def full_text(exc):
    """What a student sees: the traceback as Python (and IPython) prints it, notes included."""
    return "".join(traceback.format_exception(exc))


# --- the call and its likely cause ---------------------------------------------------------------

def test_a_function_written_with_math_says_what_it_was_called_with_and_why_it_fails():
    def staged_forward(x, y):
        return math.exp(x) + y, {}

    exc = raised_by(staged_forward, np.ones((3, 4)), np.zeros((3, 4)))
    assert type(exc) is TypeError  # the original type: `except TypeError` in a check still catches it
    text = str(exc)
    assert text.startswith("only 0-dimensional arrays can be converted")  # numpy's own message first
    assert "in staged_forward(x, y), called with x: numpy float64 array of shape (3, 4), " \
           "y: numpy float64 array of shape (3, 4)" in text
    assert SCALAR_ONLY in text and "np.exp" in text


def test_float_of_an_array_is_explained_the_same_way():
    exc = raised_by(lambda t: float(t) * 2, np.arange(3.0))
    assert "single numbers" in str(exc)


def test_the_traceback_still_points_into_the_students_code():
    def conv_net_backward(cache):
        return cache["x"] @ cache["w"]  # (2, 3) @ (2, 3)

    exc = raised_by(conv_net_backward, {"x": np.ones((2, 3)), "w": np.ones((2, 3))})
    frames = traceback.extract_tb(exc.__traceback__)
    assert frames[-1].name == "conv_net_backward"
    assert "matrix product" in str(exc) and "cache: dict with keys 'x', 'w'" in str(exc)


@pytest.mark.parametrize("body, cause", [
    (lambda x: x if x > 0 else -x, "no single truth value"),
    (lambda x: x + np.ones((4, 2)), "shapes do not line up"),
    (lambda x: x[:, 0], "indexing assumes another shape"),
    (lambda x: (lambda: None)() + x, "missing its `return`"),
    (lambda x: torch.exp(x), "a torch function got a numpy array"),
    (lambda x: x.detach(), "a torch method was called on a numpy array"),
])
def test_familiar_errors_name_their_usual_cause(body, cause):
    exc = raised_by(body, np.ones(3))
    assert cause in str(exc), str(exc)


def test_a_changed_signature_is_named():
    def matvec_vjp(W):  # the exercise says matvec_vjp(W, v)
        return W

    exc = raised_by(matvec_vjp, np.eye(2), np.ones(2))
    assert isinstance(exc, TypeError) and "keep the names and parameters" in str(exc)
    assert "argument 1: numpy float64 array of shape (2, 2)" in str(exc)


def test_a_missing_cache_key_keeps_its_message_and_gets_a_note():
    def staged_backward(cache):
        return cache["sigx"]

    exc = raised_by(staged_backward, {"x": 1.0, "y": 2.0})
    assert type(exc) is KeyError and exc.args == ("sigx",)  # KeyError's str is the key: left as it is
    assert "in staged_backward(cache), called with cache: dict with keys 'x', 'y'" in full_text(exc)
    assert "store under that key" in full_text(exc)


def test_an_error_with_structured_arguments_keeps_them():
    def reads_a_file(path):
        raise OSError(2, "No such file or directory")

    exc = raised_by(reads_a_file, "data.csv")
    assert exc.errno == 2 and exc.args == (2, "No such file or directory")
    assert "in reads_a_file(path), called with path: str 'data.csv'" in full_text(exc)


def test_methods_and_keyword_arguments_are_named():
    class Square:
        def forward(self, inputs):
            (h,) = inputs
            return math.tanh(h)

    exc = raised_by(Square().forward, [torch.ones(2, dtype=torch.float32)])
    assert "in Square.forward(inputs)" in str(exc)
    assert "inputs: list of 1 [torch float32 tensor of shape (2,)]" in str(exc)
    exc = raised_by(lambda x, v=1.0: math.exp(x) * v, np.ones(2), v=np.float32(2.0))
    assert "v: numpy float32 scalar 2.0" in str(exc)


def test_descriptions_are_short():
    assert describe(np.zeros((1000, 1000))) == "numpy float64 array of shape (1000, 1000)"
    assert describe(np.array(3.5)) == "numpy float64 0-d array (3.5)"
    assert describe(list(range(100))) == "list of 100"
    assert describe(None) == "NoneType None"


# --- what must not change ---------------------------------------------------------------------------

def test_a_blank_answer_only_says_it_is_not_implemented_yet():
    def staged_forward(x, y):
        # YOUR CODE HERE
        raise NotImplementedError()

    exc = raised_by(staged_forward, np.ones((3, 4)), np.ones((3, 4)))
    assert type(exc) is NotImplementedError
    assert str(exc) == ("staged_forward() is not implemented yet: write your code where it says YOUR CODE "
                        "HERE and delete the line `raise NotImplementedError()`.")


def test_a_blank_helper_is_named():
    def nll_loss(logp, target):
        raise NotImplementedError()

    def cross_entropy(z, target):
        return nll_loss(z, target)

    exc = raised_by(cross_entropy, np.ones((2, 3)), np.zeros(2, dtype=int))
    assert "cross_entropy() is not implemented yet (it calls " in str(exc) and "nll_loss(), which is not" in str(exc)


def test_a_blank_release_still_fails_its_check():
    def matvec_vjp(W, v):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError, match="matvec_vjp\\(\\) is not implemented yet"):
        chain_rule.check_matvec_vjp(matvec_vjp, seed=0, m=2, n=2)


def test_the_graders_own_messages_pass_untouched():
    def backward_with_autograd(x):
        t = torch.tensor(x, requires_grad=True)
        (t ** 2).sum().backward()
        return t.grad

    exc = raised_by(backward_with_autograd, np.ones(3))
    assert type(exc) is AutogradCalled and "called with" not in str(exc)

    def raises_a_mismatch(x):
        raise GradientMismatch("dx is wrong")

    assert str(raised_by(raises_a_mismatch, np.ones(3))) == "dx is wrong"


def test_a_students_own_assert_is_explained():
    def staged_forward(x, y):
        assert np.ndim(x) == 0
        return x, {}

    exc = raised_by(staged_forward, np.ones(2), np.ones(2))
    assert type(exc) is AssertionError and "in staged_forward(x, y), called with x: numpy float64" in str(exc)
    assert str(exc).startswith("assert")  # the student's own message first


def test_nested_calls_explain_once_from_the_innermost():
    def inner(x):
        return math.log(x)

    def outer(x):
        return by_hand(inner, x)

    text = str(raised_by(outer, np.ones(2)))
    assert text.count("called with") == 1 and "in inner(x)" in text


def test_a_failed_check_through_the_chapter_says_what_was_called():
    def staged_forward(x, y):
        sig = 1 / (1 + math.exp(-y))
        return (x + sig) / (1 + (x + y) ** 2), {}

    def staged_backward(cache):
        return 0.0, 0.0

    rng = np.random.default_rng(7)
    with pytest.raises(TypeError) as info:
        chain_rule.check_staged(staged_forward, staged_backward, rng.normal(size=(3, 4)), rng.normal(size=(3, 4)))
    assert "staged_forward(x, y), called with x: numpy float64 array of shape (3, 4)" in str(info.value)
    assert "work elementwise" in str(info.value)


def test_keyboard_interrupts_are_not_touched():
    def interrupted(x):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        by_hand_on_copies(interrupted, 1)
    assert str(info.value) == ""
