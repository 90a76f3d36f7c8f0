"""Chapter 2's backward exercises cost like a backward (autograde/cost.py): each is timed against a
forward pass of its own computation, on logits of a few thousand entries, where perturbing every
logit would take thousands of forward passes. Hidden tests only: the values are checked elsewhere."""
import numpy as np

from ...cost import check_costs_like_a_backward
from ...reference import randn
from .checking import run
from .inputs import logits, targets
from .mistakes import softmax_over

SHAPE = (100, 40)  # N examples, K classes: 4,000 logits


def check_cross_entropy_grad_cost(cross_entropy_grad, seed=0):
    z, target = logits(seed, *SHAPE), targets(seed + 1, SHAPE[:-1], SHAPE[-1])

    def forward():
        return -np.log(softmax_over(z, -1)[np.arange(SHAPE[0]), target]).mean()

    check_costs_like_a_backward("cross_entropy_grad", entries=z.size, forward=forward,
                                backward=lambda: run(cross_entropy_grad, z, target))


def check_vjp_cost(vjp, seed=0):
    """For softmax_vjp and log_softmax_vjp: the forward is the softmax of the same logits."""
    z, g = logits(seed, *SHAPE), randn(seed + 1, *SHAPE)
    check_costs_like_a_backward(getattr(vjp, "__name__", "the VJP"), entries=z.size,
                                forward=lambda: softmax_over(z, -1), backward=lambda: run(vjp, z, g))


def check_staged_cost(staged_forward, staged_backward, seed=0):
    z, y = logits(seed, *SHAPE, scale=2.0), targets(seed + 1, SHAPE[:-1], SHAPE[-1])
    forward = run(staged_forward, z, y)
    check_costs_like_a_backward("staged_backward", entries=z.size, forward=lambda: run(staged_forward, z, y),
                                backward=lambda: run(staged_backward, forward, y))
