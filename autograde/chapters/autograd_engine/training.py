"""Checks of exercise 3d (Tensor graphs: reuse, diamonds, a network's loss) and exercise 4 (train_mlp).

train_mlp is graded on the student's own Tensor when that Tensor gets the network's gradients right
(checked first, on one batch, against torch). When it does not, the grader's Tensor stands in for it
while train_mlp runs, and the test says so: the engine's mistake is the Tensor tests' to count.
"""
import collections
import contextlib
import time
from unittest.mock import patch

import numpy as np

from ...arrays import as_float64
from ...off_limits import handed_over
from ...wire import given
from ..common import reference_pieces
from . import engine
from .common import EngineFailed, describe, reject_grader_code, running, verified
from .tensors import Case, check_basics, randn, run_case, unbroadcast_in_place

MIN_ACCURACY = 0.93
TIME_LIMIT = 20.0  # seconds for one call of train_mlp
USED_TWICE = ("  likely cause: {name} is used twice here, and its gradient is the sum over both uses: a backward "
              "step must add its share (accumulate into .grad with `+=`), never overwrite it with `=`.")
DIAMOND = ("  likely cause: {name} feeds two operations, one of which also depends on the other (a diamond). "
           "A node may pass its gradient on only once every node that uses it has added its share: run the "
           "backward steps in reverse topological order, each node once.")


def mlp_case(rng, n=8, d=6, hidden=5, classes=4):
    """Chapter 3's network on one batch, its loss written with the Tensor's operations."""
    y = rng.integers(0, classes, n)

    def loss(W1, b1, W2, b2, x, onehot):
        h = x @ W1.T + b1
        a = h.relu()
        logits = a @ W2.T + b2
        logp = logits.log_softmax(axis=1)
        return dict(h=h, a=a, logits=logits, logp=logp, loss=-(logp * onehot).sum() / n)

    leaves = dict(W1=randn(rng, (hidden, d)) / np.sqrt(d), b1=randn(rng, (hidden,)) * 0.1,
                  W2=randn(rng, (classes, hidden)) / np.sqrt(hidden), b2=randn(rng, (classes,)) * 0.1,
                  x=randn(rng, (n, d)))
    return Case("the mean cross-entropy of relu(x @ W1.T + b1) @ W2.T + b2", loss, leaves,
                dict(onehot=np.eye(classes)[y]))


def _diamond_exp(A, C):
    B = A * C
    return dict(B=B, out=B.exp() * B)


def _diamond_sum(A, C):
    B = A + C
    S = (B * B).sum(axis=1, keepdims=True)
    return dict(B=B, S=S, out=S * B)


def _diamond_softmax(A):
    H = A.tanh()
    return dict(H=H, out=H.log_softmax(axis=-1) * H)


def probes(rng, n, m):
    """{operation: a case of it on its own}: what the graphs below may be built from."""
    def case(label, fn, low=None, B=None):
        A = np.abs(randn(rng, (n, m), low)) if label == "A.log()" else randn(rng, (n, m), low)
        return Case(label, fn, {"A": A} if B is None else {"A": A, "B": randn(rng, B, 0.5)})
    return {
        "+": case("A + B", lambda A, B: A + B, B=(m,)), "-": case("A - B", lambda A, B: A - B, B=(m,)),
        "*": case("A * B", lambda A, B: A * B, B=(m,)), "/": case("A / B", lambda A, B: A / B, B=(m,)),
        "exp": case("A.exp()", lambda A: A.exp()), "log": case("A.log()", lambda A: A.log(), 0.3),
        "relu": case("A.relu()", lambda A: A.relu(), 0.05), "tanh": case("A.tanh()", lambda A: A.tanh()),
        "sum": case("A.sum(axis=0)", lambda A: A.sum(axis=0)),
        "sum keepdims": case("A.sum(axis=1, keepdims=True)", lambda A: A.sum(axis=1, keepdims=True)),
        "@": case("A @ B", lambda A, B: A @ B, B=(m, n)), ".T": case("A.T", lambda A: A.T),
        "log_softmax": case("A.log_softmax(axis=-1)", lambda A: A.log_softmax(axis=-1)),
    }


def working(Tensor, rng, n, m):
    """The operations whose case on its own passes."""
    ok = set()
    for op, case in probes(rng, n, m).items():
        try:
            run_case(Tensor, case, rng)
            ok.add(op)
        except Exception:  # noqa: BLE001 (broken on its own: the other Tensor tests count it)
            pass
    return ok


