"""The cmp table and partial credit, the numerical gradient, the autograd guard, the references."""
import numpy as np
import pytest
import torch

from autograde.guard import autograd_allowed
from autograde.off_limits import GraderCodeCalled, handed_over
from autograde.table import every_case, merged
from autograde import AutogradCalled, by_hand, compare_all, no_autograd, numerical_gradient, relative_error
from autograde.reference import randn, retained_grads, torch_grads


# --- cmp table ---------------------------------------------------------------------------------

def test_table_gives_credit_per_right_row_and_explains_the_rest():
    expected = {"a": np.ones(3), "b": np.arange(4.0), "c": np.eye(2), "d": 1.0}
    got = {"a": np.ones(3, dtype=np.float32), "b": 2 * np.arange(4.0), "c": np.eye(3)}
    report = compare_all(got, expected)
    assert [row.status for row in report.rows] == ["ok", "wrong", "shape", "missing"]
    assert report.fraction == 0.25
    assert report.points(out_of=6) == 1.5
    text = str(report)
    assert "1 of 4 gradients right" in text
    assert "factor of 2" in text and "expected (2, 2), got (3, 3)" in text and "d: missing" in text


def test_table_marks_exact_and_close_rows():
    report = compare_all({"a": np.array([1.0, 2.0]), "b": np.array([1.0 + 1e-9])},
                         {"a": np.array([1.0, 2.0]), "b": np.array([1.0])})
    assert [row.exact for row in report.rows] == [True, False]
    assert report.fraction == 1.0


def test_table_names_known_mistakes_per_row():
    report = compare_all({"W": np.array([[1.0, 3.0], [2.0, 4.0]])}, {"W": np.array([[1.0, 2.0], [3.0, 5.0]])},
                         known_mistakes={"W": {"dW is transposed": np.array([[1.0, 3.0], [2.0, 4.0]])}})
    assert "dW is transposed" in str(report)


def test_merged_pools_rows_and_every_case_keeps_only_rows_right_everywhere():
    right = compare_all({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0})
    b_wrong = compare_all({"a": 1.0, "b": 5.0}, {"a": 1.0, "b": 2.0})
    assert merged(right, b_wrong).points(4) == 3  # 3 of 4 rows right
    assert every_case([right, b_wrong]).points(2) == 1  # b is wrong in one case, so it counts as wrong
    assert every_case([right, b_wrong]).rows[1].status == "wrong"


def test_table_survives_unreadable_entries():
    report = compare_all({"a": None}, {"a": np.ones(2)})
    assert report.rows[0].status == "unreadable" and report.points(3) == 0


# --- numerical gradient and relative error -----------------------------------------------------

def test_numerical_gradient_matches_autograd_and_restores_x():
    x = randn(0, 3, 4)
    before = x.copy()
    numeric = numerical_gradient(lambda x: np.sum(np.sin(x) * x ** 2), x)
    exact = torch_grads(lambda x: (torch.sin(x) * x ** 2).sum(), {"x": x})["x"]
    assert relative_error(numeric, exact) < 1e-7
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("x", [np.arange(3), np.ones(3, dtype=np.float32)])
def test_numerical_gradient_refuses_anything_but_float64(x):
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(np.sum, x)


def test_relative_error_is_scale_free_and_bounded():
    assert relative_error([1.0], [1.0]) == 0.0
    assert relative_error([0.0], [0.0]) == 0.0
    assert relative_error([1e-8], [2e-8]) == pytest.approx(1 / 3)
    assert relative_error([1e8], [2e8]) == pytest.approx(1 / 3)
    assert relative_error([1.0], [-1.0]) == 1.0


def test_relu_kink_misleads_central_differences():
    """Why kinks mislead: at x=0 the difference quotient averages the two slopes."""
    x = np.array([0.0])
    numeric = numerical_gradient(lambda x: np.maximum(x, 0).sum(), x)
    assert numeric[0] == pytest.approx(0.5)  # neither the left (0) nor the right (1) slope


# --- the guard -----------------------------------------------------------------------------------

from torch.autograd import grad as grad_imported_before_the_guard  # noqa: E402


