"""Checks for chapter 2 (softmax, log-softmax, NLL, cross-entropy and their gradients).

Conventions, as in the notebook: the class axis is the LAST axis, of length K; every axis before
it is the batch, of any shape ((), (N,), (B, T), ...). N is the number of examples, the product of
the batch shape, and the losses are MEANS over them (torch's reduction="mean"). Targets are
integers in [0, K) with the batch shape. Every reference is torch in float64.

Every reference and every known-mistake value is computed before any student code runs, and
student code gets copies of its inputs and runs with autograd blocked (chapter 1's `call`),
forward passes included. Exercises 1 and 2 ask the student to write softmax, log-softmax, NLL
and cross-entropy, so there the library versions are blocked as well.
"""
import contextlib
import importlib
import tracemalloc
from unittest.mock import patch

import numpy as np
import torch
import torch.nn.functional as F

from ..arrays import as_float64, is_low_precision
from ..check import HIGH_PRECISION, LOW_PRECISION, GradientMismatch, check_gradient, check_value
from ..reference import randn, retained_grads, torch_grads
from ..table import compare_all
from ..table import every_case  # noqa: F401 (the notebook calls grader.every_case)
from ..guard import by_hand_on_copies as call
from .common import one_number, staged_softmax_mistakes

# Tolerances are the core's, by the precision of the answer (check.py), with one addition: a
# float32 computation that subtracts numbers of size ~1 (p - 1, p - p**2, g - <g, p>) keeps only
# ~1e-7 absolute accuracy however small the result, so this much absolute error is always allowed
# (scaled per check). Whatever the answer's dtype: a float32 result cast to float64, or returned as
# a Python float, carries the same error and no longer shows where it came from.
FLOAT32_FLOOR = 1e-6

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


# --- inputs ------------------------------------------------------------------------------------

def logits(seed, *shape, scale=3.0):
    """Random logits of the given shape (classes on the last axis)."""
    return randn(seed, *shape, scale=scale)


def targets(seed, batch_shape, K):
    """Random integer targets in [0, K) with the batch shape (a 0-d array for one example)."""
    return np.asarray(np.random.default_rng(seed).integers(0, K, size=tuple(batch_shape)), dtype=np.int64)


def extreme_logits(seed):
    """Logits far outside exp's range (|z| up to 1e4): a naive softmax gives nan or -inf here.

    All are integers, exact in float32 too, so a float32 answer is judged on its arithmetic and
    not on rounding its input (near 1e4 a float32 step is 1e-3, which moves a probability ~1e-3).
    """
    return [
        np.array([1000.0, 1001.0, 1002.0]),
        np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]),
        np.array([[-800.0, 0.0, 800.0], [0.0, -800.0, -1.0]]),
        np.round(randn(seed, 2, 3, 4, scale=1e4)),
    ]


def examples(z):
    """N, the number of examples in a batch of logits (1 for a single vector)."""
    return int(np.prod(np.shape(z)[:-1], dtype=np.int64))


# --- running student code --------------------------------------------------------------------------

class LibraryCalled(AssertionError):
    """Student code called a library's softmax, log-softmax, NLL or cross-entropy."""


WRITE_YOURSELF = ("softmax", "log_softmax", "nll_loss", "cross_entropy")


@contextlib.contextmanager
def no_library(what):
    """Make torch's and scipy's versions of WRITE_YOURSELF raise LibraryCalled.

    Catches every call that looks the function up at call time (torch.softmax, F.cross_entropy,
    t.softmax(-1), nn.Softmax, scipy.special.softmax); a name imported before the check runs
    (`from scipy.special import softmax`) escapes, as any runtime patch must.
    """
    owners = {"torch": torch, "Tensor": torch.Tensor, "F": F, "torch.special": torch.special}
    with contextlib.suppress(ImportError):
        owners["scipy.special"] = importlib.import_module("scipy.special")

    def refuse(api):
        def blocked(*args, **kwargs):
            raise LibraryCalled(
                f"{what} called {api}. Exercises 1 and 2 ask you to write softmax, log-softmax, NLL "
                "and cross-entropy yourself, from np.exp, np.log, sums and indexing "
                "(scipy.special.logsumexp and torch.logsumexp are fine)."
            )
        return blocked

    with contextlib.ExitStack() as stack:
        for label, owner in owners.items():
            for name in WRITE_YOURSELF:
                if hasattr(owner, name):
                    stack.enter_context(patch.object(owner, name, refuse(f"{label}.{name}")))
        yield


