"""Checks for chapter 3 (an MLP by hand). Each check builds the same computation in torch with the
student's weights, lets autograd differentiate it in float64, and compares every gradient.

Conventions (as in torch): a Linear layer holds W of shape (d_out, d_in) and b of shape (d_out,)
and computes x @ W.T + b for a batch x of shape (N, d_in); losses are means over the batch.

Every reference and every known-mistake value is computed before any student code runs, and
student code gets private copies of what it is given (a layer keeps the copy its forward received
as its own), so code that changes its inputs in place cannot corrupt a reference. All student code,
forward passes included, runs with autograd blocked.

The training loop is graded twice: `check_training_loop` runs the student's `train` with the
reference pieces of the earlier exercises in place of theirs (so an earlier mistake is not counted
again there) and watches every step; `check_training` checks and trains the student's own network.
"""
import copy
import functools
import sys
import time
from dataclasses import dataclass, field
from unittest.mock import patch

import numpy as np
import torch
import torch.nn.functional as F

from ..arrays import NotAnArray, as_float64
from ..check import GradientMismatch, check_gradient, check_value, is_close, tolerance_for
from ..guard import by_hand, by_hand_on_copies
from ..reference import randn, retained_grads, torch_grads
from ..table import compare_all
from ..table import merged  # noqa: F401 (the notebook calls grader.merged)
from . import digits
from .common import reference_pieces

MIN_ACCURACY = 0.93
LOOSE = tolerance_for(np.float32)  # the float32 pair: a student's network may well run in float32


def tensor(array):
    return torch.as_tensor(as_float64(array))


def targets(array):
    """Integer class labels as the long tensor torch's losses insist on (int32 input included)."""
    return torch.as_tensor(np.asarray(array), dtype=torch.long)


def with_hint(hint, check, *args, **kwargs):
    """Run a check; if it fails, add a line reminding how the right answer is built."""
    try:
        check(*args, **kwargs)
    except GradientMismatch as exc:
        raise GradientMismatch(f"{exc}\n  reminder: {hint}") from None


def reject_grader_code(answer, name):
    """An answer must be the student's own, not one of the grader's pieces imported under its name."""
    parts = [answer] + ([getattr(answer, m, None) for m in ("forward", "backward")] if isinstance(answer, type) else [])
    for part in parts:
        module = getattr(part, "__module__", None) or ""
        if module.split(".")[0] == "autograde":
            raise GradientMismatch(f"{name} is the grader's own code (from {module}), not yours: write it yourself.")


# --- 1. Linear -----------------------------------------------------------------------------------

def linear_mistakes(x, W, dy):
    """Wrong answers of the right shape that a typical slip gives (only distinct when square)."""
    mistakes = {}
    if W.shape[0] == W.shape[1]:
        mistakes["dW is transposed: with W of shape (d_out, d_in), dW = dy^T x, not x^T dy."] = x.T @ dy
        mistakes["dx used W^T: y = x W^T, so dx = dy W."] = dy @ W.T
    return mistakes


ACCUMULATED = ("dW kept the previous batch's gradient and added this one's: backward should set "
               "self.dW = ..., not add to it.")
SHARED_INPUT = ("dW was built from the input of another Linear layer: keep the input on self "
                "(self.x = x), not on the class or in a global, so that two layers do not share it.")


def check_linear(Linear, seed, n, d_in, d_out, dtype=np.float64):
    """Forward and backward of a fresh Linear(d_in, d_out) against F.linear with the same weights,
    on two batches, with another Linear layer running its forward pass in between (as in a network)."""
    reject_grader_code(Linear, "Linear")
    layer = by_hand(Linear, d_in, d_out, np.random.default_rng(seed))
    other = by_hand(Linear, d_in, d_out, np.random.default_rng(seed + 5))
    tol = tolerance_for(dtype)
    W, b = as_float64(layer.W, "Linear.W"), as_float64(layer.b, "Linear.b")
    if W.shape != (d_out, d_in) or b.shape != (d_out,):
        raise GradientMismatch(
            f"Linear({d_in}, {d_out}, rng) made W of shape {W.shape} and b of shape {b.shape}; "
            f"torch's convention is W: (d_out, d_in) = {(d_out, d_in)}, b: (d_out,) = {(d_out,)}."
        )
    other_x = randn(seed + 6, n, d_in).astype(dtype)
    cases = []  # everything the checks compare with, computed before the layer sees anything
    for offset in (1, 3):  # the second batch: gradients must not pile up
        x = randn(seed + offset, n, d_in).astype(dtype)
        dy = randn(seed + offset + 1, n, d_out)
        with torch.no_grad():
            y = F.linear(tensor(x), tensor(W), tensor(b)).numpy()
        ref = torch_grads(F.linear, dict(input=x, weight=W, bias=b), upstream=dy)
        mistakes = linear_mistakes(as_float64(x), W, dy)
        dW_mistakes = {**mistakes, SHARED_INPUT: dy.T @ as_float64(other_x)}
        if cases:
            dW_mistakes[ACCUMULATED] = ref["weight"] + cases[-1][3]["weight"]
        cases.append((x, dy, y, ref, mistakes, dW_mistakes))

    for x, dy, y_ref, ref, mistakes, dW_mistakes in cases:
        y = by_hand_on_copies(layer.forward, x)
        by_hand_on_copies(other.forward, other_x)  # another layer of the class, between this one's forward and backward
        check_value("Linear.forward(x)", y, y_ref, **tol)
        dx = by_hand_on_copies(layer.backward, dy)
        with_hint("dW = dy^T x has shape (d_out, N) @ (N, d_in) = (d_out, d_in), the shape of W.",
                  check_gradient, "Linear.dW", layer.dW, ref["weight"], batch_size=n, known_mistakes=dW_mistakes, **tol)
        with_hint("b is added to every row of the batch, so db = dy summed over the batch axis.",
                  check_gradient, "Linear.db", layer.db, ref["bias"], batch_size=n, **tol)
        with_hint("dx = dy W has shape (N, d_out) @ (d_out, d_in) = (N, d_in), the shape of x.",
                  check_gradient, "dx = Linear.backward(dy)", dx, ref["input"], batch_size=n,
                  known_mistakes=mistakes, **tol)
    check_parameter_pairs(layer)


