"""Chapter 6's backward passes cost like a backward (autograde/cost.py): each is timed against the
student's own forward on an input of 16,384 entries, where a central-difference gradient would need
32,768 forward passes. Hidden tests only: the values are checked in norms.py."""
from ...cost import check_costs_like_a_backward
from ...guard import by_hand_on_copies
from ...reference import randn


def check_cost(what, forward, backward, shape=(512, 32), with_beta=True, seed=0):
    x = randn(seed, *shape)
    params = [1.0 + randn(seed + 1, shape[-1], scale=0.3)] + ([randn(seed + 2, shape[-1])] if with_beta else [])
    dy = randn(seed + 3, *shape)
    _, cache = by_hand_on_copies(forward, x, *params)
    check_costs_like_a_backward(what, entries=x.size + sum(p.size for p in params),
                                forward=lambda: by_hand_on_copies(forward, x, *params),
                                backward=lambda: by_hand_on_copies(backward, dy, cache))


def check_batchnorm_cost(forward, backward):
    check_cost("batchnorm_backward", forward, backward)


def check_layernorm_cost(forward, backward):
    check_cost("layernorm_backward", forward, backward, shape=(16, 32, 32))


def check_rmsnorm_cost(forward, backward):
    check_cost("rmsnorm_backward", forward, backward, shape=(16, 32, 32), with_beta=False)


def check_every_intermediate_cost(forward_steps, backward_steps):
    x, gamma, beta = randn(0, 512, 32), 1.0 + randn(1, 32, scale=0.3), randn(2, 32)
    dy = randn(3, 512, 32)
    cache = by_hand_on_copies(forward_steps, x, gamma, beta, 1e-5)
    check_costs_like_a_backward("batchnorm_backward_steps", entries=x.size + 64,
                                forward=lambda: by_hand_on_copies(forward_steps, x, gamma, beta, 1e-5),
                                backward=lambda: by_hand_on_copies(backward_steps, dy, cache))
