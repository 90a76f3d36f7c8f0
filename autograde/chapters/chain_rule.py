"""Checks for chapter 1 (scalar chain rule). Each builds the same computation in torch, lets
autograd differentiate it in float64, and compares with the student's hand-written gradient."""
from itertools import combinations

import numpy as np
import torch
import torch.nn.functional as F

from ..check import GradientMismatch, check_gradient, check_value
from ..guard import by_hand
from ..reference import randn, torch_grads


def expect_sequence(name, value, length):
    if not isinstance(value, (list, tuple, np.ndarray)) or len(value) != length:
        raise GradientMismatch(
            f"{name} should return a list with one gradient per input ({length}), "
            f"got {type(value).__name__}{'' if not hasattr(value, '__len__') else f' of length {len(value)}'}."
        )
    return value


# --- 1. a tape of compute nodes ------------------------------------------------------------

def check_tape(Multiply, Square, seed, shape=(3,)):
    """g(f(x, y)) = (x*y)**2 through two nodes, then two Multiply nodes alive at once."""
    x, y, v = randn(seed, *shape), randn(seed + 1, *shape), randn(seed + 2, *shape)
    f_node, g_node = Multiply(), Square()
    f = f_node.forward([x, y])
    check_value("Multiply().forward([x, y])", f, x * y)
    g = g_node.forward([f])
    check_value("Square().forward([h])", g, (x * y) ** 2)
    (dh,) = expect_sequence("Square.backward", by_hand(g_node.backward, v), 1)
    dx, dy = expect_sequence("Multiply.backward", by_hand(f_node.backward, dh), 2)
    ref = torch_grads(lambda x, y: (x * y) ** 2, dict(x=x, y=y), upstream=v)
    check_gradient("dx (through Square then Multiply)", dx, ref["x"])
    check_gradient("dy (through Square then Multiply)", dy, ref["y"])
    check_two_nodes_of_one_kind(Multiply, seed)


def check_two_nodes_of_one_kind(Multiply, seed):
    """Two Multiply nodes in one graph: each must remember its own inputs."""
    a, b, c, d = (randn(seed + i, 2) for i in range(4))
    first, second = Multiply(), Multiply()
    first.forward([a, b])
    second.forward([c, d])
    da, db = expect_sequence("Multiply.backward", by_hand(first.backward, np.ones(2)), 2)
    mistake = {
        "the first node used the second node's inputs: store a node's inputs on the instance "
        "(self.inputs = ...), not on the class or in a global, so two nodes of one kind "
        "do not overwrite each other.": d
    }
    check_gradient("first Multiply node's dx", da, b, known_mistakes=mistake)
    check_gradient("first Multiply node's dy", db, a, known_mistakes={next(iter(mistake)): c})


# --- 2. staged computation --------------------------------------------------------------------

USES_OF_X = ("num", "sigx", "xpy")
USES_OF_Y = ("sigy", "xpy")


def f_torch(x, y, keep=None):
    """f(x, y) = (x + sigmoid(y)) / (sigmoid(x) + (x + y)**2).

    keep: the uses of x and y whose gradient paths stay open; the others see a detached copy.
    Used to build the gradient a student gets when a `+=` at a fork became `=`.
    """
    def use(t, where):
        return t if keep is None or where in keep else t.detach()

    num = use(x, "num") + torch.sigmoid(use(y, "sigy"))
    den = torch.sigmoid(use(x, "sigx")) + (use(x, "xpy") + use(y, "xpy")) ** 2
    return num / den


def fork_mistakes(x, y, variable, uses):
    """{description: gradient} for every strict subset of `uses` a forgotten `+=` would keep."""
    mistakes = {}
    for size in range(1, len(uses)):
        for kept in combinations(uses, size):
            grads = torch_grads(lambda x, y: f_torch(x, y, keep=set(kept)).sum(), dict(x=x, y=y))
            mistakes[
                f"only the path(s) through {', '.join(kept)} reached d{variable}: {variable} is used in "
                f"{len(uses)} places ({', '.join(uses)}), and its gradient is the sum over all of them; "
                f"accumulate with `d{variable} += ...` instead of overwriting with `=`."
            ] = grads[variable]
    return mistakes