def check_parameter_pairs(layer):
    pairs = list(layer.parameters())
    if len(pairs) != 2 or pairs[0][0] is not layer.W or pairs[1][0] is not layer.b:
        raise GradientMismatch("Linear.parameters() should give [(W, dW), (b, db)], the arrays themselves.")
    for (_, grad), name, stored in zip(pairs, ("dW", "db"), (layer.dW, layer.db)):
        if grad is not stored:
            raise GradientMismatch(f"Linear.parameters() does not pair its parameter with the current {name}.")


# --- 2. activations ------------------------------------------------------------------------------

def relu_mistakes(x, dy):
    return {
        "the gradient passes where the input was negative: ReLU's local gradient is 1 where x > 0 "
        "and 0 elsewhere, so dx = dy * (x > 0) (note that relu(x) >= 0 holds everywhere, so a mask "
        "built from the output needs > 0, not >= 0).": dy,
        "the gradient passed where the input was exactly 0: the convention (torch's, stated in the "
        "notebook) is a gradient of 0 there, so the mask is x > 0, not x >= 0.": dy * (x >= 0),
        "the mask came from the sign of dy, not from the input: dx = dy * (x > 0).": dy * (dy > 0),
    }


def sigmoid_mistakes(x, dy):
    s = 1 / (1 + np.exp(-x))
    return {
        "the factor (1 - s) is missing: sigmoid'(x) = s (1 - s) with s = sigmoid(x).": dy * s,
        "s (1 - s) was evaluated at the input x, not at the output s = sigmoid(x).": dy * x * (1 - x),
        "sigmoid was applied to the stored output once more: s (1 - s) needs s itself.":
            dy * (1 / (1 + np.exp(-s))) * (1 - 1 / (1 + np.exp(-s))),
    }


def tanh_mistakes(x, dy):
    t = np.tanh(x)
    return {
        "1 - x**2 uses the input: tanh'(x) = 1 - tanh(x)**2.": dy * (1 - x ** 2),
        "the square is missing: tanh'(x) = 1 - tanh(x)**2, not 1 - tanh(x).": dy * (1 - t),
    }


ACTIVATIONS = {  # kind -> (torch function, known mistakes)
    "relu": (torch.relu, relu_mistakes),
    "sigmoid": (torch.sigmoid, sigmoid_mistakes),
    "tanh": (torch.tanh, tanh_mistakes),
}


def activation_input(seed, shape, dtype=np.float64):
    """Normal inputs (scale 2) with every fourth entry exactly 0, where ReLU's convention matters."""
    x = randn(seed, *shape, scale=2.0)
    x.reshape(-1)[::4] = 0.0
    return x.astype(dtype)


def check_activation(Activation, kind, seed, shape, dtype=np.float64):
    torch_fn, mistakes = ACTIVATIONS[kind]
    name = getattr(Activation, "__name__", kind)
    reject_grader_code(Activation, name)
    x, other_x, dy = activation_input(seed, shape, dtype), randn(seed + 2, *shape), randn(seed + 1, *shape)
    with torch.no_grad():
        y_ref = torch_fn(tensor(x)).numpy()
    ref = torch_grads(torch_fn, dict(input=x), upstream=dy)["input"]
    known = mistakes(as_float64(x), dy)
    known["this is the gradient at the input of another layer: keep what backward needs on self, "
          "so that two layers of one kind do not share it."] = torch_grads(
        torch_fn, dict(input=other_x), upstream=dy)["input"]

    layer, other = by_hand(Activation), by_hand(Activation)
    y = by_hand_on_copies(layer.forward, x)
    by_hand_on_copies(other.forward, other_x)  # a second layer of the same kind must not disturb the first
    check_value(f"{name}.forward(x)", y, y_ref, **tolerance_for(dtype))
    dx = by_hand_on_copies(layer.backward, dy)
    check_gradient(f"dx = {name}.backward(dy)", dx, ref, known_mistakes=known, **tolerance_for(dtype))


def check_relu(ReLU, seed, shape, dtype=np.float64):
    check_activation(ReLU, "relu", seed, shape, dtype)


def check_sigmoid(Sigmoid, seed, shape, dtype=np.float64):
    check_activation(Sigmoid, "sigmoid", seed, shape, dtype)


def check_tanh(Tanh, seed, shape, dtype=np.float64):
    check_activation(Tanh, "tanh", seed, shape, dtype)


# --- 3. softmax cross-entropy --------------------------------------------------------------------

def softmax_ce_mistakes(logits, target, dlogits):
    n = len(target)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return {
        f"missing 1/N: the loss is the mean over N={n} rows, so dlogits = (softmax - onehot) / N.": n * dlogits,
        "the one-hot of the target was not subtracted: dlogits = (softmax - onehot(target)) / N.": p / n,
    }


def check_softmax_cross_entropy(SoftmaxCrossEntropy, seed, n, k, dtype=np.float64, scale=1.0):
    """Mean loss and dlogits against F.cross_entropy; scale=1000 tests a stable log-sum-exp."""
    reject_grader_code(SoftmaxCrossEntropy, "SoftmaxCrossEntropy")
    logits = randn(seed, n, k, scale=scale).astype(dtype)
    target = np.random.default_rng(seed + 1).integers(0, k, size=n)
    ref = torch_grads(lambda x: F.cross_entropy(x, targets(target)), dict(x=logits))["x"]
    with torch.no_grad():
        expected = F.cross_entropy(tensor(logits), targets(target)).item()
    mistakes = softmax_ce_mistakes(as_float64(logits), target, ref)

    loss_fn = by_hand(SoftmaxCrossEntropy)
    loss = by_hand_on_copies(loss_fn.forward, logits, target)
    check_value("SoftmaxCrossEntropy.forward(logits, target)", loss, expected, **tolerance_for(dtype), known_mistakes={
        f"the loss was summed over the batch: it is the mean over the N={n} rows.": n * expected,
    })
    dlogits = by_hand(loss_fn.backward)
    check_gradient("dlogits = SoftmaxCrossEntropy.backward()", dlogits, ref, batch_size=n,
                   known_mistakes=mistakes, **tolerance_for(dtype))


