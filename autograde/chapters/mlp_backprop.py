"""Checks for chapter 3 (an MLP by hand). Each check builds the same computation in torch with the
student's weights, lets autograd differentiate it in float64, and compares every gradient.

Conventions (as in torch): a Linear layer holds W of shape (d_out, d_in) and b of shape (d_out,)
and computes x @ W.T + b for a batch x of shape (N, d_in); losses are means over the batch.
"""
import functools
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..arrays import as_float64
from ..check import LOW_PRECISION, GradientMismatch, check_gradient, check_value
from ..guard import by_hand, no_autograd
from ..reference import randn, retained_grads, torch_grads
from ..table import Report, compare_all

MIN_ACCURACY = 0.93


LOOSE = dict(rtol=LOW_PRECISION[0], atol=LOW_PRECISION[1])


def tolerance_for(dtype):
    """A float32 case gets the float32 tolerance whatever type the answer comes back in (a float32
    loss returned as a Python float still has only float32's digits); float64 cases get the default."""
    return LOOSE if np.dtype(dtype) != np.float64 else {}


def tensor(array):
    return torch.as_tensor(as_float64(array))


def with_hint(hint, check, *args, **kwargs):
    """Run a check; if it fails, add a line reminding how the right answer is built."""
    try:
        check(*args, **kwargs)
    except GradientMismatch as exc:
        raise GradientMismatch(f"{exc}\n  reminder: {hint}") from None


# --- 1. Linear -----------------------------------------------------------------------------------

def linear_mistakes(x, W, dy):
    """Wrong answers of the right shape that a typical slip gives (only distinct when square)."""
    mistakes = {}
    if W.shape[0] == W.shape[1]:
        mistakes["dW is transposed: with W of shape (d_out, d_in), dW = dy^T x, not x^T dy."] = x.T @ dy
        mistakes["dx used W^T: y = x W^T, so dx = dy W."] = dy @ W.T
    return mistakes


def check_linear(Linear, seed, n, d_in, d_out, dtype=np.float64):
    """Forward and backward of a fresh Linear(d_in, d_out) against F.linear with the same weights."""
    layer = Linear(d_in, d_out, np.random.default_rng(seed))
    tol = tolerance_for(dtype)
    W, b = as_float64(layer.W, "Linear.W"), as_float64(layer.b, "Linear.b")
    if W.shape != (d_out, d_in) or b.shape != (d_out,):
        raise GradientMismatch(
            f"Linear({d_in}, {d_out}, rng) made W of shape {W.shape} and b of shape {b.shape}; "
            f"torch's convention is W: (d_out, d_in) = {(d_out, d_in)}, b: (d_out,) = {(d_out,)}."
        )
    for attempt, offset in enumerate((1, 3)):  # the second batch: gradients must not pile up
        x = randn(seed + offset, n, d_in).astype(dtype)
        dy = randn(seed + offset + 1, n, d_out)
        y = layer.forward(x)
        with torch.no_grad():
            check_value("Linear.forward(x)", y, F.linear(tensor(x), tensor(W), tensor(b)).numpy(), **tol)
        dx = by_hand(layer.backward, dy)
        ref = torch_grads(F.linear, dict(input=x, weight=W, bias=b), upstream=dy)
        mistakes = linear_mistakes(as_float64(x), W, dy)
        if attempt:
            mistakes["dW kept the previous batch's gradient and added this one's: backward should "
                      "set self.dW = ..., not add to it."] = ref["weight"] + previous_dW
        with_hint("dW = dy^T x has shape (d_out, N) @ (N, d_in) = (d_out, d_in), the shape of W.",
                  check_gradient, "Linear.dW", layer.dW, ref["weight"], known_mistakes=mistakes, **tol)
        with_hint("b is added to every row of the batch, so db = dy summed over the batch axis.",
                  check_gradient, "Linear.db", layer.db, ref["bias"], batch_size=n, **tol)
        with_hint("dx = dy W has shape (N, d_out) @ (d_out, d_in) = (N, d_in), the shape of x.",
                  check_gradient, "dx = Linear.backward(dy)", dx, ref["input"], known_mistakes=mistakes, **tol)
        previous_dW = ref["weight"]
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


