"""The gradient checker accepts right answers in any form and rejects wrong ones with the right diagnosis."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from autograde import GradientMismatch, NotAnArray, check_gradient
from autograde.check import shape_cause

finite = st.floats(-1e3, 1e3, allow_nan=False, width=64)
shapes = st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple)
grads = shapes.flatmap(lambda s: arrays(np.float64, s, elements=finite))


def mismatch(got, expected, **kwargs):
    with pytest.raises(GradientMismatch) as info:
        check_gradient("dW", got, expected, **kwargs)
    return str(info.value)


# --- accepts ---------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(grads)
def test_accepts_the_reference_in_every_form(expected):
    check_gradient("dW", expected, expected)
    check_gradient("dW", expected.astype(np.float32), expected)
    check_gradient("dW", torch.tensor(expected), expected)
    check_gradient("dW", torch.tensor(expected, dtype=torch.float32, requires_grad=True), expected)
    check_gradient("dW", expected.tolist(), expected)


def test_accepts_python_floats_and_zero_dim():
    check_gradient("dx", 2.0, np.array(2.0))
    check_gradient("dx", np.float32(2.0), 2.0)
    check_gradient("dx", torch.tensor(2.0), 2.0)


@settings(max_examples=60, deadline=None)
@given(grads, st.floats(-1, 1))
def test_accepts_float32_rounding_noise(expected, noise):
    scale = np.max(np.abs(expected), initial=0.0)
    check_gradient("dW", expected + noise * 1e-7 * (np.abs(expected) + scale), expected)


# --- rejects, with the right diagnosis ------------------------------------------------------

nonzero = grads.filter(lambda a: np.max(np.abs(a)) > 1e-3)


@settings(max_examples=60, deadline=None)
@given(nonzero)
def test_flipped_sign_is_named(expected):
    assert "sign is flipped" in mismatch(-expected, expected)


@settings(max_examples=60, deadline=None)
@given(nonzero, st.sampled_from([3, 8, 32]))
def test_missing_mean_is_named_with_the_batch_size(expected, n):
    assert f"batch size N={n}" in mismatch(n * expected, expected, batch_size=n)
    assert f"1/N for N={n}" in mismatch(expected / n, expected, batch_size=n)


@settings(max_examples=60, deadline=None)
@given(nonzero)
def test_factor_two_is_named(expected):
    assert "factor of 2" in mismatch(2 * expected, expected)


@settings(max_examples=60, deadline=None)
@given(nonzero, st.data())
def test_one_perturbed_entry_is_located(expected, data):
    index = tuple(data.draw(st.integers(0, n - 1)) for n in expected.shape)
    got = expected.copy()
    got[index] += 1.0 + abs(got[index])
    message = mismatch(got, expected)
    if got.size > 1:
        assert "wrong in 1 of" in message
        assert f"dW[{', '.join(map(str, index))}]" in message


def test_float64_answers_are_held_to_a_tighter_tolerance_than_float32():
    expected = np.array([1.0, 2.0])
    near = expected * (1 + 1e-4)
    check_gradient("dx", near.astype(np.float32), expected)
    assert "max rel error 0.0001" in mismatch(near, expected)


def test_small_entries_are_not_drowned_by_a_large_one():
    assert "wrong in 1 of 2" in mismatch(np.array([1000.0, -0.005]), np.array([1000.0, 0.001]))


def test_float32_noise_around_an_all_zero_gradient_passes():
    check_gradient("db", np.full(3, 3e-9, dtype=np.float32), np.zeros(3))


def test_a_wrong_single_number_is_not_called_a_constant_factor():
    message = mismatch(1.37, 2.05)
    assert "times the right answer" not in message
    assert "factor of 2" in mismatch(4.1, 2.05)


def test_a_near_miss_is_called_a_precision_problem_not_a_factor():
    expected = np.linspace(1, 2, 5)
    assert "precision was lost" in mismatch(expected * 1.002, expected)


def test_list_of_tensors_that_require_grad_is_read():
    t = torch.ones(2, requires_grad=True)
    check_gradient("dx", [t[0] * 1, t[1] * 2], [1.0, 2.0])


def test_transposed_square_matrix_is_named():
    expected = np.arange(9.0).reshape(3, 3)
    assert "transposed" in mismatch(expected.T, expected)


def test_nan_is_named():
    expected = np.ones((2, 3))
    got = expected.copy()
    got[1, 2] = np.nan
    message = mismatch(got, expected)
    assert "NaN or inf (first at index (1, 2))" in message
    assert "subtract the max" in message


def test_all_zero_is_named():
    assert "every entry is 0" in mismatch(np.zeros(4), np.ones(4))


def test_gradient_leaking_through_a_gate_is_named():
    expected = np.array([0.0, 2.0, 0.0, -1.0])  # a ReLU blocked entries 0 and 2
    got = np.array([0.5, 2.0, -0.3, -1.0])
    assert "gate" in mismatch(got, expected)


def test_known_mistake_wins_over_generic_guesses():
    expected = np.array([1.0, 2.0])
    message = mismatch(np.array([3.0, 5.0]), expected, known_mistakes={"you used W, not W^T": [3.0, 5.0]})
    assert "you used W, not W^T" in message


def test_message_reports_expected_got_and_errors():
    message = mismatch(np.array([1.0, 2.5]), np.array([1.0, 2.0]))
    assert "expected 2" in message and "got 2.5" in message
    assert "max abs error 0.5" in message and "max rel error" in message


# --- shapes are checked first ---------------------------------------------------------------

@pytest.mark.parametrize(
    "got, expected, phrase",
    [
        ((4, 3), (3, 4), "transposed"),
        ((8, 5), (5,), "summed over the broadcast axis"),
        ((8, 1, 5), (8, 4, 5), "summed (or averaged) away"),
        ((12,), (3, 4), "same number of entries"),
        ((), (3,), "single number"),
    ],
)
def test_shape_mismatch_says_expected_got_and_why(got, expected, phrase):
    message = mismatch(np.zeros(got), np.zeros(expected))
    assert f"expected {expected}, got {got}" in message
    assert phrase in message


def test_unrelated_shapes_have_no_invented_cause():
    assert shape_cause((2, 7), (3, 5)) is None


@pytest.mark.parametrize("bad", [None, "abc", {"a": 1}, 1 + 2j, np.array([1 + 2j]), torch.ones(2, dtype=torch.complex64)])
def test_unreadable_values_say_what_came_back(bad):
    with pytest.raises(NotAnArray) as info:
        check_gradient("dx", bad, np.zeros(2))
    assert "dx" in str(info.value)
    if bad is None:
        assert "return" in str(info.value)