def run(function, *args, write_yourself=False):
    """Student code, on copies with autograd blocked; write_yourself also blocks the library
    softmax & co. A shape clash inside it (usually a missing keepdims) is explained."""
    name = f"{getattr(function, '__name__', 'your function')}()"
    with no_library(name) if write_yourself else contextlib.nullcontext():
        try:
            return call(function, *args)
        except (ValueError, RuntimeError) as exc:
            text = str(exc)
            if "broadcast" not in text and "must match the size" not in text:
                raise
            raise GradientMismatch(f"{name} raised {type(exc).__name__}: {text}\n  likely cause: {KEEPDIMS}") from exc


# --- torch references (float64) ----------------------------------------------------------------

def _tensor(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def cross_entropy_torch(z, target):
    """F.cross_entropy with the classes on the last axis and any batch shape (torch wants them on dim 1)."""
    K = z.shape[-1]
    return F.cross_entropy(z.reshape(-1, K), torch.as_tensor(np.asarray(target, dtype=np.int64)).reshape(-1))


def softmax_reference(z):
    return torch.softmax(_tensor(z), dim=-1).numpy()


def log_softmax_reference(z):
    return torch.log_softmax(_tensor(z), dim=-1).numpy()


def nll_reference(logp, target):
    K = np.shape(logp)[-1]
    return F.nll_loss(_tensor(logp).reshape(-1, K), torch.as_tensor(target).reshape(-1)).item()


def cross_entropy_reference(z, target):
    return cross_entropy_torch(_tensor(z), target).item()


def cross_entropy_grad_reference(z, target):
    return torch_grads(lambda z: cross_entropy_torch(z, target), dict(z=z))["z"]


# --- what typical mistakes compute (numpy float64) ---------------------------------------------

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


def _fails_alike(got, value):
    """Same inf/nan entries as `value`, and close to it elsewhere."""
    if got.shape != value.shape:
        return False
    for kind in (np.isnan, np.isposinf, np.isneginf):
        if not np.array_equal(kind(got), kind(value)):
            return False
    finite = np.isfinite(got)
    return bool(np.allclose(got[finite], value[finite], rtol=1e-3, atol=1e-6))


def _require_finite(name, got, z, unstable):
    """Raise a message naming the cause if `got` holds inf or nan.

    unstable: [(cause, value)] from the unstable forms; the causes whose value fails in the same
    entries are named, or all of them when none does.
    """
    bad = ~np.isfinite(got)
    if not bad.any():
        return
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f" at index {index}" if got.ndim else ""
    rows = f"logits {np.array2string(z[index[:-1]], precision=6)}" if got.ndim == z.ndim else (
        f"logits as large as {np.max(np.abs(z)):g} in magnitude")
    with np.errstate(all="ignore"):
        causes = [cause for cause, value in unstable if _fails_alike(got, value)]
    causes = list(dict.fromkeys(causes or [cause for cause, _ in unstable]))
    cause = causes[0] if len(causes) == 1 else "one of\n" + "\n".join(f"    - {c}" for c in causes)
    raise GradientMismatch(f"{name} is {got[index]}{where}, for the {rows}.\n  likely cause: {cause}")


def _check(name, got, expected, z, *, unstable=(), floor=0.0, **kwargs):
    """Shape, then inf/nan (named), then values (kwargs: known_mistakes, batch_size).

    floor: an absolute error always allowed (see FLOAT32_FLOOR); the rest of the tolerance is
    the core's for the answer's precision.
    """
    value = as_float64(got, name)
    if value.shape == np.shape(expected):
        _require_finite(name, value, z, unstable)
    default_atol = (LOW_PRECISION if is_low_precision(got) else HIGH_PRECISION)[1]
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    atol = max(default_atol, floor / scale) if floor and scale > 0 else None
    check_gradient(name, got, expected, atol=atol, **kwargs)


def _check_forward(name, got, expected, z, **kwargs):
    """_check for softmax and log_softmax, whose shape rule is the shape of z, not a gradient's."""
    shape = as_float64(got, name).shape
    if shape != expected.shape:
        cause = ""
        if shape == expected.shape[:-1]:
            cause = "\n  likely cause: the class axis was summed (or maxed) away."
        elif int(np.prod(shape)) == expected.size:
            cause = "\n  likely cause: the right number of entries in another shape (flattened or transposed?)."
        raise GradientMismatch(
            f"{name} has the wrong shape: expected {expected.shape}, got {shape}.{cause}\n"
            "  It has the shape of z: one value per class for every example."
        )
    _check(name, got, expected, z, **kwargs)


def _as_loss(got, name, N):
    """A loss is one number (in any container of size 1); explain any other shape."""
    size = as_float64(got, name).size
    per_example = (
        f" These {size} numbers look like the N = {N} per-example losses -logp[n, target[n]]: "
        "take their mean." if size == N else ""
    )
    return one_number(got, name, f"\n  The loss is one number, the mean over the N = {N} examples.{per_example}")


@contextlib.contextmanager
def _inputs(**arrays):
    """Prefix any GradientMismatch with the inputs it was found for (small ones in full)."""
    try:
        yield
    except GradientMismatch as exc:
        raise GradientMismatch(f"With {_describe(arrays)}:\n{exc}") from None


def _describe(arrays):
    parts = []
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.size <= 12:
            parts.append(f"{name} = {np.array2string(value, precision=4, separator=', ', max_line_width=200)}")
        else:
            parts.append(f"{name} of shape {value.shape}")
    return ", ".join(parts)


def _divisor_mistakes(value_of, shape):
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


# --- 1. softmax and log-softmax -------------------------------------------------------------------

def check_softmax(softmax, z):
    z = np.asarray(z, dtype=np.float64)
    expected = softmax_reference(z)
    mistakes = wrong_axis("softmax", z, lambda p: p)
    unstable = unstable_softmaxes(z)
    with _inputs(z=z):
        got = run(softmax, z, write_yourself=True)
        try:
            _check_forward("softmax(z)", got, expected, z, unstable=unstable, known_mistakes=mistakes)
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
    with _inputs(z=z):
        got = run(log_softmax, z, write_yourself=True)
        _check_forward("log_softmax(z)", got, expected, z, unstable=unstable, known_mistakes=mistakes)


# --- 2. NLL and cross-entropy ----------------------------------------------------------------------

def loss_mistakes(per_example, shape):
    """Reductions other than the mean over the N examples, from the per-example losses."""
    K, N = shape[-1], int(np.prod(shape[:-1], dtype=np.int64))
    mistakes = {}
    if N > 1:
        mistakes[f"this is the sum over the N={N} examples; the loss is their mean: divide by N."] = (
            per_example.sum())
    mistakes.update(_divisor_mistakes(lambda d: per_example.sum() / d, shape))
    mistakes[
        f"this is a mean over all N*K = {N * K} entries (e.g. -(onehot * logp).mean()); average over "
        f"the N = {N} examples only: sum over the classes, then take the mean over the batch."
    ] = per_example.mean() / K
    return mistakes


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
    with _inputs(logp=logp, target=target):
        got = _as_loss(run(nll_loss, logp, target, write_yourself=True), name, N)
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
    with _inputs(z=z, target=target):
        got = _as_loss(run(cross_entropy, z, target, write_yourself=True), name, N)
        # A loss is a difference of terms as large as the logits: float32 keeps ~1e-7 of max|z|.
        _check(name, got, expected, z, unstable=unstable, known_mistakes=mistakes,
               floor=FLOAT32_FLOOR * max(1.0, float(np.max(np.abs(z)))))


# --- 3. the gradient of cross-entropy ---------------------------------------------------------------

def check_cross_entropy_grad(cross_entropy_grad, z, target):
    z = np.asarray(z, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    K, N = z.shape[-1], examples(z)
    expected = cross_entropy_grad_reference(z, target)
    p, y = softmax_over(z, -1), onehot(target, K)
    mistakes = {
        f"softmax(z) - onehot(target) without the 1/N of the mean: L averages over N = {N} examples, "
        "so dL/dz = (softmax(z) - onehot(target)) / N.": p - y,
        "the one-hot of the target was not subtracted: -log p_y also depends on z_y directly, "
        "so dL/dz = (softmax(z) - onehot(target)) / N.": p / N,
        "softmax(z) alone: both the one-hot of the target and the 1/N of the mean are missing; "
        "dL/dz = (softmax(z) - onehot(target)) / N.": p,
    }
    mistakes.update(_divisor_mistakes(lambda d: (p - y) / d, z.shape))
    mistakes[f"divided by N*K = {N * K} (the number of entries) instead of N = {N} (the number of "
             "examples)."] = (p - y) / (N * K)
    mistakes.update(wrong_axis("softmax", z, lambda q: (q - y) / N))
    unstable = [(cause, (q - y) / N) for cause, q in unstable_softmaxes(z)]
    name = "cross_entropy_grad(z, target)"
    with _inputs(z=z, target=target):
        got = run(cross_entropy_grad, z, target)
        # softmax(z) - onehot subtracts numbers near 1/N: float32 keeps ~1e-7 / N of each entry.
        _check(name, got, expected, z, unstable=unstable, known_mistakes=mistakes, batch_size=N,
               floor=FLOAT32_FLOOR / N)


# --- 4. vector-Jacobian products ------------------------------------------------------------------

def vjp_inputs(seed, shape, extreme=False):
    """Logits and an upstream gradient.

    extreme: integer logits of size ~1000, beyond exp's range, and the examples thousands apart
    (as in extreme_logits), so that one max for the whole array leaves some with all exps 0.
    """
    if not extreme:
        return logits(seed, *shape), randn(seed + 1, *shape)
    N = examples(np.empty(shape))
    apart = 2000.0 * (np.arange(N) - N // 2)
    z = np.round(logits(seed, *shape, scale=1e3)) + apart.reshape(shape[:-1] + (1,))
    return z, randn(seed + 1, *shape)


def check_softmax_vjp(softmax_vjp, seed, shape, extreme=False):
    z, g = vjp_inputs(seed, shape, extreme)
    expected = torch_grads(lambda z: torch.softmax(z, dim=-1), dict(z=z), upstream=g)["z"]
    p = softmax_over(z, -1)
    mistakes = {
        "p * g uses only the diagonal diag(p) of the Jacobian diag(p) - p p^T; the p p^T part "
        "adds -p * sum(g * p) (over the last axis).": p * g,
        "the inner sum must be weighted by p: J^T g = p * (g - sum_j g_j p_j), not "
        "p * (g - sum_j g_j).": p * (g - g.sum(axis=-1, keepdims=True)),
        "sum(g * p) was taken over the whole array; take it per example, over the last axis "
        "(axis=-1, keepdims=True).": p * (g - np.sum(g * p)),
    }
    vjp = lambda q: q * (g - np.sum(g * q, axis=-1, keepdims=True))  # noqa: E731
    mistakes.update(wrong_axis("softmax", z, vjp))
    unstable = [(cause, vjp(q)) for cause, q in unstable_softmaxes(z)]
    with _inputs(z=z, g=g):
        got = run(softmax_vjp, z, g)
        _check("softmax_vjp(z, g)", got, expected, z, unstable=unstable, known_mistakes=mistakes,
               floor=FLOAT32_FLOOR * np.max(np.abs(g)))


def check_log_softmax_vjp(log_softmax_vjp, seed, shape, extreme=False):
    z, g = vjp_inputs(seed, shape, extreme)
    expected = torch_grads(lambda z: torch.log_softmax(z, dim=-1), dict(z=z), upstream=g)["z"]
    p = softmax_over(z, -1)
    mistakes = {
        "g - p * g: the sum over the classes is missing; J^T g = g - p * sum_i g_i "
        "(over the last axis).": g - p * g,
        "g - sum_i g_i: the sum must be multiplied by p = softmax(z): J^T g = g - p * sum_i g_i.":
            g - g.sum(axis=-1, keepdims=True),
        "g - sum_j p_j g_j is J g; the VJP is J^T g = g - p * sum_i g_i (the Jacobian I - 1 p^T of "
        "log-softmax is not symmetric).": g - np.sum(p * g, axis=-1, keepdims=True),
        "sum(g) was taken over the whole array; take it per example, over the last axis "
        "(axis=-1, keepdims=True).": g - p * g.sum(),
    }
    vjp = lambda q: g - q * g.sum(axis=-1, keepdims=True)  # noqa: E731
    mistakes.update(wrong_axis("softmax", z, vjp))
    unstable = [(cause, vjp(q)) for cause, q in unstable_softmaxes(z)]
    with _inputs(z=z, g=g):
        got = run(log_softmax_vjp, z, g)
        _check("log_softmax_vjp(z, g)", got, expected, z, unstable=unstable, known_mistakes=mistakes,
               floor=FLOAT32_FLOOR * np.max(np.abs(g)))


def check_no_full_jacobian(vjp, seed, N=8, K=1024):
    """A VJP must not build a Jacobian, not even one K x K per example; numpy allocations are
    measured with tracemalloc. K >> N so that one example's Jacobian (K*K numbers) dwarfs
    everything a VJP needs (a few arrays of N*K).

    Torch allocations are invisible to tracemalloc, so this can only ever let a solution through,
    never fail a frugal one.
    """
    z, g = logits(seed, N, K), randn(seed + 1, N, K)
    one_jacobian = K * K * 8
    limit = 16 * z.nbytes  # the copies of z and g, p, g * p, the result, ... with room to spare
    already = tracemalloc.is_tracing()
    if already:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    try:
        run(vjp, z, g)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already:
            tracemalloc.stop()
    if peak > limit:
        raise GradientMismatch(
            f"{getattr(vjp, '__name__', 'the VJP')}(z, g) allocated {peak / 2**20:.1f} MB for z of shape "
            f"({N}, {K}) ({z.nbytes / 2**20:.2f} MB): it seems to build a Jacobian, K*K numbers "
            f"({one_jacobian / 2**20:.0f} MB) per example. Use its structure instead: a VJP needs only "
            "a few arrays of the shape of z."
        )


# --- 5. the softmax Jacobian of one vector ---------------------------------------------------------

def check_softmax_jacobian(softmax_jacobian, z):
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError("softmax_jacobian is checked on single vectors")
    expected = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=-1), _tensor(z)).numpy()
    p = softmax_over(z, -1)
    mistakes = {
        "np.diag(p) alone: the off-diagonal entries dp_i/dz_j = -p_i p_j (and the -p_i^2 on the "
        "diagonal) are missing; J = diag(p) - p p^T.": np.diag(p),
        "-p p^T alone: the diag(p) part is missing; J = diag(p) - p p^T.": -np.outer(p, p),
        "np.diag(p) - p * p broadcasts the vector p^2 across the rows; the second term is the outer "
        "product p p^T = np.outer(p, p).": np.diag(p) - p * p,
        "only the diagonal p_i (1 - p_i) is there; off the diagonal dp_i/dz_j = -p_i p_j.":
            np.diag(p * (1 - p)),
    }
    unstable = [(cause, np.diag(q) - np.outer(q, q)) for cause, q in unstable_softmaxes(z)]
    name = "softmax_jacobian(z)"
    with _inputs(z=z):
        got = run(softmax_jacobian, z)
        try:
            _check(name, got, expected, z, unstable=unstable, known_mistakes=mistakes, floor=FLOAT32_FLOOR)
        except GradientMismatch as exc:
            raise GradientMismatch(f"{exc}{_row_sum_note(as_float64(got, name), expected)}") from None


def _row_sum_note(got, expected):
    if got.shape != expected.shape or np.allclose(got.sum(axis=1), 0, atol=1e-8):
        return ""
    return (
        f"\n  Its rows sum to {np.array2string(got.sum(axis=1), precision=4)}, not 0: softmax(z + c) = "
        "softmax(z) for every constant c, so moving all logits together changes nothing, J @ 1 = 0."
    )


# --- 6. every intermediate of the staged form -------------------------------------------------------

STAGES = ("picked", "l", "k", "j", "h", "z")  # the gradients a student returns, output to input


def staged_torch(z, y):
    """The locked staged_forward of the notebook, in torch (z: (N, K) logits, y: (N,) targets)."""
    h = torch.exp(z)
    j = h.sum(dim=1, keepdim=True)
    k = h / j
    l = -torch.log(k)
    picked = l[torch.arange(z.shape[0]), y]
    loss = picked.mean()
    return dict(h=h, j=j, k=k, l=l, picked=picked, loss=loss)


def staged_mistakes(values, grads, y):
    """{stage: {description: value}}: local mistakes, each given the right upstream gradient."""
    mistakes = staged_softmax_mistakes(values, grads)
    if len(y) > 1:
        block = np.zeros_like(grads["l"])
        block[:, y] = grads["picked"]
        mistakes["l"] = {
            "dl[:, y] = ... sets every example's targets (an N x N block); index each example with "
            "its own target: dl[np.arange(N), y] = dpicked.": block,
        }
    return mistakes


def check_staged(staged_forward, staged_backward, seed, N, K):
    """Returns a Report (one row per intermediate); prints nothing and raises only if the
    locked forward pass was changed or the backward pass called autograd."""
    z, y = logits(seed, N, K, scale=2.0), targets(seed + 1, (N,), K)
    values, grads = retained_grads(staged_torch, dict(z=z, y=y))
    expected = {name: grads[name] for name in STAGES}
    mistakes = staged_mistakes(values, grads, y)
    forward = run(staged_forward, z, y)
    for name in ("h", "j", "k", "l", "picked", "loss"):
        check_value(f"staged_forward(z, y)[{name!r}] (the given forward pass, do not change it)",
                    forward[name], values[name])
    got = run(staged_backward, forward, y)
    return compare_all(got, expected, batch_size=N, known_mistakes=mistakes)