def check_activation(Activation, kind, seed, shape, dtype=np.float64):
    torch_fn, mistakes = ACTIVATIONS[kind]
    name = getattr(Activation, "__name__", kind)
    x = randn(seed, *shape, scale=2.0).astype(dtype)
    dy = randn(seed + 1, *shape)
    layer, other = Activation(), Activation()
    y = layer.forward(x)
    other.forward(randn(seed + 2, *shape))  # a second layer of the same kind must not disturb the first
    with torch.no_grad():
        check_value(f"{name}.forward(x)", y, torch_fn(tensor(x)).numpy(), **tolerance_for(dtype))
    dx = by_hand(layer.backward, dy)
    ref = torch_grads(torch_fn, dict(input=x), upstream=dy)["input"]
    known = mistakes(as_float64(x), dy)
    known["this is the gradient at the input of another layer: keep what backward needs on self, "
          "so that two layers of one kind do not share it."] = torch_grads(
        torch_fn, dict(input=randn(seed + 2, *shape)), upstream=dy)["input"]
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
    logits = randn(seed, n, k, scale=scale).astype(dtype)
    target = np.random.default_rng(seed + 1).integers(0, k, size=n)
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(logits, target)
    ref = torch_grads(lambda x: F.cross_entropy(x, torch.as_tensor(target)), dict(x=logits))["x"]
    with torch.no_grad():
        expected = F.cross_entropy(tensor(logits), torch.as_tensor(target)).item()
    check_value("SoftmaxCrossEntropy.forward(logits, target)", loss, expected, **tolerance_for(dtype), known_mistakes={
        f"the loss was summed over the batch: it is the mean over the N={n} rows.": n * expected,
    })
    dlogits = by_hand(loss_fn.backward)
    check_gradient("dlogits = SoftmaxCrossEntropy.backward()", dlogits, ref, batch_size=n,
                   known_mistakes=softmax_ce_mistakes(as_float64(logits), target, ref), **tolerance_for(dtype))


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


def check_sequential(Sequential, sgd_step, seed, n, d, lr=0.1):
    a1, a2 = randn(seed, d), randn(seed + 1, d)
    x, dy = randn(seed + 2, n, d), randn(seed + 3, n, d)
    M = randn(seed + 4, d, d, scale=d ** -0.5)
    model = Sequential(_Scale(a1), _Mix(M), _Cube(), _Scale(a2))

    def twin(x, a1, a2, M):  # numpy or torch alike
        return ((x * a1) @ M.T) ** 3 * a2

    y = model.forward(x)
    reversed_order = ((x * a2) ** 3 @ M.T) * a1
    check_value("Sequential.forward(x)", y, twin(x, a1, a2, M), known_mistakes={
        "the layers ran in reverse order: forward goes from the first layer to the last.": reversed_order,
    })
    dx = by_hand(model.backward, dy)
    ref = torch_grads(twin, dict(x=x, a1=a1, a2=a2, M=M), upstream=dy)
    wrong_order = dy
    for layer in _forwarded([_Scale(a1.copy()), _Mix(M), _Cube(), _Scale(a2.copy())], x):
        wrong_order = layer.backward(wrong_order)  # what a backward pass in forward order gives
    check_gradient("dx = Sequential.backward(dy)", dx, ref["x"], known_mistakes={
        "backward visited the layers in forward order: it must go from the last layer to the first.": wrong_order,
    })
    pairs = list(model.parameters())
    if len(pairs) != 2 or pairs[0][0] is not a1 or pairs[1][0] is not a2:
        raise GradientMismatch(
            f"Sequential.parameters() gave {len(pairs)} pairs; expected the 2 (parameter, gradient) pairs "
            "of its layers, in layer order, with the parameter arrays themselves (not copies)."
        )
    check_gradient("the first gradient from Sequential.parameters()", pairs[0][1], ref["a1"])
    check_gradient("the second gradient from Sequential.parameters()", pairs[1][1], ref["a2"])
    before = a1.copy()
    sgd_step(model, lr)
    check_value(f"a parameter after sgd_step(model, lr={lr})", a1, before - lr * ref["a1"], known_mistakes={
        "sgd_step did not change the parameters: update the arrays in place (`param -= lr * grad`); "
        "`param = param - lr * grad` only rebinds a local name.": before,
        "sgd_step went uphill: a step of gradient descent subtracts lr * grad.": before + lr * ref["a1"],
    })


# --- 5. numerical gradient and relative error --------------------------------------------------

