"""Checks for chapter 2 (softmax, log-softmax, NLL, cross-entropy and their gradients).

Conventions, as in the notebook: the class axis is the LAST axis, of length K; every axis before
it is the batch, of any shape ((), (N,), (B, T), ...). N is the number of examples, the product of
the batch shape, and the losses are MEANS over them (torch's reduction="mean"). Targets are
integers in [0, K) with the batch shape. Every reference is torch in float64.
"""
import contextlib
import tracemalloc

import numpy as np
import torch
import torch.nn.functional as F

from ..arrays import as_float64
from ..check import ATOL, RTOL, GradientMismatch, check_gradient, check_value
from ..guard import by_hand
from ..reference import randn, retained_grads, torch_grads
from ..table import Report, compare_all

# Forward values must agree with torch to 1e-6 (atol, relative to the largest entry), plus a
# relative 1e-5 that float32 arithmetic meets.
VALUE_TOL = dict(rtol=1e-5, atol=1e-6)
GRAD_TOL = dict(rtol=RTOL, atol=ATOL)
# Results that subtract numbers of size ~1 (p - 1, p - p**2, g - <g, p>) keep only ~1e-7 absolute
# accuracy in float32, however small the result: an absolute error this size is always allowed.
FLOAT32_FLOOR = 1e-6

