"""Chapter 3's backward passes cost like a backward (autograde/cost.py): each layer's backward is
timed against its own forward on a batch of several thousand entries, where perturbing every input
and weight would take thousands of forward passes. Hidden tests only: the values are checked in
layers.py and every_intermediate.py."""
import functools

import numpy as np

from ...cost import check_costs_like_a_backward
from ...guard import by_hand, by_hand_on_copies
from ...reference import randn
from .every_intermediate import three_layer_inputs


def check_layer_cost(layer, name, x, dy, entries):
    """A built layer's backward(dy) against its forward(x); the forward runs first, as in training."""
    by_hand_on_copies(layer.forward, x)
    check_costs_like_a_backward(f"{name}.backward", entries=entries,
                                forward=lambda: by_hand_on_copies(layer.forward, x),
                                backward=lambda: by_hand_on_copies(layer.backward, dy))


def check_linear_cost(Linear, seed=0, n=80, d_in=64, d_out=48):
    layer = by_hand(Linear, d_in, d_out, np.random.default_rng(seed))
    x, dy = randn(seed + 1, n, d_in), randn(seed + 2, n, d_out)
    check_layer_cost(layer, "Linear", x, dy, entries=x.size + d_in * d_out + d_out)


def check_activation_cost(Activation, seed=0, shape=(50, 100)):
    """For ReLU, Sigmoid and Tanh (no zero inputs: only the cost is in question here)."""
    x, dy = randn(seed, *shape, scale=2.0), randn(seed + 1, *shape)
    check_layer_cost(by_hand(Activation), getattr(Activation, "__name__", "the activation"), x, dy, entries=x.size)


def check_softmax_cross_entropy_cost(SoftmaxCrossEntropy, seed=0, n=100, k=40):
    logits = randn(seed, n, k, scale=3.0)
    target = np.random.default_rng(seed + 1).integers(0, k, size=n)
    loss_fn = by_hand(SoftmaxCrossEntropy)
    by_hand_on_copies(loss_fn.forward, logits, target)
    check_costs_like_a_backward("SoftmaxCrossEntropy.backward", entries=logits.size,
                                forward=lambda: by_hand_on_copies(loss_fn.forward, logits, target),
                                backward=lambda: by_hand(loss_fn.backward))


def check_every_intermediate_cost(forward, manual_backward, seed=0, N=32, D=32, H1=16, H2=16, K=10, lam=1e-3):
    inputs = three_layer_inputs(seed, N, D, H1, H2, K)
    run_forward = functools.partial(by_hand_on_copies, functools.partial(forward, lam=lam), *inputs.values())
    _, cache = run_forward()
    entries = sum(np.size(value) for name, value in inputs.items() if name != "y")
    check_costs_like_a_backward("manual_backward", entries=entries, forward=run_forward,
                                backward=lambda: by_hand_on_copies(manual_backward, cache))


def check_network_cost(model, loss_fn, X, y):
    """The student's whole network, one training step's backward against its forward, before it
    trains: a network whose layers differentiate numerically would take minutes to train."""
    def forward():
        return by_hand_on_copies(loss_fn.forward, by_hand_on_copies(model.forward, X), y)

    def backward():
        by_hand_on_copies(model.backward, by_hand(loss_fn.backward))

    forward()
    check_costs_like_a_backward("your network's backward pass (model.backward)", entries=X.size,
                                forward=forward, backward=backward)