def check_tensor_graphs(Tensor, seed, namespace=None):
    """Tensors used twice (by one operation or by two), diamonds, and a small network's loss, built from
    the operations that work on their own (a broken one is the other Tensor tests' to count)."""
    reject_grader_code(Tensor, "Tensor")
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(2, 5)), int(rng.integers(2, 6))
    with unbroadcast_in_place(namespace, Tensor):
        check_basics(Tensor, rng, (n, m))
        ok = working(Tensor, rng, n, m)
        A, A_pos = randn(rng, (n, m), 0.05), np.abs(randn(rng, (n, m), 0.3))
        used_twice = USED_TWICE.format(name="A")
        cases = [
            (Case("A + A", lambda A: A + A, {"A": A}, hint=used_twice), {"+"}),
            (Case("A * A", lambda A: A * A, {"A": A}, hint=used_twice), {"*"}),
            (Case("A - A * A", lambda A: A - A * A, {"A": A}, hint=used_twice), {"-", "*"}),
            (Case("A * B + A", lambda A, B: A * B + A, {"A": A, "B": randn(rng, (m,))}, hint=used_twice), {"+", "*"}),
            (Case("A @ A.T", lambda A: A @ A.T, {"A": A}, hint=used_twice), {"@", ".T"}),
            (Case("A.exp() * A", lambda A: A.exp() * A, {"A": A}, hint=used_twice), {"exp", "*"}),
            (Case("A.tanh() * A", lambda A: A.tanh() * A, {"A": A}, hint=used_twice), {"tanh", "*"}),
            (Case("A.relu() * A", lambda A: A.relu() * A, {"A": A}, hint=used_twice), {"relu", "*"}),
            (Case("A.log() * A", lambda A: A.log() * A, {"A": A_pos}, hint=used_twice), {"log", "*"}),
            (Case("A.sum(axis=0) * A", lambda A: A.sum(axis=0) * A, {"A": A}, hint=used_twice), {"sum", "*"}),
            (Case("B = A * C; out = B.exp() * B", _diamond_exp,
                  {"A": randn(rng, (n, m)) * 0.5, "C": randn(rng, (n, m))}, hint=DIAMOND.format(name="B")),
             {"*", "exp"}),
            (Case("B = A + C; S = (B * B).sum(axis=1, keepdims=True); out = S * B", _diamond_sum,
                  {"A": randn(rng, (n, m)), "C": randn(rng, (m,))}, hint=DIAMOND.format(name="B")),
             {"+", "*", "sum keepdims"}),
            (Case("H = A.tanh(); out = H.log_softmax(axis=-1) * H", _diamond_softmax, {"A": randn(rng, (n, m))},
                  hint=DIAMOND.format(name="H")), {"tanh", "log_softmax", "*"}),
            (mlp_case(rng), {"@", ".T", "+", "relu", "log_softmax", "*", "/"}),
        ]
        left_out, ran = [], {}
        for i, (case, needs) in enumerate(cases):
            kind = "reused tensors" if case.hint == used_twice else "diamonds" if i < len(cases) - 1 \
                else "a network's loss"
            if needs <= ok:
                run_case(Tensor, case, rng)
                ran[kind] = True
            else:
                left_out.append(f"{case.label} (needs {', '.join(sorted(needs - ok))})")
        if not ran:  # points for testing nothing would be silent points
            missing = collections.Counter(op for _, needs in cases for op in needs - ok)
            raise EngineFailed(
                "none of these graphs could be tested: each needs an operation that is wrong on its own (see the "
                f"other Tensor tests). Fix `{missing.most_common(1)[0][0]}` first: most of them need it.")
        if left_out:
            print("(left out, because an operation they need is wrong on its own; see the other Tensor tests: "
                  + "; ".join(left_out) + ")")
    verified(*ran)


# --- exercise 4: training on the digits ----------------------------------------------------------------

def network_problem(Tensor, rng):
    """None if the student's Tensor gets the network's loss and gradients right on a batch, else why not."""
    try:
        run_case(Tensor, mlp_case(rng, n=16, d=64, hidden=32, classes=10), rng)
    except Exception as exc:  # noqa: BLE001 (any failure means: train on the grader's Tensor instead)
        return str(exc).splitlines()[0] if isinstance(exc, AssertionError) else describe(exc)
    return None