# --- 4. Sequential and sgd_step --------------------------------------------------------------------
# Stand-in layers (not the student's) so that this check depends on Sequential and sgd_step alone.

class _Scale:
    """y = x * a, one parameter per feature."""

    def __init__(self, a):
        self.a, self.da = a, np.zeros_like(a)

    def forward(self, x):
        self.x = x
        return x * self.a

    def backward(self, dy):
        self.da = (dy * self.x).sum(axis=0)
        return dy * self.a

    def parameters(self):
        return [(self.a, self.da)]


class _Mix:
    """y = x @ M.T for a fixed matrix M: mixes the features, so the order of the layers matters."""

    def __init__(self, M):
        self.M = M

    def forward(self, x):
        return x @ self.M.T

    def backward(self, dy):
        return dy @ self.M

    def parameters(self):
        return []


class _Cube:
    def forward(self, x):
        self.x = x
        return x ** 3

    def backward(self, dy):
        return 3 * self.x ** 2 * dy

    def parameters(self):
        return []


def _forwarded(layers, x):
    for layer in layers:
        x = layer.forward(x)
    return layers


NOT_IN_PLACE = ("sgd_step did not change the parameters: update the arrays in place (`param -= lr * grad`); "
                "`param = param - lr * grad` only rebinds a local name.")


def check_sequential(Sequential, sgd_step, seed, n, d, lr=0.1):
    reject_grader_code(Sequential, "Sequential")
    reject_grader_code(sgd_step, "sgd_step")
    a1, a2 = randn(seed, d), randn(seed + 1, d)
    x, dy = randn(seed + 2, n, d), randn(seed + 3, n, d)
    M = randn(seed + 4, d, d, scale=d ** -0.5)

    def twin(x, a1, a2, M):  # numpy or torch alike
        return ((x * a1) @ M.T) ** 3 * a2

    y_ref = twin(x, a1, a2, M)
    reversed_order = ((x * a2) ** 3 @ M.T) * a1
    ref = torch_grads(twin, dict(x=x, a1=a1, a2=a2, M=M), upstream=dy)
    wrong_order = dy
    for layer in _forwarded([_Scale(a1.copy()), _Mix(M), _Cube(), _Scale(a2.copy())], x):
        wrong_order = layer.backward(wrong_order)  # what a backward pass in forward order gives
    before = a1.copy(), a2.copy()

    model = by_hand(Sequential, _Scale(a1), _Mix(M.copy()), _Cube(), _Scale(a2))  # the layers themselves
    y = by_hand_on_copies(model.forward, x)
    check_value("Sequential.forward(x)", y, y_ref, known_mistakes={
        "the layers ran in reverse order: forward goes from the first layer to the last.": reversed_order,
    })
    dx = by_hand_on_copies(model.backward, dy)
    check_gradient("dx = Sequential.backward(dy)", dx, ref["x"], known_mistakes={
        "backward visited the layers in forward order: it must go from the last layer to the first.": wrong_order,
    })
    pairs = list(by_hand(model.parameters))
    if len(pairs) != 2 or pairs[0][0] is not a1 or pairs[1][0] is not a2:
        raise GradientMismatch(
            f"Sequential.parameters() gave {len(pairs)} pairs; expected the 2 (parameter, gradient) pairs "
            "of its layers, in layer order, with the parameter arrays themselves (not copies)."
        )
    check_gradient("the first gradient from Sequential.parameters()", pairs[0][1], ref["a1"])
    check_gradient("the second gradient from Sequential.parameters()", pairs[1][1], ref["a2"])
    by_hand(sgd_step, model, lr)  # the model itself: the update must reach its layers
    for i, (param, start, grad) in enumerate(zip((a1, a2), before, (ref["a1"], ref["a2"]))):
        mistakes = {
            NOT_IN_PLACE if i == 0 else "sgd_step did not update the second (parameter, gradient) pair: "
            "every pair that model.parameters() gives must take a step.": start,
            "sgd_step went uphill: a step of gradient descent subtracts lr * grad.": start + lr * grad,
        }
        check_value(f"parameter {i + 1} of 2 after sgd_step(model, lr={lr})", param, start - lr * grad,
                    known_mistakes=mistakes)


# --- 5. numerical gradient and relative error --------------------------------------------------

