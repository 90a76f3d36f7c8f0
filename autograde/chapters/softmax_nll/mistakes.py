"""The known mistakes of chapter 2, computed in numpy float64: what a softmax over the wrong axis,
an unstable softmax or log-softmax, a mean divided by something else than N, or a slip in the
staged backward pass gives. Each check names the one a wrong answer matches.
"""
import numpy as np

from ...check import Mistake

NAIVE = (
    "exp(z) without subtracting the max first: exp overflows to inf once z > 709 in float64 "
    "(z > 88 in float32), and inf / inf is nan; when all of an example's logits are below -745, "
    "every exp underflows to 0, and 0 / 0 is nan. Softmax does not change when the same number is "
    "subtracted from every logit, so subtract the max first: exp(z - z.max(axis=-1, keepdims=True))."
)
GLOBAL_MAX = (
    "every exp of an example underflowed to 0, and 0 / 0 is nan: the max subtracted was the max "
    "of the whole array, and this example's logits lie far below it (exp(-746) is 0 in float64). "
    "Subtract each example's own max: z.max(axis=-1, keepdims=True)."
)
LOG_OF_ZERO = (
    "log of a probability that underflowed to 0: exp(-746) is 0 in float64 and log(0) = -inf. "
    "Do not take log(softmax(z)); compute log_softmax(z) = (z - m) - log(sum(exp(z - m))) "
    "with m the max over the last axis."
)
KEEPDIMS = (
    "a sum or max over the last axis without keepdims=True drops that axis, so the result no "
    "longer lines up with z ((N,) against (N, K)). Keep it: z.max(axis=-1, keepdims=True), "
    "e.sum(axis=-1, keepdims=True)."
)


def softmax_over(z, axis):
    """Softmax over `axis` (None: over the whole array), computed stably."""
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def onehot(target, K):
    return np.eye(K)[target]


def pick(logp, target):
    """logp[..., target] for each example: shape of the batch."""
    return np.take_along_axis(logp, np.asarray(target)[..., None], axis=-1)[..., 0]


def wrong_axis(what, z, value_of):
    """{description: value} for `what` normalised over each axis but the last, or over everything."""
    mistakes = {}
    with np.errstate(all="ignore"):  # log(0) of a wrong answer is no reason to warn the student
        for axis in range(z.ndim - 1):
            mistakes[
                f"{what} over axis {axis} (a batch axis): the classes are on the last axis, so "
                "normalise with axis=-1 and keepdims=True; each example's probabilities must sum to 1."
            ] = value_of(softmax_over(z, axis))
        if z.ndim > 1:
            mistakes[
                f"{what} over the whole array (a sum with no axis): normalise each example over the "
                "last axis only, with axis=-1 and keepdims=True."
            ] = value_of(softmax_over(z, None))
        if z.ndim == 2 and z.shape[0] == z.shape[1]:  # elsewhere the same mistake raises a broadcast error
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            mistakes[f"{what}: {KEEPDIMS}"] = value_of(e / e.sum(axis=-1))
    return mistakes


def unstable_softmaxes(z):
    """[(cause, value)]: softmax as the unstable forms compute it, inf or nan where they fail."""
    with np.errstate(all="ignore"):
        e = np.exp(z)
        naive = e / e.sum(axis=-1, keepdims=True)
        e = np.exp(z - np.max(z))
        global_max = e / e.sum(axis=-1, keepdims=True)
    return [(NAIVE, naive), (GLOBAL_MAX, global_max)]


def unstable_log_softmaxes(z):
    """[(cause, value)]: log-softmax as the unstable forms compute it."""
    with np.errstate(all="ignore"):
        shifted = z - np.max(z)
        forms = [(LOG_OF_ZERO, np.log(softmax_over(z, -1))),
                 (NAIVE, z - np.log(np.exp(z).sum(axis=-1, keepdims=True))),
                 (GLOBAL_MAX, shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))]
        forms += [(cause, np.log(p)) for cause, p in unstable_softmaxes(z)]
    return forms


def divisor_mistakes(value_of, shape):
    """{description: value} for a mean divided by something else than N (value_of(d): the
    quantity divided by d instead of N), from the batch-shape confusions students make."""
    K, N = shape[-1], int(np.prod(shape[:-1], dtype=np.int64))
    mistakes = {}
    if len(shape) == 1:
        mistakes[
            f"divided by len(z) = z.shape[0] = K = {K}, the number of classes: a single vector is one "
            "example, N = 1 (N = z.size // K works for every batch shape)."
        ] = value_of(K)
    elif K != N:
        mistakes[f"divided by K = {K}, the number of classes, instead of N = {N}, the number of examples."] = (
            value_of(K))
    if len(shape) > 2 and shape[0] != N:
        mistakes[
            f"divided by z.shape[0] = {shape[0]}, the first batch axis only; N is the number of examples, "
            f"the product of the batch shape: z.size // K = {N}."
        ] = value_of(shape[0])
    return mistakes


def loss_mistakes(per_example, shape):
    """Reductions other than the mean over the N examples, from the per-example losses."""
    K, N = shape[-1], int(np.prod(shape[:-1], dtype=np.int64))
    mistakes = {}
    if N > 1:
        mistakes[f"this is the sum over the N={N} examples; the loss is their mean: divide by N."] = (
            per_example.sum())
    mistakes.update(divisor_mistakes(lambda d: per_example.sum() / d, shape))
    mistakes[
        f"this is a mean over all N*K = {N * K} entries (e.g. -(onehot * logp).mean()); average over "
        f"the N = {N} examples only: sum over the classes, then take the mean over the batch."
    ] = per_example.mean() / K
    return mistakes


def staged_softmax_mistakes(values, grads):
    """{stage: {description: wrong gradient}}: the local slips in the backward pass of the staged
    softmax (common.staged_softmax_torch), each given the right upstream gradient.
    values: the forward values h and j; grads: the right gradients of k, j and h."""
    dh_direct = grads["k"] / values["j"]  # the path through k = h / j alone
    return {
        "h": {
            "h is used twice, in k = h / j and in j = sum(h); its gradient is the sum of the gradients "
            "along both paths, and the path through j is missing.": Mistake(dh_direct, "fork_overwritten"),
        },
        "z": {
            "dz misses the path through j (see dh): h is used twice, in k = h / j and in j = sum(h).":
                Mistake(dh_direct * values["h"], "fork_overwritten"),
            "dz is dh itself: the local derivative of h = exp(z) is missing (what is the derivative "
            "of exp, and which value of the forward pass already holds it?).": grads["h"],
        },
        "j": {
            "dj has the wrong sign: k = h / j falls as j grows (differentiate 1/j).": -grads["j"],
        },
    }


def staged_mistakes(values, grads, y):
    """{stage: {description: value}}: local mistakes, each given the right upstream gradient."""
    mistakes = staged_softmax_mistakes(values, grads)
    if len(y) > 1:
        block = np.zeros_like(grads["l"])
        block[:, y] = grads["picked"]
        mistakes["l"] = {
            "dl[:, y] = ... sets every example's targets (an N x N block): each example's gradient "
            "belongs to its own target only (index the rows and the targets together).": block,
        }
    return mistakes
