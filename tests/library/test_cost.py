"""check_costs_like_a_backward tells reverse mode from perturbation on a few thousand inputs."""
import numpy as np
import pytest

from autograde.cost import FLOOR, RATIO, TooSlowForABackward, check_costs_like_a_backward

rng = np.random.default_rng(0)
W = rng.standard_normal((64, 3000))
x = rng.standard_normal(3000)
v = rng.standard_normal(64)


def forward(x):
    return np.tanh(W @ x)


def honest_vjp(x, v):
    y = np.tanh(W @ x)
    return W.T @ (v * (1 - y ** 2))


def numerical_vjp(x, v, h=1e-6):
    grad = np.empty_like(x)
    for i in range(x.size):
        step = np.zeros_like(x)
        step[i] = h
        grad[i] = v @ (forward(x + step) - forward(x - step)) / (2 * h)
    return grad


def test_numerical_and_honest_agree_so_only_cost_tells_them_apart():
    np.testing.assert_allclose(numerical_vjp(x, v), honest_vjp(x, v), rtol=1e-5, atol=1e-8)


def test_an_honest_backward_passes():
    backward_time, forward_time = check_costs_like_a_backward(
        "vjp", forward=lambda: forward(x), backward=lambda: honest_vjp(x, v), entries=x.size)
    assert backward_time < RATIO * forward_time + FLOOR


def test_a_numerical_gradient_fails_with_the_principle():
    with pytest.raises(TooSlowForABackward) as failure:
        check_costs_like_a_backward("vjp", forward=lambda: forward(x),
                                    backward=lambda: numerical_vjp(x, v), entries=x.size)
    message = str(failure.value)
    assert "3,000 entries" in message and "perturbing the inputs" in message
    assert "W.T" not in message  # the principle, not the answer


def test_a_backward_slower_only_by_call_overhead_passes():
    """A forward of microseconds and a backward of a few milliseconds (a remote call, a proxy):
    the floor absorbs what no backward can avoid."""
    check_costs_like_a_backward("tiny", forward=lambda: None,
                                backward=lambda: np.linalg.norm(W), entries=10)