def check_numerical_gradient(numerical_gradient, seed, shape):
    reject_grader_code(numerical_gradient, "numerical_gradient")
    x = randn(seed, *shape)
    expected = torch_grads(lambda v: (torch.sin(v) * v ** 2).sum(), dict(v=x))["v"]
    h = 1e-5
    one_sided = np.array([(np.sum(np.sin(xp) * xp ** 2) - np.sum(np.sin(x) * x ** 2)) / h
                          for xp in _nudged(x, h)]).reshape(x.shape)

    mine = x.copy()
    got = by_hand(numerical_gradient, lambda v: float(np.sum(np.sin(v) * v ** 2)), mine)
    if not np.array_equal(mine, x):
        raise GradientMismatch("numerical_gradient changed x: restore each entry after nudging it.")
    # Central differences with h=1e-5 are good to ~1e-10 here; one-sided ones only to ~1e-5.
    check_gradient("numerical_gradient(f, x)", got, expected, rtol=1e-7, atol=1e-8, known_mistakes={
        "a one-sided difference (f(x + h) - f(x)) / h: its error shrinks like h; the central difference "
        "(f(x + h) - f(x - h)) / 2h is exact up to h**2.": one_sided,
    })

    # The step h is an argument: for f = sum(x**3) the central difference gives exactly 3 x**2 + h**2.
    big_h = 0.5
    got = by_hand(numerical_gradient, lambda v: float(np.sum(v ** 3)), x.copy(), h=big_h)
    check_gradient(f"numerical_gradient(f, x, h={big_h}) for f = sum(x**3)", got, 3 * x ** 2 + big_h ** 2,
                   rtol=1e-6, atol=1e-8, known_mistakes={
                       "the h argument was ignored (a fixed step was used instead), or the difference is "
                       "not the central one, (f(x + h) - f(x - h)) / 2h.": 3 * x ** 2,
                       "a one-sided difference (f(x + h) - f(x)) / h: use the central difference.":
                           3 * x ** 2 + 3 * x * big_h + big_h ** 2,
                   })

    # f may read x through a closure (as the notebook's layer check reads layer.W): x itself must move.
    state = x.copy()

    def through_closure(_):
        return float(np.sum(np.sin(state) * state ** 2))

    got = by_hand(numerical_gradient, through_closure, state)  # the first check's f, so its tolerance
    check_gradient("numerical_gradient(f, x) for an f that reads x through a closure", got, expected,
                   rtol=1e-7, atol=1e-8, known_mistakes={
                       "a copy of x was nudged, not x itself: this f ignores its argument and reads x "
                       "directly (as `L(_)` in the notebook reads layer.W), so nudge x in place and put "
                       "each entry back.": np.zeros_like(expected),
                   })


def _nudged(x, h):
    for index in np.ndindex(x.shape):
        xp = x.copy()
        xp[index] += h
        yield xp


RELATIVE_ERROR_CASES = [  # (what, a, b)
    ("two identical arrays", [1.0, -2.0, 3.0], [1.0, -2.0, 3.0]),
    ("two arrays of zeros", [0.0, 0.0], [0.0, 0.0]),
    ("four entries of which one is off by 0.1", [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.1]),
    ("the same four entries times 1e-6", [1e-6, 1e-6, 1e-6, 1e-6], [1e-6, 1e-6, 1e-6, 1.1e-6]),
    ("[2.0] and [-2.0]", [2.0], [-2.0]),
    ("2-D arrays", [[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.5]]),
    ("a large entry that is right and a small one that is wrong", [100.0, 0.5], [100.0, 1.0]),
]


def relative_error_cases(seed):
    """Two random gradient-like pairs: nearly equal (to 1e-3, which float32 arithmetic can still
    resolve), and one off in a single entry."""
    a = randn(seed, 3, 4)
    close = a * (1 + 1e-3 * randn(seed + 1, 3, 4))
    one_off = a.copy()
    one_off[1, 2] += 0.3
    return [(f"random arrays (seed {seed})", a, close), (f"random arrays with one changed entry (seed {seed})", a, one_off)]


# The two accepted definitions differ by up to 2x; the slack below is for float32 arithmetic and
# for an eps added to the denominator instead of taken as its floor. Every mistake named is far off.
RELATIVE_ERROR_RTOL = 1e-4


def check_relative_error(relative_error, seed=None):
    """Accept max |a - b| / (|a| + |b|) and max |a - b| / max(|a|, |b|): they differ by at most 2x."""
    reject_grader_code(relative_error, "relative_error")
    cases = RELATIVE_ERROR_CASES + (relative_error_cases(seed) if seed is not None else [])
    for what, a, b in cases:
        a, b = np.array(a), np.array(b)
        got = as_float64(by_hand_on_copies(relative_error, a, b), f"relative_error for {what}")
        if got.shape != ():
            raise GradientMismatch(f"relative_error for {what} returned shape {got.shape}: return one "
                                   "number, the largest relative error over all entries.")
        got = float(got)
        diff = np.abs(a - b)
        with np.errstate(invalid="ignore", divide="ignore"):
            low = np.nan_to_num(diff / (np.abs(a) + np.abs(b)))
            high = np.nan_to_num(diff / np.maximum(np.abs(a), np.abs(b)))
        if low.max() * (1 - RELATIVE_ERROR_RTOL) - 1e-15 <= got <= high.max() * (1 + RELATIVE_ERROR_RTOL) + 1e-15:
            continue
        raise GradientMismatch(
            f"relative_error for {what}: expected {low.max():.6g} (denominator |a| + |b|; up to "
            f"{high.max():.6g} with max(|a|, |b|)), got {got:.6g}."
            + relative_error_cause(got, a, b, diff, low, high)
        )


def relative_error_cause(got, a, b, diff, low, high):
    def near(value):
        return np.isclose(got, value, rtol=1e-3, atol=1e-15)

    causes = {
        "NaN: when both entries are 0 the denominator is 0; divide by max(eps, |a| + |b|).": np.isnan(got),
        "the errors were averaged over the entries: take the max, so one wrong entry cannot hide "
        "among many right ones.": near(low.mean()) or near(high.mean()),
        "this is the absolute error |a - b|: divide by |a| + |b| so that the measure does not depend "
        "on the scale of the gradient.": near(diff.max()),
        "the largest difference was divided by the largest magnitude: divide entry by entry, then take "
        "the max, so that a small entry's error is not measured against a large one.":
            near(diff.max() / max(1e-12, float((np.abs(a) + np.abs(b)).max())))
            or near(diff.max() / max(1e-12, float(np.maximum(np.abs(a), np.abs(b)).max()))),
        "a norm of the difference over norms: take the max over entries of |a_i - b_i| / (|a_i| + |b_i|).":
            near(np.linalg.norm(diff) / max(1e-12, np.linalg.norm(a) + np.linalg.norm(b)))
            or near(np.linalg.norm(diff) / max(1e-12, np.linalg.norm(a), np.linalg.norm(b))),
    }
    cause = next((text for text, hit in causes.items() if hit), None)
    return f"\n  likely cause: {cause}" if cause else ""


