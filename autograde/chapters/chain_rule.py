"""Checks for chapter 1 (scalar chain rule). Each builds the same computation in torch, lets
autograd differentiate it in float64, and compares with the student's hand-written gradient.

Every reference is computed before any student code runs, and students get copies of the
inputs, so a function that changes its arguments in place cannot corrupt the reference.
Student code, forward passes included, runs with autograd blocked.
"""
from itertools import combinations

import numpy as np
import torch
import torch.nn.functional as F

from ..check import GradientMismatch, Mistake, check_gradient, check_value
from ..cost import check_costs_like_a_backward
from ..guard import by_hand_on_copies as call
from ..reference import randn, torch_grads


def expect_sequence(name, value, length):
    if not isinstance(value, (list, tuple, np.ndarray, torch.Tensor)) or len(value) != length:
        size = f" of length {len(value)}" if hasattr(value, "__len__") else ""
        raise GradientMismatch(
            f"{name} should return one gradient per input ({length} in a list or tuple), "
            f"got {type(value).__name__}{size}."
        )
    return value


# --- 1. a tape of compute nodes ------------------------------------------------------------

def check_tape(Multiply, Square, seed, shape=(3,)):
    """g(f(x, y)) = (x*y)**2 through two nodes, then two Multiply nodes alive at once."""
    x, y, v = randn(seed, *shape), randn(seed + 1, *shape), randn(seed + 2, *shape)
    ref = torch_grads(lambda x, y: (x * y) ** 2, dict(x=x, y=y), upstream=v)
    f_node, g_node = Multiply(), Square()
    f = call(f_node.forward, [x, y])
    check_value("Multiply().forward([x, y])", f, x * y)
    g = call(g_node.forward, [f])
    check_value("Square().forward([h])", g, (x * y) ** 2)
    (dh,) = expect_sequence("Square.backward", call(g_node.backward, v), 1)
    dx, dy = expect_sequence("Multiply.backward", call(f_node.backward, dh), 2)
    check_gradient("dx (through Square then Multiply)", dx, ref["x"])
    check_gradient("dy (through Square then Multiply)", dy, ref["y"])
    check_two_nodes_of_one_kind(Multiply, seed)


def check_two_nodes_of_one_kind(Multiply, seed):
    """Two Multiply nodes in one graph: each must remember its own inputs."""
    a, b, c, d = (randn(seed + i, 2) for i in range(4))
    first, second = Multiply(), Multiply()
    call(first.forward, [a, b])
    call(second.forward, [c, d])
    da, db = expect_sequence("Multiply.backward", call(first.backward, np.ones(2)), 2)
    shared = (
        "the first node used the second node's inputs: store a node's inputs on the instance "
        "(self.inputs = ...), not on the class or in a global, so two nodes of one kind "
        "do not overwrite each other."
    )
    check_gradient("first Multiply node's dx", da, b, known_mistakes={shared: d})
    check_gradient("first Multiply node's dy", db, a, known_mistakes={shared: c})


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
            ] = Mistake(grads[variable], "fork_overwritten")
    return mistakes


def check_staged(staged_forward, staged_backward, x, y):
    x, y = np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)
    with torch.no_grad():
        expected_f = f_torch(torch.as_tensor(x), torch.as_tensor(y)).numpy()
    ref = torch_grads(lambda x, y: f_torch(x, y).sum(), dict(x=x, y=y))
    swapped = "dx and dy are swapped: staged_backward returns them in the order (dx, dy)."
    mistakes_x = {swapped: ref["y"], **fork_mistakes(x, y, "x", USES_OF_X)}
    mistakes_y = {swapped: ref["x"], **fork_mistakes(x, y, "y", USES_OF_Y)}

    f, cache = call(staged_forward, x, y)
    check_value("f", f, expected_f)
    dx, dy = expect_sequence("staged_backward", call(staged_backward, cache), 2)
    if x.ndim and np.shares_memory(np.asarray(dx), np.asarray(dy)):
        raise GradientMismatch(
            "dx and dy are the same array in memory, so every `+=` to one also changed the other. "
            "Start each from its own value (dx = 0.0, dy = 0.0) before accumulating."
        )
    check_gradient("dx", dx, ref["x"], known_mistakes=mistakes_x)
    check_gradient("dy", dy, ref["y"], known_mistakes=mistakes_y)


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
    with torch.no_grad():
        tensors = {n: torch.as_tensor(v) for n, v in inputs.items()}
        expected_loss = conv_net_torch(**tensors).item()
        flipped_loss = conv_net_torch(**{**tensors, "w1": tensors["w1"].flip(0, 1)}).item()
    ref = torch_grads(conv_net_torch, inputs)
    flipped = {
        "the kernel is flipped: that is a true convolution, but this network (like torch's conv2d) "
        "uses cross-correlation, z1[i, j] = sum over a, b of x[i+a, j+b] * w1[a, b].": flipped_loss
    } if k > 1 else {}

    loss, cache = call(conv_net_forward, *inputs.values())
    check_value("loss", loss, expected_loss, batch_size=outputs, known_mistakes=flipped)
    dx, dw1, dw2 = expect_sequence("conv_net_backward", call(conv_net_backward, cache), 3)
    check_gradient("dw2", dw2, ref["w2"])
    check_gradient("dw1", dw1, ref["w1"])
    check_gradient("dx", dx, ref["x"])


