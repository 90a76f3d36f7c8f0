"""Chapter 6, exercise 2: batch norm's backward through every intermediate of the written-out
forward pass, one row (and a share of the points) each. References and known mistakes are autograd
of the forward (a slip is the gradient of a forward with that path cut)."""
import torch

from ...guard import by_hand_on_copies
from ...reference import randn, retained_grads
from ...table import compare_all
from . import torch_forwards as tf

# from the output back to the input, as the student goes
INTERMEDIATES = ("beta", "gamma", "z", "inv_std", "std", "var", "squared", "centered", "mu", "x")


def step_inputs(seed, N, D):
    return dict(x=randn(seed, N, D, scale=2.0) + 1.0, gamma=1.0 + randn(seed + 1, D, scale=0.3),
                beta=randn(seed + 2, D, scale=0.5))


def traced(inputs, dy, eps, cut=None):
    """values and gradients of every step, the loss being sum(y * dy); `cut` names a step whose
    value autograd treats as a constant where it is used (its path forgotten)."""
    w = torch.as_tensor(dy)

    def loss_of(x, gamma, beta):
        named = tf.steps(x, gamma, beta, eps) if cut is None else cut_steps(x, gamma, beta, eps, cut)
        return {**named, "loss": (named["y"] * w).sum()}
    return retained_grads(loss_of, inputs)


def cut_steps(x, gamma, beta, eps, cut):
    N = x.shape[0]
    mu = x.sum(0, keepdim=True) / N
    centered = x - (mu.detach() if cut == "mu" else mu)
    squared = centered ** 2
    var = squared.sum(0, keepdim=True) / N
    std = torch.sqrt((var.detach() if cut == "var" else var) + eps)
    inv_std = 1.0 / std
    z = (centered.detach() if cut == "centered_in_z" else centered) * inv_std
    y = gamma * z + beta
    return dict(mu=mu, centered=centered, squared=squared, var=var, std=std, inv_std=inv_std, z=z, y=y)


SLIPS = {
    "centered": ("centered is used twice (in z and, squared, in the variance): its gradient is the sum of "
                 "the gradients along both paths; only one of them arrived.", ("var", "centered_in_z")),
    "x": ("x is used twice (directly in centered and through mu): its gradient is the sum of the shares "
          "along both paths; the path through mu is missing.", ("mu",)),
}


def check_every_intermediate(forward_steps, backward_steps, seed, N, D, eps=1e-5):
    """Returns a Report: each named gradient against autograd."""
    inputs = step_inputs(seed, N, D)
    dy = randn(seed + 3, N, D)
    _, grads = traced(inputs, dy, eps)
    mistakes = {}
    for name, (description, cuts) in SLIPS.items():
        mistakes[name] = {f"{description} ({i + 1})": value
                          for i, value in enumerate(traced(inputs, dy, eps, cut)[1][name] for cut in cuts)}
    cache = by_hand_on_copies(forward_steps, inputs["x"], inputs["gamma"], inputs["beta"], eps)
    got = by_hand_on_copies(backward_steps, dy, cache)
    return compare_all(got, {name: grads[name] for name in INTERMEDIATES}, batch_size=N, known_mistakes=mistakes)