# --- 6. every intermediate of a three-layer network --------------------------------------------------

INTERMEDIATES = ("logprobs", "probs", "counts_sum_inv", "counts_sum", "counts", "logits", "h2", "W3", "b3",
                 "h2_preact", "h1", "W2", "b2", "h1_preact", "W1", "b1", "X")


def three_layer_torch(X, y, W1, b1, W2, b2, W3, b3, lam):
    """The notebook's written-out forward pass, in torch; every intermediate by name, the loss last."""
    h1_preact = X @ W1.T + b1
    h1 = torch.relu(h1_preact)
    h2_preact = h1 @ W2.T + b2
    h2 = torch.sigmoid(h2_preact)
    logits = h2 @ W3.T + b3
    counts = logits.exp()
    counts_sum = counts.sum(1, keepdim=True)
    counts_sum_inv = counts_sum ** -1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    nll = -logprobs[torch.arange(len(y)), y].mean()
    penalty = lam * ((W1 ** 2).sum() + (W2 ** 2).sum() + (W3 ** 2).sum())
    loss = nll + penalty
    return dict(h1_preact=h1_preact, h1=h1, h2_preact=h2_preact, h2=h2, logits=logits, counts=counts,
                counts_sum=counts_sum, counts_sum_inv=counts_sum_inv, probs=probs, logprobs=logprobs,
                nll=nll, penalty=penalty, loss=loss)


def three_layer_inputs(seed, N, D, H1, H2, K):
    return dict(
        X=randn(seed, N, D), y=np.random.default_rng(seed + 1).integers(0, K, size=N),
        W1=randn(seed + 2, H1, D, scale=D ** -0.5), b1=randn(seed + 3, H1, scale=0.1),
        W2=randn(seed + 4, H2, H1, scale=H1 ** -0.5), b2=randn(seed + 5, H2, scale=0.1),
        W3=randn(seed + 6, K, H2, scale=2 * H2 ** -0.5), b3=randn(seed + 7, K, scale=0.1),
    )


def every_intermediate_mistakes(inputs, values, grads, lam):
    """{name: {description: wrong gradient}} for the slips this exercise invites."""
    mistakes = {}
    for W in ("W1", "W2", "W3"):
        mistakes[W] = {
            f"the L2 penalty's gradient 2 * lam * {W} is missing: {W} is used twice (in its layer and in "
            f"the penalty), so d{W} is the sum of both paths.": grads[W] - 2 * lam * inputs[W],
            f"the penalty's gradient is 2 * lam * {W}: d(lam * sum w**2)/dw = 2 lam w.": grads[W] - lam * inputs[W],
        }
    n = len(inputs["y"])
    mistakes["logprobs"] = {
        "only the target class's log-probability enters the loss: dlogprobs is -1/N at [i, y[i]] "
        "and 0 elsewhere.": -np.ones_like(grads["logprobs"]) / n,
    }
    mistakes["counts"] = {
        "only the path through probs reached counts: counts is also summed into counts_sum, so add "
        "that path too (dcounts += dcounts_sum).": grads["probs"] * values["counts_sum_inv"],
        "only the path through counts_sum reached counts: add the path through probs "
        "(counts_sum_inv * dprobs).": np.broadcast_to(grads["counts_sum"], grads["counts"].shape),
    }
    mistakes["h2_preact"] = {
        "sigmoid's local gradient is h2 * (1 - h2); the factor (1 - h2) is missing.": grads["h2"] * values["h2"],
    }
    mistakes["h1_preact"] = {
        "the ReLU gate is missing: dh1_preact = dh1 * (h1_preact > 0).": grads["h1"],
    }
    return mistakes


def check_every_intermediate(forward, manual_backward, seed, N, D, H1, H2, K, lam):
    """The gradient of every named intermediate and parameter; returns a Report (partial credit)."""
    inputs = three_layer_inputs(seed, N, D, H1, H2, K)
    values, grads = retained_grads(functools.partial(three_layer_torch, lam=lam), inputs)
    mistakes = every_intermediate_mistakes(inputs, values, grads, lam)
    expected = {name: grads[name] for name in INTERMEDIATES}

    loss, cache = by_hand(forward, **copy.deepcopy(inputs), lam=lam)
    check_value("loss of the forward pass", loss, values["loss"])
    got = by_hand_on_copies(manual_backward, cache)
    report = compare_all(got, expected, batch_size=N, known_mistakes=mistakes)
    return with_key_hint(report, got)


def with_key_hint(report, got):
    """If the dict used keys like 'dlogprobs', say so on every missing row."""
    if not isinstance(got, dict):
        return report
    for row in report.rows:
        if row.status == "missing" and f"d{row.name}" in got:
            row.message += f" (the dict has 'd{row.name}': key each gradient by the variable's own name, '{row.name}'.)"
    return report



def digits_split():
    """X_train (1347, 64), X_test (450, 64), y_train, y_test: standardised with the training
    statistics; new arrays each call."""
    X_train, X_test, y_train, y_test = digits.stratified_split(*digits.images_and_labels(), test_size=0.25)
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0) + 1.0  # + 1 grey level: pixels that are always blank stay finite
    return (X_train - mean) / scale, (X_test - mean) / scale, y_train, y_test


def accuracy(model, X, y):
    """Share of rows whose largest logit is the target class."""
    return float(np.mean(np.argmax(as_float64(model.forward(X), "model.forward(X)"), axis=1) == y))


class TrainingFailed(AssertionError):
    """The training did not do what it should; the message says what to look at."""


def describe(exc):
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, NotImplementedError):
        text += " (a function it needs is not written yet)"
    return text


# --- 7a. the reference pieces, and the training loop on its own ------------------------------------
# The earlier exercises done right. While check_training_loop runs, they stand in for the student's
# classes of the same names, so that `train` (and the `make_model` that feeds it) is graded on its
# own; they also record every step, so that the checks can see what the loop did.

