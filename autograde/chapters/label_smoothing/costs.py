"""Chapter 4's backward exercises cost like a backward (autograde/cost.py), timed against a numpy
forward pass of their own computation on inputs of thousands of entries, where perturbing every
entry would take thousands of forward passes. Hidden tests only: the values are checked in
exercises.py. The hypergradients are exempt: alpha is one number, and one number's derivative
by differences costs two forward passes, as the notebook itself shows."""
import numpy as np

from ...cost import check_costs_like_a_backward
from ...reference import randn
from .inputs import decent_logits, make_batch, make_params
from .references import call, make_cache


def smoothed_nll(logits, target, alpha):
    K = logits.shape[1]
    q = np.where(np.arange(K) == target[:, None], 1 - alpha, alpha / (K - 1))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -(q * log_p).sum() / len(logits)


def check_smoothed_nll_grad_cost(smoothed_nll_grad, seed=0, N=100, K=40, alpha=0.1, namespace=None):
    logits, target = decent_logits(seed, N, K)
    check_costs_like_a_backward(
        "smoothed_nll_grad", entries=logits.size, forward=lambda: smoothed_nll(logits, target, alpha),
        backward=lambda: call(smoothed_nll_grad, logits, target, alpha, namespace=namespace,
                              own=("smoothed_nll_grad",)))


def check_network_backward_cost(network_backward, seed=0, N=64, K=10, D=64, H=32, namespace=None):
    params = make_params(seed, D, H, K)
    x, y = make_batch(seed + 1, N, D, K)
    cache, dg = make_cache(params, x, y, 0.1), randn(seed + 7, N, K)

    def forward():
        hidden = np.maximum(x @ params["W0"].T + params["b0"], 0)
        return hidden @ params["W1"].T + params["b1"]

    check_costs_like_a_backward(
        "network_backward", entries=x.size + sum(p.size for p in params.values()), forward=forward,
        backward=lambda: call(network_backward, cache, dg, namespace=namespace, own=("network_backward",)))
