"""Chapter 3, exercise 6: the gradient of every named intermediate of a three-layer network with an
L2 penalty, one row (and a share of the points) each."""
import copy
import functools

import numpy as np
import torch

from ...check import check_value
from ...guard import by_hand, by_hand_on_copies
from ...reference import randn, retained_grads
from ...table import compare_all


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
            f"the L2 penalty's gradient is missing: {W} is used twice (in its layer and in the penalty), "
            f"so d{W} is the sum of the gradients along both paths.": grads[W] - 2 * lam * inputs[W],
            f"the penalty's part of d{W} is half what it should be: differentiate lam * w**2 by w.":
                grads[W] - lam * inputs[W],
        }
    n = len(inputs["y"])
    mistakes["logprobs"] = {
        "dlogprobs is nonzero for every class: only the target class's log-probability enters the "
        "loss, so the other classes' log-probabilities get no gradient.": -np.ones_like(grads["logprobs"]) / n,
    }
    mistakes["counts"] = {
        "only the path through probs reached counts: counts is also summed into counts_sum, and the "
        "gradient along that path is missing.": grads["probs"] * values["counts_sum_inv"],
        "only the path through counts_sum reached counts: the gradient along the path through probs "
        "is missing.": np.broadcast_to(grads["counts_sum"], grads["counts"].shape),
    }
    mistakes["h2_preact"] = {
        "a factor of sigmoid's local gradient is missing (write sigmoid's derivative with its output "
        "h2).": grads["h2"] * values["h2"],
    }
    mistakes["h1_preact"] = {
        "the ReLU gate is missing: no gradient flows back where ReLU was flat.": grads["h1"],
    }
    return mistakes


def check_every_intermediate(forward, manual_backward, seed, N, D, H1, H2, K, lam):
    """The gradient of every named intermediate and parameter; returns a Report (partial credit)."""
    inputs = three_layer_inputs(seed, N, D, H1, H2, K)
    values, grads = retained_grads(functools.partial(three_layer_torch, lam=lam), inputs)
    mistakes = every_intermediate_mistakes(inputs, values, grads, lam)
    expected = {name: grads[name] for name in INTERMEDIATES}

    loss, cache = by_hand(forward, **copy.deepcopy(inputs), lam=lam)
    check_value("loss of the forward pass", loss, values["loss"])
    got = by_hand_on_copies(manual_backward, cache)
    report = compare_all(got, expected, batch_size=N, known_mistakes=mistakes)
    return with_key_hint(report, got)


def with_key_hint(report, got):
    """If the dict used keys like 'dlogprobs', say so on every missing row."""
    if not isinstance(got, dict):
        return report
    for row in report.rows:
        if row.status == "missing" and f"d{row.name}" in got:
            row.message += f" (the dict has 'd{row.name}': key each gradient by the variable's own name, '{row.name}'.)"
    return report