def _numpy(value):
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _like(value, template):
    """`value` (numpy) in the kind the student passed: a torch tensor in, a torch tensor out."""
    return torch.as_tensor(value) if isinstance(template, torch.Tensor) else value


@dataclass
class TrainingRecord:
    """What the reference pieces saw while the student's train() ran."""
    batches: list = field(default_factory=list)  # the rows of every step's batch, as given to the model
    losses: list = field(default_factory=list)   # the loss of every step
    problems: list = field(default_factory=list)  # what went wrong, first first

    def problem(self, text):
        if text not in self.problems:
            self.problems.append(text)


_record = None  # the TrainingRecord of the check that is running, if any


class ReferenceLinear:
    def __init__(self, d_in, d_out, rng):
        bound = 1 / np.sqrt(d_in)  # as the notebook's Linear: the same rng draws give the same weights
        self.W = rng.uniform(-bound, bound, size=(d_out, d_in))
        self.b = rng.uniform(-bound, bound, size=d_out)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
        self.previous = None  # (W, b, dW, db) at the last backward pass
        self.learning_rates = []  # the step each backward pass was followed by, as lr

    def forward(self, x):
        self.x = _numpy(x)
        self.used = self.W.copy(), self.b.copy()
        return _like(self.x @ self.W.T + self.b, x)

    def backward(self, dy):
        d = _numpy(dy)
        if _record is not None:
            if not (np.array_equal(self.W, self.used[0]) and np.array_equal(self.b, self.used[1])):
                _record.problem(
                    "the parameters changed between a forward pass and its backward pass: a step is forward, "
                    "loss, backward, and only then sgd_step (so that it uses this batch's gradient).")
            self.took_step()
        self.dW, self.db = d.T @ self.x, d.sum(axis=0)
        self.previous = self.W.copy(), self.b.copy(), self.dW, self.db
        return _like(d @ self.used[0], dy)

    def took_step(self):
        """Check that since the last backward pass the parameters moved by -lr * its gradient."""
        if self.previous is None:
            return
        W, b, dW, db = self.previous
        moved = np.concatenate([(self.W - W).ravel(), (self.b - b).ravel()])
        grad = np.concatenate([dW.ravel(), db.ravel()])
        if not np.any(grad):
            return
        lr = -float(moved @ grad) / float(grad @ grad)
        self.learning_rates.append(lr)
        if not np.any(moved):
            _record.problem("a backward pass was not followed by a step: after every backward pass, call "
                            "sgd_step(model, lr) once, before the next forward pass.")
        elif lr <= 0:
            _record.problem("a step went uphill: gradient descent subtracts lr * grad.")
        elif not is_close(moved, -lr * grad, 1e-4, 1e-6).all():  # float64 steps: rounding is far below this
            _record.problem("a step did not move every parameter by -lr * (its gradient from the backward "
                            "pass just before): each step is one sgd_step(model, lr), after the backward pass.")

    def parameters(self):
        return [(self.W, self.dW), (self.b, self.db)]


class _ReferenceActivation:
    def forward(self, x):
        self.x = _numpy(x)
        self.out = self.f(self.x)
        return _like(self.out, x)

    def backward(self, dy):
        return _like(_numpy(dy) * self.local_gradient(), dy)

    def parameters(self):
        return []


class ReferenceReLU(_ReferenceActivation):
    def f(self, x):
        return np.maximum(x, 0)

    def local_gradient(self):
        return self.x > 0