OVERFLOW = (
    "exp overflowed: exp(z) is inf once z > 709 in float64 (z > 88 in float32), and inf / inf is "
    "nan. Softmax does not change when the same number is subtracted from every logit, so subtract "
    "the max first: exp(z - z.max(axis=-1, keepdims=True))."
)
LOG_OF_ZERO = (
    "log of a probability that underflowed to 0: exp(-746) is 0 in float64 and log(0) = -inf. "
    "Do not take log(softmax(z)); compute log_softmax(z) = (z - m) - log(sum(exp(z - m))) "
    "with m the max over the last axis."
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


# --- torch references (float64) ----------------------------------------------------------------

def _tensor(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def cross_entropy_torch(z, target):
    """F.cross_entropy with the classes on the last axis and any batch shape (torch wants them on dim 1)."""
    K = z.shape[-1]
    return F.cross_entropy(z.reshape(-1, K), torch.as_tensor(target).reshape(-1))


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
    return mistakes


def _require_finite(name, got, z, log_of_zero=-np.inf):
    """Raise a message naming overflow or log(0) if `got` holds inf or nan.

    log_of_zero: the value a log(0) leaves in `got` (-inf in log-probabilities, +inf in a loss -log p).
    """
    bad = ~np.isfinite(got)
    if not bad.any():
        return
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    value = got[index]
    where = f" at index {index}" if got.ndim else ""
    rows = f"logits {np.array2string(z[index[:-1]], precision=6)}" if got.ndim == z.ndim else (
        f"logits as large as {np.max(np.abs(z)):g} in magnitude")
    cause = LOG_OF_ZERO if value == log_of_zero else OVERFLOW
    raise GradientMismatch(f"{name} is {value}{where}, for the {rows}.\n  likely cause: {cause}")


def _check(name, got, expected, z, *, floor=0.0, log_of_zero=-np.inf, tol=VALUE_TOL, **kwargs):
    """Shape, then inf/nan (named), then values (kwargs: known_mistakes, batch_size).

    floor: an absolute error always allowed, for what float32 arithmetic cannot do better.
    """
    got = as_float64(got, name)
    if got.shape == np.shape(expected):
        _require_finite(name, got, z, log_of_zero)
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    atol = max(tol["atol"], floor / scale) if scale > 0 else tol["atol"]
    check_gradient(name, got, expected, rtol=tol["rtol"], atol=atol, **kwargs)


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


# --- 1. softmax and log-softmax -------------------------------------------------------------------

def check_softmax(softmax, z):
    z = np.asarray(z, dtype=np.float64)
    with _inputs(z=z):
        _check("softmax(z)", softmax(z.copy()), softmax_reference(z), z,
               known_mistakes=wrong_axis("softmax", z, lambda p: p))


def check_log_softmax(log_softmax, z):
    z = np.asarray(z, dtype=np.float64)
    expected = log_softmax_reference(z)
    mistakes = wrong_axis("log_softmax", z, np.log)
    mistakes[
        "the max m was subtracted inside the exp but not from z: "
        "log_softmax(z) = (z - m) - log(sum(exp(z - m)))."
    ] = expected + z.max(axis=-1, keepdims=True)
    with _inputs(z=z):
        _check("log_softmax(z)", log_softmax(z.copy()), expected, z, known_mistakes=mistakes)


# --- 2. NLL and cross-entropy ----------------------------------------------------------------------

def loss_mistakes(per_example, N, K):
    """Reductions other than the mean over the N examples, from the per-example losses."""
    mistakes = {}
    if N > 1:
        mistakes[f"this is the sum over the N={N} examples; the loss is their mean: divide by N."] = (
            per_example.sum())
    mistakes[
        f"this is a mean over all N*K = {N * K} entries (e.g. -(onehot * logp).mean()); average over "
        f"the N = {N} examples only: sum over the classes, then take the mean over the batch."
    ] = per_example.mean() / K
    return mistakes


def check_nll_loss(nll_loss, seed, shape):
    K, N = shape[-1], int(np.prod(shape[:-1], dtype=np.int64))
    logp = log_softmax_reference(logits(seed, *shape))
    target = targets(seed + 1, shape[:-1], K)
    picked = np.take_along_axis(logp, target[..., None], axis=-1)[..., 0]
    mistakes = loss_mistakes(-picked, N, K)
    if logp.ndim == 2 and N > 1:
        mistakes[
            "logp[:, target] picks every target for every example (an N x N block); index the "
            "examples and their targets together, e.g. logp[np.arange(N), target]."
        ] = -logp[:, target].mean()
    got = nll_loss(logp.copy(), target.copy())
    with _inputs(logp=logp, target=target):
        check_value("nll_loss(logp, target)", got, nll_reference(logp, target), known_mistakes=mistakes,
                    **VALUE_TOL)


def check_cross_entropy(cross_entropy, z, target):
    z = np.asarray(z, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    K, N = z.shape[-1], examples(z)
    picked = np.take_along_axis(log_softmax_reference(z), target[..., None], axis=-1)[..., 0]
    mistakes = loss_mistakes(-picked, N, K)
    mistakes.update(wrong_axis(
        "softmax", z, lambda p: -np.take_along_axis(np.log(p), target[..., None], axis=-1).mean()))
    got = cross_entropy(z.copy(), target.copy())
    # A loss is a difference of terms as large as the logits: float32 keeps ~1e-7 of max|z|.
    with _inputs(z=z, target=target):
        _check("cross_entropy(z, target)", got, cross_entropy_reference(z, target), z, known_mistakes=mistakes,
               log_of_zero=np.inf, floor=FLOAT32_FLOOR * max(1.0, float(np.max(np.abs(z)))))


# --- 3. the gradient of cross-entropy ---------------------------------------------------------------

def check_cross_entropy_grad(cross_entropy_grad, z, target):
    z = np.asarray(z, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    K, N = z.shape[-1], examples(z)
    p, y = softmax_over(z, -1), onehot(target, K)
    mistakes = {
        f"softmax(z) - onehot(target) without the 1/N of the mean: L averages over N = {N} examples, "
        "so dL/dz = (softmax(z) - onehot(target)) / N.": p - y,
        "the one-hot of the target was not subtracted: -log p_y also depends on z_y directly, "
        "so dL/dz = (softmax(z) - onehot(target)) / N.": p / N,
        "softmax(z) alone: both the one-hot of the target and the 1/N of the mean are missing; "
        "dL/dz = (softmax(z) - onehot(target)) / N.": p,
        f"divided by N*K = {N * K} (the number of entries) instead of N = {N} (the number of "
        "examples).": (p - y) / (N * K),
    }
    mistakes.update(wrong_axis("softmax", z, lambda q: (q - y) / N))
    got = by_hand(cross_entropy_grad, z.copy(), target.copy())
    # softmax(z) - onehot subtracts numbers near 1/N: float32 keeps ~1e-7 / N of each entry.
    with _inputs(z=z, target=target):
        _check("cross_entropy_grad(z, target)", got, cross_entropy_grad_reference(z, target), z,
               known_mistakes=mistakes, batch_size=N, tol=GRAD_TOL, floor=FLOAT32_FLOOR / N)


# --- 4. vector-Jacobian products ------------------------------------------------------------------

def check_softmax_vjp(softmax_vjp, seed, shape):
    z, g = logits(seed, *shape), randn(seed + 1, *shape)
    p = softmax_over(z, -1)
    mistakes = {
        "p * g uses only the diagonal diag(p) of the Jacobian diag(p) - p p^T; the p p^T part "
        "adds -p * sum(g * p) (over the last axis).": p * g,
        "the inner sum must be weighted by p: J^T g = p * (g - sum_j g_j p_j), not "
        "p * (g - sum_j g_j).": p * (g - g.sum(axis=-1, keepdims=True)),
        "sum(g * p) was taken over the whole array; take it per example, over the last axis "
        "(axis=-1, keepdims=True).": p * (g - np.sum(g * p)),
    }
    mistakes.update(wrong_axis("softmax", z, lambda q: q * (g - np.sum(g * q, axis=-1, keepdims=True))))
    expected = torch_grads(lambda z: torch.softmax(z, dim=-1), dict(z=z), upstream=g)["z"]
    got = by_hand(softmax_vjp, z.copy(), g.copy())
    with _inputs(z=z, g=g):
        _check("softmax_vjp(z, g)", got, expected, z, known_mistakes=mistakes,
               tol=GRAD_TOL, floor=FLOAT32_FLOOR * np.max(np.abs(g)))


def check_log_softmax_vjp(log_softmax_vjp, seed, shape):
    z, g = logits(seed, *shape), randn(seed + 1, *shape)
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
    mistakes.update(wrong_axis("softmax", z, lambda q: g - q * g.sum(axis=-1, keepdims=True)))
    expected = torch_grads(lambda z: torch.log_softmax(z, dim=-1), dict(z=z), upstream=g)["z"]
    got = by_hand(log_softmax_vjp, z.copy(), g.copy())
    with _inputs(z=z, g=g):
        _check("log_softmax_vjp(z, g)", got, expected, z, known_mistakes=mistakes,
               tol=GRAD_TOL, floor=FLOAT32_FLOOR * np.max(np.abs(g)))


def check_no_full_jacobian(vjp, seed, N=64, K=256):
    """A VJP must not build the N x K x K Jacobian; numpy allocations are measured with tracemalloc.

    Torch allocations are invisible to tracemalloc, so this can only ever let a solution through,
    never fail a frugal one.
    """
    z, g = logits(seed, N, K), randn(seed + 1, N, K)
    jacobian_bytes = N * K * K * 8
    already = tracemalloc.is_tracing()
    if already:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    try:
        by_hand(vjp, z, g)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already:
            tracemalloc.stop()
    if peak > jacobian_bytes / 4:
        raise GradientMismatch(
            f"{getattr(vjp, '__name__', 'the VJP')}(z, g) allocated {peak / 2**20:.1f} MB for z of shape "
            f"({N}, {K}) ({z.nbytes / 2**20:.2f} MB): it seems to build the Jacobians, N*K*K numbers "
            f"({jacobian_bytes / 2**20:.0f} MB). Use their structure instead: a VJP needs only a few "
            "arrays of the shape of z."
        )


# --- 5. the softmax Jacobian of one vector ---------------------------------------------------------

def check_softmax_jacobian(softmax_jacobian, z):
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError("softmax_jacobian is checked on single vectors")
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
    expected = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=-1), _tensor(z)).numpy()
    got = by_hand(softmax_jacobian, z.copy())
    name = "softmax_jacobian(z)"
    with _inputs(z=z):
        try:
            _check(name, got, expected, z, known_mistakes=mistakes, tol=GRAD_TOL, floor=FLOAT32_FLOOR)
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


def staged_mistakes(values, grads):
    """{stage: {description: value}}: local mistakes, each given the right upstream gradient."""
    h, j = values["h"], values["j"]
    dh_direct = grads["k"] / j
    return {
        "h": {
            "h is used twice, in k = h / j and in j = sum(h); dh is the sum over both paths: "
            "dh = dk / j + dj (dj broadcast over the K classes).": dh_direct,
        },
        "z": {
            "dz misses the path through j (see dh): h is used twice, in k = h / j and in j = sum(h).":
                dh_direct * h,
            "dz = dh * h: the local derivative of exp(z) is exp(z) = h.": grads["h"],
        },
        "j": {
            "dj = -sum_i dk_i h_i / j^2 is missing its minus sign (d(1/j)/dj = -1/j^2).":
                -grads["j"],
        },
    }


def check_staged(staged_forward, staged_backward, seed, N, K):
    """Returns a Report (one row per intermediate); prints nothing and raises only if the
    locked forward pass was changed or the backward pass called autograd."""
    z, y = logits(seed, N, K, scale=2.0), targets(seed + 1, (N,), K)
    values, grads = retained_grads(staged_torch, dict(z=z, y=y))
    forward = staged_forward(z.copy(), y.copy())
    for name in ("h", "j", "k", "l", "picked", "loss"):
        check_value(f"staged_forward(z, y)[{name!r}] (the given forward pass, do not change it)",
                    forward[name], values[name])
    got = by_hand(staged_backward, forward, y.copy())
    expected = {name: grads[name] for name in STAGES}
    report = compare_all(got, expected, batch_size=N)
    explain(report, got, expected, staged_mistakes(values, grads), batch_size=N)
    return report


def explain(report, got, expected, mistakes, batch_size=None):
    """Rewrite the message of each wrong row whose value matches a known mistake of that stage."""
    for row in report.rows:
        if row.status != "wrong" or row.name not in mistakes:
            continue
        try:
            check_gradient(row.name, got[row.name], expected[row.name], batch_size=batch_size,
                           known_mistakes=mistakes[row.name])
        except GradientMismatch as exc:
            row.message = str(exc)


def every_case(reports):
    """One Report over several test cases: a stage counts only if it is right in all of them."""
    rows = []
    for same_stage in zip(*(report.rows for report in reports)):
        failed = [row for row in same_stage if not row.passed]
        rows.append(failed[0] if failed else same_stage[0])
    return Report(rows)