def check_numerical_gradient(numerical_gradient, seed, shape):
    x = randn(seed, *shape)
    before = x.copy()
    got = numerical_gradient(lambda v: float(np.sum(np.sin(v) * v ** 2)), x)
    if not np.array_equal(x, before):
        raise GradientMismatch("numerical_gradient changed x: restore each entry after nudging it.")
    expected = torch_grads(lambda v: (torch.sin(v) * v ** 2).sum(), dict(v=x))["v"]
    # Central differences with h=1e-5 are good to ~1e-10 here; one-sided ones only to ~1e-5.
    h = 1e-5
    one_sided = np.array([(np.sum(np.sin(xp) * xp ** 2) - np.sum(np.sin(x) * x ** 2)) / h
                          for xp in _nudged(x, h)]).reshape(x.shape)
    check_gradient("numerical_gradient(f, x)", got, expected, rtol=1e-7, atol=1e-8, known_mistakes={
        "a one-sided difference (f(x + h) - f(x)) / h: its error shrinks like h; the central difference "
        "(f(x + h) - f(x - h)) / 2h is exact up to h**2.": one_sided,
    })
    # The step h is an argument: for f = sum(x**3) the central difference gives exactly 3 x**2 + h**2.
    big_h = 0.5
    got = numerical_gradient(lambda v: float(np.sum(v ** 3)), x, h=big_h)
    check_gradient(f"numerical_gradient(f, x, h={big_h}) for f = sum(x**3)", got, 3 * x ** 2 + big_h ** 2,
                   rtol=1e-6, atol=1e-8, known_mistakes={
                       "the h argument was ignored (a fixed step was used instead).": 3 * x ** 2,
                       "a one-sided difference (f(x + h) - f(x)) / h: use the central difference.":
                           3 * x ** 2 + 3 * x * big_h + big_h ** 2,
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
]


def relative_error_cases(seed):
    """Two random gradient-like pairs: nearly equal, and one off in a single entry."""
    a = randn(seed, 3, 4)
    close = a * (1 + 1e-6 * randn(seed + 1, 3, 4))
    one_off = a.copy()
    one_off[1, 2] += 0.3
    return [(f"random arrays (seed {seed})", a, close), (f"random arrays with one changed entry (seed {seed})", a, one_off)]


def check_relative_error(relative_error, seed=None):
    """Accept max |a - b| / (|a| + |b|) and max |a - b| / max(|a|, |b|): they differ by at most 2x."""
    cases = RELATIVE_ERROR_CASES + (relative_error_cases(seed) if seed is not None else [])
    for what, a, b in cases:
        a, b = np.array(a), np.array(b)
        got = as_float64(relative_error(a, b), f"relative_error for {what}")
        if got.shape != ():
            raise GradientMismatch(f"relative_error for {what} returned shape {got.shape}: return one "
                                   "number, the largest relative error over all entries.")
        got = float(got)
        diff = np.abs(a - b)
        with np.errstate(invalid="ignore", divide="ignore"):
            low = np.nan_to_num(diff / (np.abs(a) + np.abs(b)))
            high = np.nan_to_num(diff / np.maximum(np.abs(a), np.abs(b)))
        if low.max() * (1 - 1e-9) - 1e-15 <= got <= high.max() * (1 + 1e-9) + 1e-15:
            continue
        causes = {
            "NaN: when both entries are 0 the denominator is 0; divide by max(eps, |a| + |b|).": np.isnan(got),
            "the errors were averaged over the entries: take the max, so one wrong entry cannot hide "
            "among many right ones.": np.isclose(got, low.mean()) or np.isclose(got, high.mean()),
            "this is the absolute error |a - b|: divide by |a| + |b| so that the measure does not depend "
            "on the scale of the gradient.": np.isclose(got, diff.max()),
        }
        cause = next((text for text, hit in causes.items() if hit), None)
        raise GradientMismatch(
            f"relative_error for {what}: expected {low.max():.6g} (denominator |a| + |b|; up to "
            f"{high.max():.6g} with max(|a|, |b|)), got {got:.6g}."
            + (f"\n  likely cause: {cause}" if cause else "")
        )


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
    loss, cache = forward(**inputs, lam=lam)
    values, grads = retained_grads(functools.partial(three_layer_torch, lam=lam), inputs)
    check_value("loss of the forward pass", loss, values["loss"])
    mistakes = every_intermediate_mistakes(inputs, values, grads, lam)  # before the cache can be touched
    got = by_hand(manual_backward, cache)
    expected = {name: grads[name] for name in INTERMEDIATES}
    return compare_all(got, expected, batch_size=N, known_mistakes=mistakes)


def merged(*reports):
    """One Report over the rows of several (partial credit over every case)."""
    return Report([row for report in reports for row in report.rows])


# --- 7. training on digits -------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()  # 1797 8x8 images, grey levels 0..16, shipped with scikit-learn
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0) + 1.0  # + 1 grey level: pixels that are always blank stay finite
    return (X_train - mean) / scale, (X_test - mean) / scale, y_train, y_test