class ReferenceSigmoid(_ReferenceActivation):
    def f(self, x):
        return 0.5 * (1 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow

    def local_gradient(self):
        return self.out * (1 - self.out)


class ReferenceTanh(_ReferenceActivation):
    def f(self, x):
        return np.tanh(x)

    def local_gradient(self):
        return 1 - self.out ** 2


class ReferenceSoftmaxCrossEntropy:
    def forward(self, logits, target):
        z = _numpy(logits)
        self.target = _numpy(target).astype(np.int64)
        shifted = z - z.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probs = np.exp(log_probs)
        self.loss = -log_probs[np.arange(len(self.target)), self.target].mean()
        self.logits = logits
        return _like(self.loss, logits)

    def backward(self):
        if _record is not None:
            _record.losses.append(float(self.loss))
        onehot = np.eye(self.probs.shape[1], dtype=self.probs.dtype)[self.target]
        return _like((self.probs - onehot) / len(self.target), self.logits)


class ReferenceSequential:
    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        self.x = x
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        if _record is not None:
            _record.batches.append(_numpy(self.x))
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def parameters(self):
        return [pair for layer in self.layers for pair in layer.parameters()]


def reference_sgd_step(model, lr):
    for param, grad in model.parameters():
        param -= lr * grad


REFERENCES = {
    "Linear": ReferenceLinear, "ReLU": ReferenceReLU, "Sigmoid": ReferenceSigmoid, "Tanh": ReferenceTanh,
    "SoftmaxCrossEntropy": ReferenceSoftmaxCrossEntropy, "Sequential": ReferenceSequential,
    "sgd_step": reference_sgd_step,
}


def recording():
    """A fresh TrainingRecord that the reference pieces fill while the block runs."""
    return patch.object(sys.modules[__name__], "_record", TrainingRecord())


def check_training_loop(make_model, train, seed, namespace=None, min_accuracy=MIN_ACCURACY):
    """The student's make_model and train, with the reference layers, loss, Sequential and sgd_step:
    every step must be forward, loss, backward, one step down this batch's gradient; the rows must be
    reshuffled every epoch; train must return every step's loss; the test accuracy must reach min_accuracy."""
    reject_grader_code(train, "train")
    X_train, X_test, y_train, y_test = digits_split()
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with reference_pieces(REFERENCES, make_model, train, namespace=namespace), recording() as record:
        try:
            model = by_hand(make_model, rng)
        except Exception as exc:
            raise TrainingFailed(f"make_model(rng) raised {describe(exc)}\n  {WITH_REFERENCES}") from None
        try:
            losses = call_train(train, model, X_train, y_train, rng)
            for layer in linear_layers(model):
                layer.took_step()  # the step after the last backward pass
            result = by_hand(accuracy, model, X_test, y_test)
        except Exception as exc:
            raise TrainingFailed(f"train() raised {describe(exc)}\n  {WITH_REFERENCES}") from None
    seconds = time.perf_counter() - start
    if not linear_layers(model):
        print("(make_model used none of the grader's layers, so only the accuracy says how train() did)")
    else:
        problems = record.problems + step_size_problems(model) + shuffling_problems(record, X_train)
        problems += loss_problems(losses, record)
        if problems:  # the first is the cause; what follows from it would only distract
            raise TrainingFailed(f"your training loop is wrong: {problems[0]}\n  {WITH_REFERENCES}")
    if not result >= min_accuracy:
        raise TrainingFailed(
            f"test accuracy {result:.3f} after {seconds:.1f} s of training; needed {min_accuracy}, and every "
            f"step was right, so train longer or with a larger learning rate.\n  {WITH_REFERENCES}")
    print(f"seed {seed}: your train() with the grader's layers: test accuracy {result:.3f} "
          f"(needed {min_accuracy}), trained in {seconds:.1f} s")


WITH_REFERENCES = ("(This test runs your make_model and train with the grader's Linear, activations, "
                   "SoftmaxCrossEntropy, Sequential and sgd_step, so it is about your training loop alone.)")


def call_train(train, model, X, y, rng):
    """train(model, X, y, rng) with autograd blocked, on copies of the data (the model and rng are its to change)."""
    return by_hand(train, model, X.copy(), y.copy(), rng)


def linear_layers(model):
    return [layer for layer in getattr(model, "layers", []) if isinstance(layer, ReferenceLinear)]


def step_size_problems(model):
    """Every layer must have taken the same step size at each step (one lr for the whole model)."""
    rates = [layer.learning_rates for layer in linear_layers(model)]
    if len(rates) < 2 or len({len(r) for r in rates}) != 1:
        return []
    rates = np.array(rates)
    if np.all(np.isclose(rates, rates[:1], rtol=1e-3)):
        return []
    return ["the layers took steps of different sizes: one sgd_step(model, lr) moves every parameter with the same lr."]


def shuffling_problems(record, X):
    """The batches must visit the rows in a random order, and in a new one every epoch."""
    row_of = {_row_key(row): i for i, row in enumerate(X)}
    try:
        order = np.concatenate([[row_of[_row_key(row)] for row in batch] for batch in record.batches])
    except (KeyError, ValueError):  # rows the data never had (a transformed X): nothing to compare
        return []
    first_epoch = order[:len(X)]
    if len(first_epoch) > 10 and np.mean(np.diff(first_epoch) > 0) > 0.99:
        return ["the rows were visited in their original order: shuffle them every epoch "
                "(order = rng.permutation(len(X)))."]
    head = order[:10]
    for start in np.flatnonzero(order[1:] == head[0]) + 1:
        if np.array_equal(order[start:start + len(head)], head):  # the first epoch's start comes round again
            if len(order) >= 2 * start and np.array_equal(order[start:2 * start], order[:start]):
                return ["every epoch visited the rows in the same order: draw a new permutation at the "
                        "start of each epoch."]
            break
    return []


def _row_key(row):
    return np.asarray(row, dtype=np.float32).tobytes()  # float32: a train() that converts X still matches


def loss_problems(losses, record):
    """train must return the loss of every step, in order."""
    steps = len(record.batches) or len(record.losses)
    try:
        losses = as_float64(losses, "the losses train() returned").reshape(-1)
    except NotAnArray as exc:
        return [f"{exc} train() should return the list of the loss of every step."]
    if losses.shape != (steps,):
        return [f"train() returned {losses.size} losses for {steps} steps: return the loss of every step "
                "(every mini-batch), in order."]
    seen = record.losses
    if len(seen) == steps and not np.allclose(losses, seen, rtol=1e-4, atol=1e-6):
        return ["the losses train() returned are not the mini-batch losses of its steps: append each "
                "batch's loss from SoftmaxCrossEntropy.forward."]
    return []


# --- 7b. the student's own network -------------------------------------------------------------------

def check_training(make_model, train, SoftmaxCrossEntropy, seed, min_accuracy=MIN_ACCURACY, rows=16):
    """The student's own network: first its gradients on one batch against the same network in torch,
    then trained with the student's train(); it must reach min_accuracy on the held-out test set."""
    X_train, X_test, y_train, y_test = digits_split()
    try:
        model = by_hand(make_model, np.random.default_rng(seed))
        for piece in [type(model), SoftmaxCrossEntropy, *map(type, getattr(model, "layers", []))]:
            reject_grader_code(piece, f"your network's {piece.__name__}")
        checked = check_network(model, by_hand(SoftmaxCrossEntropy), X_train[:rows], y_train[:rows])
    except CannotMirror as exc:
        checked, note = False, f"(no gradient check of your network: {exc})"
    except Exception as exc:
        raise TrainingFailed(
            f"Before training, your network (make_model(rng)) was checked against the same network in torch, "
            f"on a batch of {rows} rows. It says:\n{describe(exc)}") from None
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    try:
        model = by_hand(make_model, rng)
        before = parameter_copies(model)
        losses = call_train(train, model, X_train, y_train, rng)
        result = by_hand(accuracy, model, X_test, y_test)
    except Exception as exc:
        raise TrainingFailed(f"training your network raised {describe(exc)}") from None
    seconds = time.perf_counter() - start
    if not result >= min_accuracy:
        hints = [f"test accuracy {result:.3f} after {seconds:.1f} s of training; needed {min_accuracy}."]
        hints += training_symptoms(model, before, losses)
        hints.append("  Your network's gradients agree with torch's on a batch, so look at sgd_step and at the "
                     "training loop (the test of train() above)." if checked else f"  {note}")
        raise TrainingFailed("\n".join(hints))
    print(f"seed {seed}: your network: test accuracy {result:.3f} (needed {min_accuracy}), trained in {seconds:.1f} s")


def parameter_copies(model):
    try:
        return [as_float64(param).copy() for param, _ in model.parameters()]
    except Exception:
        return None


def training_symptoms(model, before, losses):
    symptoms = []
    after = parameter_copies(model)
    if before is not None and after is not None and all(np.array_equal(a, b) for a, b in zip(before, after)):
        symptoms.append("  no parameter changed during training: does sgd_step update the arrays in place "
                        "(`param -= lr * grad`)?")
    try:
        losses = as_float64(losses, "the losses train() returned").reshape(-1)
    except AssertionError:
        return symptoms
    if losses.size and not np.all(np.isfinite(losses)):
        first = int(np.argmin(np.isfinite(losses)))
        symptoms.append(f"  the loss became NaN or inf at step {first}: the steps are too large "
                        "(learning rate, or a gradient N times too large).")
    return symptoms


class CannotMirror(Exception):
    """The model has a layer without a torch twin here."""


def layer_kind(layer):
    if hasattr(layer, "W") and hasattr(layer, "b"):
        return "linear"
    kind = type(layer).__name__.lower()
    if kind not in ACTIVATIONS:
        raise CannotMirror(f"layer of type {type(layer).__name__} has no torch twin here")
    return kind


def check_network(model, loss_fn, X, y):
    """Every layer's gradients against an equivalent float64 torch model with the same weights, then
    the model as a whole (Sequential's forward, backward and parameters). Returns True.

    Walks the layers one at a time from the loss down, so the first failure names the layer at fault.
    Uses the float32 tolerance throughout: a float32 network is fine, and real slips are far outside it.
    """
    if not hasattr(model, "layers"):
        raise CannotMirror("the model has no .layers list")
    layers = list(model.layers)
    kinds = [layer_kind(layer) for layer in layers]
    inputs = dict(h0=as_float64(X), y=np.asarray(y))
    for i, kind in enumerate(kinds):
        if kind == "linear":
            inputs[f"W{i}"], inputs[f"b{i}"] = as_float64(layers[i].W), as_float64(layers[i].b)

    def twin(h0, y, **params):
        named, h = {}, h0
        for i, kind in enumerate(kinds):
            h = F.linear(h, params[f"W{i}"], params[f"b{i}"]) if kind == "linear" else ACTIVATIONS[kind][0](h)
            named[f"h{i + 1}"] = h
        named["loss"] = F.cross_entropy(h, y)
        return named

    values, grads = retained_grads(twin, inputs)
    n, top = len(y), f"h{len(layers)}"
    mistakes = {}  # (layer, what) -> known mistakes, from the reference values only
    for i, kind in enumerate(kinds):
        x_in, upstream = values.get(f"h{i}", inputs["h0"]), grads[f"h{i + 1}"]
        mistakes[i] = linear_mistakes(x_in, inputs[f"W{i}"], upstream) if kind == "linear" \
            else ACTIVATIONS[kind][1](x_in, upstream)

    h = inputs["h0"].copy()
    for layer in layers:
        h = by_hand_on_copies(layer.forward, h)
    check_value("the loss of your network", by_hand_on_copies(loss_fn.forward, h, y), values["loss"], **LOOSE)
    d = by_hand(loss_fn.backward)
    check_gradient(f"dlogits from {type(loss_fn).__name__}.backward()", d, grads[top], batch_size=n,
                   known_mistakes=softmax_ce_mistakes(values[top], y, grads[top]), **LOOSE)
    d = grads[top]  # each layer gets the right upstream gradient, so the first failure is its own
    for i in reversed(range(len(layers))):
        layer, kind, name = layers[i], kinds[i], f"layer {i} ({type(layers[i]).__name__})"
        d = by_hand_on_copies(layer.backward, d)
        if kind == "linear":
            check_gradient(f"{name}.dW", layer.dW, grads[f"W{i}"], batch_size=n, known_mistakes=mistakes[i], **LOOSE)
            check_gradient(f"{name}.db", layer.db, grads[f"b{i}"], batch_size=n, **LOOSE)
        check_gradient(f"{name}: dx returned by backward", d, grads[f"h{i}"], batch_size=n,
                       known_mistakes=mistakes[i], **LOOSE)
        d = grads[f"h{i}"]
    check_whole_model(model, kinds, inputs, values, grads)
    return True


def check_whole_model(model, kinds, inputs, values, grads):
    """The model's own forward, backward and parameters(): what joins the layers (Sequential)."""
    top = f"h{len(kinds)}"

    def run(what, function, *args):
        try:
            return by_hand_on_copies(function, *args)
        except Exception as exc:
            raise GradientMismatch(
                f"{what} raised {describe(exc)}\n  Every layer works when called on its own, so look at what "
                "joins them: Sequential.forward runs the layers first to last, Sequential.backward last to "
                "first, each handing its result to the next.") from None

    check_value("model.forward(X) (your Sequential)", run("model.forward(X)", model.forward, inputs["h0"]),
                values[top], **LOOSE)
    dx = run("model.backward(dlogits)", model.backward, grads[top])
    check_gradient("dX from model.backward(dlogits) (your Sequential)", dx, grads["h0"], **LOOSE)
    expected = [grads[f"{p}{i}"] for i, kind in enumerate(kinds) if kind == "linear" for p in "Wb"]
    pairs = list(run("model.parameters()", model.parameters))
    if len(pairs) != len(expected):
        raise GradientMismatch(f"model.parameters() gave {len(pairs)} (parameter, gradient) pairs; the network's "
                               f"Linear layers have {len(expected)} (W and b of each, in layer order).")
    for k, ((_, grad), ref) in enumerate(zip(pairs, expected)):
        check_gradient(f"gradient {k + 1} of {len(expected)} from model.parameters() after model.backward",
                       grad, ref, **LOOSE)