@pytest.mark.parametrize("call", [
    lambda t: grad_imported_before_the_guard(t.sum(), t),
    lambda t: torch.func.jacfwd(lambda u: u * 2)(t.detach()),
    lambda t: torch.func.jvp(lambda u: u * 2, (t.detach(),), (torch.ones(3),)),
    lambda t: t.sum().backward(),
    lambda t: torch.autograd.backward(t.sum()),
    lambda t: torch.autograd.grad(t.sum(), t),
    lambda t: torch.func.grad(lambda u: u.sum())(t.detach()),
    lambda t: torch.func.vjp(lambda u: u * 2, t.detach())[1](torch.ones(3)),
])
def test_guard_blocks_every_way_into_the_backward_engine(call):
    t = torch.ones(3, requires_grad=True)
    with pytest.raises(AutogradCalled, match="by hand"):
        with no_autograd("my_backward()"):
            call(t)


def test_guard_allows_torch_arithmetic_and_restores_autograd():
    def hand_written(t):
        return (torch.vmap(torch.tanh)(t[None])[0] * 2).numpy()

    assert by_hand(hand_written, torch.zeros(2)).tolist() == [0.0, 0.0]
    t = torch.ones(2, requires_grad=True)
    t.sum().backward()
    assert t.grad.tolist() == [1.0, 1.0]


def test_guard_names_the_function():
    def staged_backward():
        torch.ones(1, requires_grad=True).sum().backward()

    with pytest.raises(AutogradCalled, match=r"staged_backward\(\)"):
        by_hand(staged_backward)


def test_autograd_allowed_lifts_the_guard_for_a_block_only():
    """For the checks' own references, which run inside a student's call (a stand-in swapped into the
    notebook): chapter 4's references switch autograd back on for themselves."""
    from autograde.chapters.label_smoothing.references import network_grads
    from autograde.chapters.label_smoothing import make_batch, make_cache, make_params

    cache = make_cache(make_params(0, 3, 4, 2), *make_batch(1, 5, 3, 2), 0.1)
    t = torch.ones(2, requires_grad=True)
    with handed_over(network_grads), no_autograd("student()"):
        assert set(network_grads(cache)) >= {"W0", "b0", "W1", "b1"}  # autograd inside
        with pytest.raises(AutogradCalled):
            t.sum().backward()
    assert t.grad is None


def test_a_students_function_cannot_switch_autograd_back_on():
    def student():
        with autograd_allowed():
            torch.ones(2, requires_grad=True).sum().backward()

    with pytest.raises(GraderCodeCalled, match=r"student\(\) used the grader's own code \(autograde.guard.autograd_allowed\)"):
        by_hand(student)


def test_guard_restores_autograd_after_an_error():
    with pytest.raises(ZeroDivisionError):
        with no_autograd():
            1 / 0
    t = torch.ones(1, requires_grad=True)
    t.sum().backward()
    assert t.grad.item() == 1.0


# --- references ----------------------------------------------------------------------------------

def test_seeded_inputs_are_reproducible_and_distinct():
    np.testing.assert_array_equal(randn(5, 2, 3), randn(5, 2, 3))
    assert not np.allclose(randn(5, 2, 3), randn(6, 2, 3))


def test_torch_grads_computes_a_vector_jacobian_product():
    W, v = randn(0, 3, 2), randn(1, 3)
    grads = torch_grads(lambda x: torch.as_tensor(W) @ x, {"x": randn(2, 2)}, upstream=v)
    np.testing.assert_allclose(grads["x"], W.T @ v)


def test_retained_grads_reports_every_intermediate():
    def forward(x, w):
        y = x * w
        z = y.sum()
        return {"y": y, "z": z}

    values, grads = retained_grads(forward, {"x": np.array([1.0, 2.0]), "w": np.array([3.0, 4.0])})
    assert values["z"] == 11.0
    np.testing.assert_allclose(grads["y"], [1.0, 1.0])
    np.testing.assert_allclose(grads["w"], [1.0, 2.0])
    np.testing.assert_allclose(grads["x"], [3.0, 4.0])