def digits_split():
    """X_train (1347, 64), X_test (450, 64), y_train, y_test: standardised with the training statistics."""
    return tuple(array.copy() for array in _digits_split())


def accuracy(model, X, y):
    """Share of rows whose largest logit is the target class."""
    return float(np.mean(np.argmax(as_float64(model.forward(X), "model.forward(X)"), axis=1) == y))


class TrainingFailed(AssertionError):
    """The trained network did not reach the accuracy; the message says what to look at."""


def check_training(make_model, train, SoftmaxCrossEntropy, seed, min_accuracy=MIN_ACCURACY):
    """Train make_model(rng) with train(model, X_train, y_train, rng) and test it on the held-out split."""
    X_train, X_test, y_train, y_test = digits_split()
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    try:
        model = make_model(rng)
        before = parameter_copies(model)
        with no_autograd("train()"):
            losses = train(model, X_train, y_train, rng)
        result = accuracy(model, X_test, y_test)
    except Exception as exc:
        raise TrainingFailed(
            f"training raised {describe(exc)}\n" + diagnose(make_model, SoftmaxCrossEntropy, seed, X_train, y_train)
        ) from None
    seconds = time.perf_counter() - start
    if not result >= min_accuracy:
        hints = [f"test accuracy {result:.3f} after {seconds:.1f} s of training; needed {min_accuracy}."]
        hints += training_symptoms(model, before, losses)
        hints.append(diagnose(make_model, SoftmaxCrossEntropy, seed, X_train, y_train))
        raise TrainingFailed("\n".join(hints))
    print(f"seed {seed}: test accuracy {result:.3f} (needed {min_accuracy}), trained in {seconds:.1f} s")


def describe(exc):
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, NotImplementedError):
        text += " (a function it needs is not written yet)"
    return text


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


def diagnose(make_model, SoftmaxCrossEntropy, seed, X, y, rows=16):
    """Compare a fresh network's gradients with its torch twin; say which layer is wrong, if any."""
    try:
        model = make_model(np.random.default_rng(seed))
        check_network(model, SoftmaxCrossEntropy(), X[:rows], y[:rows])
    except CannotMirror as exc:
        return f"(no gradient check of your network: {exc})"
    except Exception as exc:
        return ("A gradient check of your network (make_model, one batch of "
                f"{rows} rows) against the same network in torch says:\n{describe(exc)}")
    return ("Your layers' gradients agree with torch's on a batch (checked one layer at a time), so look at "
            "what joins them: Sequential.forward and .backward, sgd_step, and the training loop (shuffling, "
            "batch size, learning rate, number of epochs).")


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
    """Every layer's gradients against an equivalent float64 torch model with the same weights.

    Walks the layers one at a time from the loss down, so the first failure names the layer at fault.
    Uses the float32 tolerance throughout: a float32 network is fine, and real slips are far outside it.
    """
    if not hasattr(model, "layers"):
        raise CannotMirror("the model has no .layers list")
    layers = list(model.layers)
    kinds = [layer_kind(layer) for layer in layers]
    inputs = dict(h0=X, y=y)
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
    h = X
    for layer in layers:
        h = layer.forward(h)
    check_value("the loss of your network", loss_fn.forward(h, y), values["loss"], **LOOSE)
    n, top = len(y), f"h{len(layers)}"
    d = by_hand(loss_fn.backward)
    check_gradient(f"dlogits from {type(loss_fn).__name__}.backward()", d, grads[top], batch_size=n,
                   known_mistakes=softmax_ce_mistakes(values[top], y, grads[top]), **LOOSE)
    for i in reversed(range(len(layers))):
        layer, kind, name = layers[i], kinds[i], f"layer {i} ({type(layers[i]).__name__})"
        x_in = X if i == 0 else values[f"h{i}"]
        upstream = as_float64(d, f"the gradient flowing into {name}")
        d = by_hand(layer.backward, d)
        if kind == "linear":
            W = inputs[f"W{i}"]
            check_gradient(f"{name}.dW", layer.dW, grads[f"W{i}"], known_mistakes=linear_mistakes(x_in, W, upstream),
                           **LOOSE)
            check_gradient(f"{name}.db", layer.db, grads[f"b{i}"], batch_size=n, **LOOSE)
            known = linear_mistakes(x_in, W, upstream)
        else:
            known = ACTIVATIONS[kind][1](x_in, upstream)
        check_gradient(f"{name}: dx returned by backward", d, grads[f"h{i}"], batch_size=n, known_mistakes=known,
                       **LOOSE)