@contextlib.contextmanager
def counting_backward(cls):
    """Count the calls of cls.backward while the block runs."""
    calls = [0]
    original = cls.backward

    def backward(self, *args, **kwargs):
        calls[0] += 1
        return original(self, *args, **kwargs)

    with patch.object(cls, "backward", backward), handed_over(backward):  # the student's code calls it
        yield calls


def accuracy(params, X, y):
    W1, b1, W2, b2 = params
    return float(np.mean(np.argmax(np.maximum(X @ W1.T + b1, 0) @ W2.T + b2, axis=1) == y))


def read_params(params, hidden, d_in=64, classes=10):
    expected = {"W1": (hidden, d_in), "b1": (hidden,), "W2": (classes, hidden), "b2": (classes,)}
    try:
        params = list(params)
    except TypeError:
        raise EngineFailed(f"train_mlp should return [W1, b1, W2, b2], got {type(params).__name__}.") from None
    if len(params) != 4:
        raise EngineFailed(f"train_mlp should return the four arrays [W1, b1, W2, b2], got {len(params)} things.")
    arrays = []
    for (name, shape), value in zip(expected.items(), params):
        value = getattr(value, "data", value) if not isinstance(value, np.ndarray) else value  # a Tensor is fine too
        array = as_float64(value, name)
        if array.shape != shape:
            raise EngineFailed(f"{name} returned by train_mlp has shape {array.shape}, expected {shape} "
                               f"(W of shape (d_out, d_in), as in chapter 3; hidden={hidden}).")
        arrays.append(array)
    return arrays


def check_train_mlp(train_mlp, Tensor, seed=0, hidden=32, namespace=None, min_accuracy=MIN_ACCURACY,
                    time_limit=TIME_LIMIT):
    """train_mlp(X_train, y_train, hidden=hidden, seed=seed) on the digits: the network it returns must
    reach min_accuracy on the held-out test images, within time_limit seconds on the student's own
    Tensor, and train_mlp must have called backward() on the engine."""
    from ..mlp_backprop import digits_split

    reject_grader_code(train_mlp, "train_mlp")
    X_train, X_test, y_train, y_test = digits_split()
    problem = network_problem(Tensor, np.random.default_rng(seed))
    own = problem is None
    used = Tensor if own else engine.Tensor
    if not own:
        print("Your Tensor gets this network's gradients wrong on a batch, so this test trains your train_mlp on "
              f"the grader's Tensor (the Tensor tests count that mistake). What was wrong: {problem}")
    references = {} if own else {"Tensor": engine.Tensor, "unbroadcast": engine.unbroadcast}
    with reference_pieces(references, train_mlp, namespace=namespace), counting_backward(used) as calls:
        start = time.perf_counter()
        with running(f"train_mlp(x_train, y_train, hidden={hidden}, seed={seed})"
                     + ("" if own else " on the grader's Tensor")):
            params = train_mlp(given(X_train), given(y_train), hidden=hidden, seed=seed)
        seconds = time.perf_counter() - start
    W = read_params(params, hidden)
    if calls[0] == 0:
        raise EngineFailed("train_mlp never called backward() on a Tensor: every gradient must come from the engine.")
    if not all(np.all(np.isfinite(w)) for w in W):
        raise EngineFailed("the weights train_mlp returned contain NaN or inf: the steps were too large "
                           "(a learning rate, or a loss summed where a mean belongs).")
    result = accuracy(W, X_test, y_test)
    if own and seconds > time_limit:  # the speed of the student's engine; the grader's is not theirs to answer for
        raise EngineFailed(f"train_mlp took {seconds:.1f} s; it must finish within {time_limit:.0f} s.")
    if not result >= min_accuracy:
        raise EngineFailed(f"test accuracy {result:.3f} after {calls[0]} backward passes and {seconds:.1f} s; "
                           f"needed {min_accuracy}. Look at the loss (a mean over the batch), the step "
                           "(p.data -= lr * p.grad), and zeroing each .grad before every backward pass.")
    print(f"seed {seed}, hidden={hidden}: test accuracy {result:.3f} (needed {min_accuracy}), "
          f"{calls[0]} backward passes in {seconds:.1f} s on {'your' if own else 'the grader’s'} Tensor")
