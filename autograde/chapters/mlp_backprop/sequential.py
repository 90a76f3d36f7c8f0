"""Chapter 3, exercise 4: Sequential and sgd_step, checked with stand-in layers (not the student's)
so that this check depends on Sequential and sgd_step alone."""
import numpy as np

from ...check import GradientMismatch, check_gradient, check_value
from ...guard import by_hand, by_hand_on_copies
from ...reference import randn, torch_grads
from .answers import reject_grader_code


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
