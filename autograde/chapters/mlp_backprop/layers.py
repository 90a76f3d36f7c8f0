"""Chapter 3, exercises 1 to 3: the Linear layer, the activations (ReLU, sigmoid, tanh) and softmax
cross-entropy, each against torch with the same weights, and their typical mistakes."""
import numpy as np
import torch
import torch.nn.functional as F

from ...arrays import as_float64
from ...check import GradientMismatch, check_gradient, check_value, tolerance_for
from ...guard import by_hand, by_hand_on_copies
from ...reference import randn, torch_grads
from .answers import reject_grader_code


def tensor(array):
    return torch.as_tensor(as_float64(array))


def targets(array):
    """Integer class labels as the long tensor torch's losses insist on (int32 input included)."""
    return torch.as_tensor(np.asarray(array), dtype=torch.long)


def with_hint(hint, check, *args, **kwargs):
    """Run a check; if it fails, add a line with the principle that leads to the answer (not the answer)."""
    try:
        check(*args, **kwargs)
    except GradientMismatch as exc:
        raise GradientMismatch(f"{exc}\n  to think about: {hint}") from None


# --- 1. Linear -----------------------------------------------------------------------------------

def linear_mistakes(x, W, dy):
    """Wrong answers of the right shape that a typical slip gives (only distinct when square)."""
    mistakes = {}
    if W.shape[0] == W.shape[1]:
        mistakes["dW is transposed: it is the transpose of the gradient of W (with a square W the "
                  "shapes cannot tell; the order of the factors in the product can)."] = x.T @ dy
        mistakes["dx used W^T, the matrix the forward pass multiplied x by: going backward, dy is "
                  "multiplied by the transpose of what the forward multiplied x by."] = dy @ W.T
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
        with_hint("a gradient has the shape of its variable: which product of dy (N, d_out) and x "
                  "(N, d_in) has the shape of W, (d_out, d_in)?",
                  check_gradient, "Linear.dW", layer.dW, ref["weight"], batch_size=n, known_mistakes=dW_mistakes, **tol)
        with_hint("b is added to every row of the batch: what do the gradients of its N copies add up to?",
                  check_gradient, "Linear.db", layer.db, ref["bias"], batch_size=n, **tol)
        with_hint("a gradient has the shape of its variable: which product of dy (N, d_out) and W "
                  "(d_out, d_in) has the shape of x, (N, d_in)?",
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
        "the gradient passes where the input was negative: ReLU is flat there, so nothing flows back "
        "through it (and relu(x) >= 0 holds everywhere, so a mask built from the output must exclude "
        "0).": dy,
        "the gradient passed where the input was exactly 0: the convention (torch's, stated in the "
        "notebook) is a gradient of 0 there, so the mask is x > 0, not x >= 0.": dy * (x >= 0),
        "the mask came from the sign of dy: whether ReLU lets a gradient through depends on its input, "
        "not on the upstream gradient.": dy * (dy > 0),
    }


def sigmoid_mistakes(x, dy):
    s = 1 / (1 + np.exp(-x))
    return {
        "a factor of sigmoid's derivative is missing (differentiate 1 / (1 + exp(-x)) and write the "
        "result with s = sigmoid(x)).": dy * s,
        "s (1 - s) was evaluated at the input x, not at the output s = sigmoid(x).": dy * x * (1 - x),
        "sigmoid was applied to the stored output once more: s (1 - s) needs s itself.":
            dy * (1 / (1 + np.exp(-s))) * (1 - 1 / (1 + np.exp(-s))),
    }


def tanh_mistakes(x, dy):
    t = np.tanh(x)
    return {
        "tanh's derivative was evaluated at the input: it is written with the output tanh(x).":
            dy * (1 - x ** 2),
        "a square is missing in tanh's derivative (differentiate sinh / cosh).": dy * (1 - t),
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
        f"missing 1/N: the loss is the mean over N={n} rows, and the mean's 1/N carries into every "
        "gradient.": n * dlogits,
        "the target's direct part is missing: -log p_y depends on the target's own logit directly, "
        "not only through the normaliser.": p / n,
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
    check_gradient("SoftmaxCrossEntropy.backward()", dlogits, ref, batch_size=n,
                   known_mistakes=mistakes, **tolerance_for(dtype))