def check_staged(staged_forward, staged_backward, x, y):
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    f, cache = staged_forward(x, y)
    with torch.no_grad():
        expected_f = f_torch(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    check_value("f", f, expected_f)
    dx, dy = expect_sequence("staged_backward", by_hand(staged_backward, cache), 2)
    ref = torch_grads(lambda x, y: f_torch(x, y).sum(), dict(x=x, y=y))
    check_gradient("dx", dx, ref["x"], known_mistakes=fork_mistakes(x, y, "x", USES_OF_X))
    check_gradient("dy", dy, ref["y"], known_mistakes=fork_mistakes(x, y, "y", USES_OF_Y))


# --- 3. a tiny convolutional network ---------------------------------------------------------

def conv_net_torch(x, w1, w2, y):
    z1 = F.conv2d(x[None, None], w1[None, None])[0, 0].reshape(-1)  # valid cross-correlation
    a = torch.sigmoid(torch.tanh(z1) * w2)
    return 0.5 * ((a - y) ** 2).sum()


def check_conv_net(conv_net_forward, conv_net_backward, seed, H, W, k):
    outputs = (H - k + 1) * (W - k + 1)
    inputs = dict(
        x=randn(seed, H, W), w1=randn(seed + 1, k, k, scale=0.5),
        w2=randn(seed + 2, outputs), y=np.sign(randn(seed + 3, outputs)),
    )
    loss, cache = conv_net_forward(**inputs)
    with torch.no_grad():
        expected_loss = conv_net_torch(**{n: torch.as_tensor(v) for n, v in inputs.items()}).item()
    check_value("loss", loss, expected_loss)
    dx, dw1, dw2 = expect_sequence("conv_net_backward", by_hand(conv_net_backward, cache), 3)
    ref = torch_grads(conv_net_torch, inputs)
    check_gradient("dw2", dw2, ref["w2"])
    check_gradient("dw1", dw1, ref["w1"])
    check_gradient("dx", dx, ref["x"])


# --- 4. vector-Jacobian products ---------------------------------------------------------------

def check_quadratic_form_grad(quadratic_form_grad, seed, n, column=False, v=1.0):
    shape = (n, 1) if column else (n,)
    x, W = randn(seed, *shape), randn(seed + 1, n, n)  # W is not symmetric
    got = by_hand(quadratic_form_grad, x, W, v)
    ref = torch_grads(lambda x, W: v * (x.reshape(-1) @ W @ x.reshape(-1)), dict(x=x, W=W))["x"]
    mistake = {
        "this is 2 W x, right only for a symmetric W: x^T W x uses W from both sides, "
        "so the gradient is (W + W^T) x.": (2 * v * W @ x.reshape(-1)).reshape(shape)
    }
    check_gradient("quadratic_form_grad", got, ref, known_mistakes=mistake)


def check_matvec_vjp(matvec_vjp, seed, m, n):
    W, x, v = randn(seed, m, n), randn(seed + 1, n), randn(seed + 2, m)
    got = by_hand(matvec_vjp, W, v)
    ref = torch_grads(lambda x: torch.as_tensor(W) @ x, dict(x=x), upstream=v)["x"]
    mistakes = {"this is J v; y.backward(v) computes J^T v = W^T v.": W @ v} if m == n else {}
    check_gradient("matvec_vjp", got, ref, known_mistakes=mistakes)


def check_broadcast_add_vjp(broadcast_add_vjp, seed, m, n):
    v = randn(seed, m, n)
    A = randn(seed + 1, m, n)
    got = by_hand(broadcast_add_vjp, v)
    ref = torch_grads(lambda b: torch.as_tensor(A) + b, dict(b=randn(seed + 2, n)), upstream=v)["b"]
    check_gradient("broadcast_add_vjp", got, ref, batch_size=m)
