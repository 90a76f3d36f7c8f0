"""Chapter 2, exercises 1 to 3: softmax and log-softmax, NLL and cross-entropy (the library versions
refused), and the gradient of cross-entropy."""
import numpy as np

from ...arrays import as_float64
from ...check import GradientMismatch, Mistake, check_value
from .checking import FLOAT32_FLOOR, compare, compare_forward, for_inputs, loss_number, run
from .inputs import examples, logits, targets
from .mistakes import (divisor_mistakes, loss_mistakes, onehot, pick, softmax_over, unstable_log_softmaxes,
                       unstable_softmaxes, wrong_axis)
from .references import (cross_entropy_grad_reference, cross_entropy_reference, log_softmax_reference,
                         nll_reference, softmax_reference)

# --- 1. softmax and log-softmax -------------------------------------------------------------------

def check_softmax(softmax, z):
    z = np.asarray(z, dtype=np.float64)
    expected = softmax_reference(z)
    mistakes = wrong_axis("softmax", z, lambda p: p)
    unstable = unstable_softmaxes(z)
    with for_inputs(z=z):
        got = run(softmax, z, write_yourself=True)
        try:
            compare_forward("softmax(z)", got, expected, z, unstable=unstable, known_mistakes=mistakes)
        except GradientMismatch as exc:
            raise GradientMismatch(f"{exc}{_sum_to_one_note(as_float64(got), expected)}") from None


def _sum_to_one_note(got, expected):
    if got.shape != expected.shape or not np.isfinite(got).all():
        return ""
    sums = got.sum(axis=-1)
    if np.allclose(sums, 1, atol=1e-4):
        return ""
    return f"\n  Its sums over the last axis are {np.array2string(sums, precision=4)}; each example's must be 1."


def check_log_softmax(log_softmax, z):
    z = np.asarray(z, dtype=np.float64)
    expected = log_softmax_reference(z)
    mistakes = wrong_axis("log_softmax", z, np.log)
    m = z.max(axis=-1, keepdims=True)
    mistakes[
        "the max m was subtracted inside the exp but not from z: "
        "log_softmax(z) = (z - m) - log(sum(exp(z - m)))."
    ] = expected + m
    mistakes["z - m alone: the - log(sum(exp(z - m))) term is missing."] = z - m
    unstable = unstable_log_softmaxes(z)
    with for_inputs(z=z):
        got = run(log_softmax, z, write_yourself=True)
        compare_forward("log_softmax(z)", got, expected, z, unstable=unstable, known_mistakes=mistakes)


# --- 2. NLL and cross-entropy ----------------------------------------------------------------------

def check_nll_loss(nll_loss, seed, shape):
    K, N = shape[-1], int(np.prod(shape[:-1], dtype=np.int64))
    logp = log_softmax_reference(logits(seed, *shape))
    target = targets(seed + 1, shape[:-1], K)
    expected = nll_reference(logp, target)
    mistakes = loss_mistakes(-pick(logp, target), shape)
    if logp.ndim == 2 and N > 1:
        mistakes[
            "logp[:, target] picks every target for every example (an N x N block); index the "
            "examples and their targets together, e.g. logp[np.arange(N), target]."
        ] = -logp[:, target].mean()
    name = "nll_loss(logp, target)"
    with for_inputs(logp=logp, target=target):
        got = loss_number(run(nll_loss, logp, target, write_yourself=True), name, N)
        check_value(name, got, expected, known_mistakes=mistakes)


def check_cross_entropy(cross_entropy, z, target):
    z = np.asarray(z, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    N = examples(z)
    expected = cross_entropy_reference(z, target)
    mistakes = loss_mistakes(-pick(log_softmax_reference(z), target), z.shape)
    mistakes.update(wrong_axis("softmax", z, lambda p: -pick(np.log(p), target).mean()))
    m = z.max(axis=-1)
    mistakes[
        "the log(sum(exp(z - m))) term is missing: one example's loss is "
        "m + log(sum(exp(z - m))) - z[target], with m its max logit."
    ] = np.mean(m - pick(z, target))
    with np.errstate(all="ignore"):
        unstable = [(cause, -pick(logp, target).mean()) for cause, logp in unstable_log_softmaxes(z)]
    name = "cross_entropy(z, target)"
    with for_inputs(z=z, target=target):
        got = loss_number(run(cross_entropy, z, target, write_yourself=True), name, N)
        # A loss is a difference of terms as large as the logits: float32 keeps ~1e-7 of max|z|.
        compare(name, got, expected, z, unstable=unstable, known_mistakes=mistakes,
                floor=FLOAT32_FLOOR * max(1.0, float(np.max(np.abs(z)))))


# --- 3. the gradient of cross-entropy ---------------------------------------------------------------

def check_cross_entropy_grad(cross_entropy_grad, z, target):
    z = np.asarray(z, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    K, N = z.shape[-1], examples(z)
    expected = cross_entropy_grad_reference(z, target)
    p, y = softmax_over(z, -1), onehot(target, K)
    mistakes = {
        f"N = {N} times too large: the 1/N of the mean is missing. L averages over the {N} examples, "
        "and the mean's 1/N carries into the gradient of every logit.": Mistake(p - y, "missing_1_over_n"),
        "the target's direct part is missing: -log p_y depends on z_y twice, through the normaliser "
        "(as every logit does) and directly, as the logit of the target itself.": p / N,
        "both the target's direct part and the 1/N of the mean are missing: -log p_y also depends on "
        "z_y directly, and L is a mean over the examples.": p,
    }
    mistakes.update(divisor_mistakes(lambda d: (p - y) / d, z.shape))
    mistakes[f"divided by N*K = {N * K} (the number of entries) instead of N = {N} (the number of "
             "examples)."] = (p - y) / (N * K)
    mistakes.update(wrong_axis("softmax", z, lambda q: (q - y) / N))
    unstable = [(cause, (q - y) / N) for cause, q in unstable_softmaxes(z)]
    name = "cross_entropy_grad(z, target)"
    with for_inputs(z=z, target=target):
        got = run(cross_entropy_grad, z, target)
        # softmax(z) - onehot subtracts numbers near 1/N: float32 keeps ~1e-7 / N of each entry.
        compare(name, got, expected, z, unstable=unstable, known_mistakes=mistakes, batch_size=N,
                floor=FLOAT32_FLOOR / N)
