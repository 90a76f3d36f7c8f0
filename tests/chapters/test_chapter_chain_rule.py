"""Chapter 1's checks, without nbgrader: right answers in other forms pass, each mistake is named."""
import matplotlib
import numpy as np
import pytest
import torch

from autograde import GradientMismatch
from autograde.chapters import chain_rule as grader
from autograde.grading.demo.samples import correct_submission

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def master():
    """The master's solution cells (and the given code they rely on), run in one namespace."""
    namespace = {}
    for cell in correct_submission("01_chain_rule").cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or (meta.get("locked") and not meta.get("grade"))):
            exec(cell.source, namespace)
    return namespace


def fails_with(phrase, check, *args, **kwargs):
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    assert phrase in str(info.value), str(info.value)


def test_master_passes_visible_and_hidden_checks(master):
    m = master
    grader.check_tape(m["Multiply"], m["Square"], seed=101, shape=(4, 3))
    grader.check_staged(m["staged_forward"], m["staged_backward"], np.ones((2, 3)), -np.ones((2, 3)))
    grader.check_conv_net(m["conv_net_forward"], m["conv_net_backward"], seed=31, H=5, W=7, k=3)
    grader.check_quadratic_form_grad(m["quadratic_form_grad"], seed=72, n=3, column=True, v=-0.5)
    grader.check_matvec_vjp(m["matvec_vjp"], seed=82, m=3, n=5)
    grader.check_broadcast_add_vjp(m["broadcast_add_vjp"], seed=92, m=1, n=5)


def test_answers_that_change_their_inputs_in_place_still_pass():
    def broadcast_add_vjp(v):
        total = v[0]
        for row in v[1:]:
            total += row  # writes into v: the grader must have kept its own copy
        return total

    def quadratic_form_grad(x, W, v=1.0):
        x *= v
        return ((W + W.T) @ x.reshape(-1)).reshape(x.shape)

    grader.check_broadcast_add_vjp(broadcast_add_vjp, seed=0, m=4, n=3)
    grader.check_quadratic_form_grad(quadratic_form_grad, seed=0, n=3, v=2.0)


def test_torch_answers_pass(master):
    def staged_backward(cache):
        dx, dy = master["staged_backward"](cache)
        return torch.stack([torch.as_tensor(dx, dtype=torch.float32), torch.as_tensor(dy, dtype=torch.float32)])

    grader.check_staged(master["staged_forward"], staged_backward, np.ones(3), np.zeros(3))


def test_swapped_gradients_are_named(master):
    def staged_backward(cache):
        dx, dy = master["staged_backward"](cache)
        return dy, dx

    fails_with("swapped", grader.check_staged, master["staged_forward"], staged_backward, 3.0, -4.0)


def test_aliased_gradients_are_named(master):
    def staged_backward(cache):
        dx, _ = master["staged_backward"](cache)
        return dx, dx

    fails_with("same array in memory", grader.check_staged, master["staged_forward"], staged_backward,
               np.ones(3), np.zeros(3))


def test_autograd_in_a_forward_pass_is_caught(master):
    def staged_forward(x, y):
        xt = torch.tensor(x, requires_grad=True)
        f = (xt + torch.sigmoid(torch.tensor(y))) / (torch.sigmoid(xt) + (xt + torch.tensor(y)) ** 2)
        f.backward()
        return f.item(), {"dx": xt.grad.item()}

    fails_with("called torch autograd", grader.check_staged, staged_forward, master["staged_backward"], 3.0, -4.0)


def test_flipped_kernel_and_mean_loss_are_named(master):
    forward = master["conv_net_forward"]

    def flipped(x, w1, w2, y):
        return forward(x, w1[::-1, ::-1], w2, y)

    def mean_loss(x, w1, w2, y):
        loss, cache = forward(x, w1, w2, y)
        return loss / len(y), cache

    fails_with("kernel is flipped", grader.check_conv_net, flipped, master["conv_net_backward"], 0, 4, 4, 2)
    fails_with("a mean where a sum belongs", grader.check_conv_net, mean_loss, master["conv_net_backward"], 0, 4, 4, 2)


def test_one_sided_quadratic_form_is_named():
    fails_with("this is W x alone", grader.check_quadratic_form_grad, lambda x, W, v=1.0: v * W @ x, 0, 4)


@pytest.mark.parametrize("seed, n", [(0, 2), (81, 4)])  # the visible case and the hidden square one
def test_jacobian_where_its_transpose_belongs_is_named_for_square_matrices(seed, n):
    fails_with("used where its transpose belongs", grader.check_matvec_vjp, lambda W, v: W @ v, seed, n, n)


def test_jacobian_where_its_transpose_belongs_fails_on_shape_for_other_matrices():
    with pytest.raises(ValueError):  # (5, 3) @ (5,): numpy refuses, and the message says what was called
        grader.check_matvec_vjp(lambda W, v: W @ v, 82, 5, 3)


def test_sum_over_the_wrong_axis_is_named():
    fails_with("wrong axis", grader.check_broadcast_add_vjp, lambda v: v.sum(axis=1), 0, 4, 3)


def test_a_wrong_scalar_gets_no_invented_factor(master):
    def staged_backward(cache):
        dx, dy = master["staged_backward"](cache)
        return dx * 0.65, dy

    with pytest.raises(GradientMismatch) as info:
        grader.check_staged(master["staged_forward"], staged_backward, 3.0, -4.0)
    assert "times the right answer" not in str(info.value)