# --- 4. vector-Jacobian products ---------------------------------------------------------------

def check_quadratic_form_grad(quadratic_form_grad, seed, n, column=False, v=1.0):
    shape = (n, 1) if column else (n,)
    x, W = randn(seed, *shape), randn(seed + 1, n, n)  # W is not symmetric
    ref = torch_grads(lambda x, W: v * (x.reshape(-1) @ W @ x.reshape(-1)), dict(x=x, W=W))["x"]
    flat = x.reshape(-1)
    one_side = ("this is {} alone: x^T W x uses x in two places, left and right of W, and its gradient has "
                "one term per place (the product rule); this is the term of only one of them.")
    mistakes = {
        "this is 2 W x, right only for a symmetric W (the tests use one that is not): the two places x "
        "appears in x^T W x give two different terms unless W equals its transpose.": (2 * v * W @ flat).reshape(shape),
        one_side.format("W x"): (v * W @ flat).reshape(shape),
        one_side.format("W^T x"): (v * W.T @ flat).reshape(shape),
    }
    got = call(quadratic_form_grad, x, W, v)
    check_gradient("quadratic_form_grad", got, ref, known_mistakes=mistakes)


def check_matvec_vjp(matvec_vjp, seed, m, n):
    W, x, v = randn(seed, m, n), randn(seed + 1, n), randn(seed + 2, m)
    ref = torch_grads(lambda x: torch.as_tensor(W) @ x, dict(x=x), upstream=v)["x"]
    # The classic slip: J where J^T belongs. Only a square W lets it through the shape check.
    mistakes = {
        "this is the Jacobian times v, the Jacobian used where its transpose belongs: y.backward(v) computes "
        "a vector-Jacobian product, v multiplied by the Jacobian from the other side (a sum over the outputs "
        "i, not over the inputs). With a square W both have the right shape; only the values tell them "
        "apart.": Mistake(W @ v, "transposed"),
    } if m == n else {}
    got = call(matvec_vjp, W, v)
    check_gradient("matvec_vjp", got, ref, known_mistakes=mistakes)


def check_broadcast_add_vjp(broadcast_add_vjp, seed, m, n):
    v, A = randn(seed, m, n), randn(seed + 1, m, n)
    ref = torch_grads(lambda b: torch.as_tensor(A) + b, dict(b=randn(seed + 2, n)), upstream=v)["b"]
    got = call(broadcast_add_vjp, v)
    if m != n and np.shape(got) == (m,):
        raise GradientMismatch(
            f"broadcast_add_vjp has shape ({m},), expected ({n},): it was summed over the wrong axis. "
            "b is repeated down the rows: sum over the axis along which it was repeated.",
            cause="broadcast_not_summed",
        )
    check_gradient("broadcast_add_vjp", got, ref, batch_size=m)


# --- 5. each backward costs like a backward --------------------------------------------------------
# On inputs of a few hundred to a few thousand entries, where perturbing every input would take
# hundreds of forward passes (autograde/cost.py). Hidden tests only: the values are checked above.

def check_conv_net_cost(conv_net_forward, conv_net_backward, seed=0, size=14, k=3):
    outputs = (size - k + 1) ** 2
    x, w1 = randn(seed, size, size), randn(seed + 1, k, k, scale=0.5)
    w2, y = randn(seed + 2, outputs), np.sign(randn(seed + 3, outputs))
    _, cache = call(conv_net_forward, x, w1, w2, y)
    check_costs_like_a_backward("conv_net_backward", entries=x.size + w1.size + w2.size,
                                forward=lambda: call(conv_net_forward, x, w1, w2, y),
                                backward=lambda: call(conv_net_backward, cache))


def check_quadratic_form_grad_cost(quadratic_form_grad, seed=0, n=1000):
    x, W = randn(seed, n), randn(seed + 1, n, n)
    # 8 MB of W go to the student's kernel and back under the trusted checker: a larger floor
    # (perturbing the 1,000 entries takes over a second)
    check_costs_like_a_backward("quadratic_form_grad", entries=n, forward=lambda: x @ W @ x,
                                backward=lambda: call(quadratic_form_grad, x, W, 1.0), floor=0.3)


def check_matvec_vjp_cost(matvec_vjp, seed=0, m=20, n=10000):
    W, x, v = randn(seed, m, n), randn(seed + 1, n), randn(seed + 2, m)
    check_costs_like_a_backward("matvec_vjp", entries=n, forward=lambda: W @ x,
                                backward=lambda: call(matvec_vjp, W, v))


def check_broadcast_add_vjp_cost(broadcast_add_vjp, seed=0, m=100, n=2000):
    A, b, v = randn(seed, m, n), randn(seed + 1, n), randn(seed + 2, m, n)
    check_costs_like_a_backward("broadcast_add_vjp", entries=n, forward=lambda: A + b,
                                backward=lambda: call(broadcast_add_vjp, v))
