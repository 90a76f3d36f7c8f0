"""Compare one gradient with its reference and, when they differ, say why in words a student can use.

Shape is checked before values. Values are compared with a relative and an absolute tolerance
(never exact equality), loose enough for float32 arithmetic, tight enough that a real mistake
(a missing factor, a wrong sign, a dropped path) is far outside it.

Every mismatch also carries a cause code (`exc.cause`, one of autograde.cause.CAUSES), which the
kernel records in the notebook for the instructor's mistake report. A known mistake may name its
own: `known_mistakes={description: Mistake(value, "transposed")}`; a bare value counts as "specific".
"""
from typing import NamedTuple

import numpy as np

from . import cause as _cause
from . import confirm as _confirm
from .arrays import as_float64, is_low_precision

_cause.install()  # in a notebook kernel: record the cause of each failed cell
_confirm.install()  # ... say what a passing test verified, and show failures without the grader's frames

# (rtol, atol) by the precision of the student's answer; atol is relative to the largest entry.
HIGH_PRECISION = (1e-5, 1e-6)  # float64 leaves ~11 digits to spare
LOW_PRECISION = (5e-4, 1e-5)   # float32 carries ~7 digits; sums and cancellations lose a few
RTOL, ATOL = LOW_PRECISION     # the looser pair, for callers that pass one explicitly


class GradientMismatch(AssertionError):
    """A student's value differs from the reference; the message explains how.

    cause: a code of autograde.cause.CAUSES. Without one, the cause is that of the mismatch this
    one was raised from (a message re-raised with more words), else "specific"."""

    default_cause = "specific"

    def __init__(self, *args, cause=None):
        super().__init__(*args)
        if cause:
            self.cause = cause


class Mistake(NamedTuple):
    """A known mistake: the value a typical wrong solution gives, and its cause code."""
    value: object
    cause: str = "specific"


def tolerance_for(dtype, *answers):
    """Tolerance keywords for a test case: the float32 pair when the case's inputs are float32 or
    an answer is (float32 work may come back as a Python float); else {} for the defaults."""
    if np.dtype(dtype) != np.float64 or any(is_low_precision(answer) for answer in answers):
        return dict(rtol=LOW_PRECISION[0], atol=LOW_PRECISION[1])
    return {}


def tolerance(expected, rtol=RTOL, atol=ATOL):
    """Per-entry allowed error: rtol * |expected| + atol * (largest |expected|), plus a floor
    (so that float32 rounding noise around an all-zero reference still passes)."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return rtol * np.abs(expected) + atol * scale + 1e-3 * atol


def is_close(got, expected, rtol=RTOL, atol=ATOL):
    """Boolean array: which entries of `got` are within tolerance of `expected` (NaN never is)."""
    with np.errstate(invalid="ignore"):
        return np.abs(got - expected) <= tolerance(expected, rtol, atol)


def check_gradient(name, got, expected, *, rtol=None, atol=None, batch_size=None, known_mistakes=None,
                   is_gradient=True):
    """Raise GradientMismatch unless `got` matches `expected` in shape and value.

    name: what the student calls the variable, e.g. "dW".
    rtol, atol: by default LOW_PRECISION for a float32 (or narrower) answer, else HIGH_PRECISION.
    batch_size: lets the diagnosis recognise "off by a factor N".
    known_mistakes: {description: value a typical wrong solution gives, or Mistake(value, cause)};
        if `got` matches one, the message names it (and the cause code is its cause, or "specific").
    """
    __tracebackhide__ = True  # IPython: a failure shows the message, not this frame
    default_rtol, default_atol = LOW_PRECISION if is_low_precision(got) else HIGH_PRECISION
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    got = as_float64(got, name)
    expected = as_float64(expected, f"reference for {name}")
    if got.shape != expected.shape:
        _confirm.failed(name, is_gradient)
        code, _ = shape_diagnosis(got.shape, expected.shape, is_gradient)
        raise GradientMismatch(shape_message(name, got.shape, expected.shape, is_gradient), cause=code)
    ok = is_close(got, expected, rtol, atol)
    if ok.all():
        _confirm.passed(name, is_gradient)
        return
    _confirm.failed(name, is_gradient)
    code, cause = diagnose(got, expected, ok, rtol, atol, batch_size, known_mistakes)
    raise GradientMismatch(_value_text(name, got, expected, ok, rtol, atol, cause), cause=code)


def check_value(name, got, expected, **kwargs):
    """Same as check_gradient, for forward values (losses, probabilities)."""
    __tracebackhide__ = True
    check_gradient(name, got, expected, is_gradient=False, **kwargs)


def shape_message(name, got_shape, expected_shape, is_gradient=True):
    lines = [f"{name} has the wrong shape: expected {expected_shape}, got {got_shape}."]
    _, cause = shape_diagnosis(got_shape, expected_shape, is_gradient)
    if cause:
        lines.append(f"  likely cause: {cause}")
    if is_gradient:
        lines.append("  A gradient always has the shape of the variable it belongs to.")
    return "\n".join(lines)


def shape_cause(got_shape, expected_shape, is_gradient=True):
    """One sentence on why the shapes differ, or None."""
    return shape_diagnosis(got_shape, expected_shape, is_gradient)[1]


def shape_diagnosis(got_shape, expected_shape, is_gradient=True):
    """(cause code, sentence or None) for a shape mismatch."""
    got_size, expected_size = int(np.prod(got_shape)), int(np.prod(expected_shape))
    if len(got_shape) == 2 and tuple(got_shape) == tuple(expected_shape)[::-1]:
        return "transposed", "the result is transposed (check the order of the operands in the matrix product)."
    if len(got_shape) == 0 and expected_size > 1:
        return "shape", "a single number came back where an array is expected (was it summed too far?)."
    if got_size == expected_size:
        return "shape", "the same number of entries in another shape: reshape it, or check for a flattened result."
    if _broadcasts_to(expected_shape, got_shape):
        axes = _broadcast_axes(expected_shape, got_shape)
        if not is_gradient:
            return "shape", f"axis {axes[0] if len(axes) == 1 else axes} should have been reduced (a sum or a mean over it)."
        return "broadcast_not_summed", (
            "the variable was broadcast in the forward pass (repeated along an axis its own shape does not "
            "have), so its gradient must be summed over the broadcast axis: a gradient has the shape of its "
            "variable, and each copy passed on a share of it."
        )
    if _broadcasts_to(got_shape, expected_shape):
        return "shape", "an axis was summed (or averaged) away that should stay in the gradient."
    return "shape", None


def _broadcasts_to(small, big):
    try:
        return np.broadcast_shapes(tuple(small), tuple(big)) == tuple(big) and tuple(small) != tuple(big)
    except ValueError:
        return False


def _broadcast_axes(small, big):
    padded = (1,) * (len(big) - len(small)) + tuple(small)
    return tuple(i for i, (s, b) in enumerate(zip(padded, big)) if s == 1 and b != 1)


def _value_text(name, got, expected, ok, rtol, atol, cause):
    bad = ~ok
    err = np.abs(got - expected)
    err_for_worst = np.where(np.isnan(err), np.inf, err)
    worst = np.unravel_index(int(np.argmax(err_for_worst)), got.shape) if got.ndim else ()
    wrong = bad & (expected != 0)  # relative error is undefined where the reference is 0
    with np.errstate(over="ignore"):  # against a subnormal reference the relative error is infinite: say so
        rel = float(np.max(err_for_worst[wrong] / np.abs(expected[wrong]))) if wrong.any() else None
    where = f"{name}[{', '.join(map(str, worst))}]" if got.ndim else name
    lines = [
        f"{name} is wrong in {int(bad.sum())} of {got.size} entries." if got.size > 1 else f"{name} is wrong.",
        (f"  worst entry {where}: " if got.size > 1 else "  ") + f"expected {expected[worst]:.6g}, got {got[worst]:.6g}",
        f"  max abs error {np.max(err_for_worst):.3g}"
        + (f", max rel error {rel:.3g}" if rel is not None else "")
        + f" (allowed: rel {rtol:g}, abs {atol:g} x largest entry)",
    ]
    if cause:
        lines.append(f"  likely cause: {cause}")
    return "\n".join(lines)


def likely_cause(got, expected, ok, rtol=RTOL, atol=ATOL, batch_size=None, known_mistakes=None):
    """One sentence naming the most likely mistake, or None when nothing recognisable fits."""
    return diagnose(got, expected, ok, rtol, atol, batch_size, known_mistakes)[1]


def diagnose(got, expected, ok, rtol=RTOL, atol=ATOL, batch_size=None, known_mistakes=None):
    """(cause code, sentence or None): the most likely mistake; ("other", None) when nothing fits."""
    def matches(candidate):
        return bool(is_close(got, candidate, rtol, atol).all())

    for description, mistake in (known_mistakes or {}).items():
        value, code = mistake if isinstance(mistake, Mistake) else (mistake, "specific")
        value = as_float64(value, description)
        if value.shape == got.shape and not np.allclose(value, expected) and matches(value):
            return code, description
    if not np.all(np.isfinite(got)):
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(got))[0])
        return "nan", (
            f"NaN or inf (first at index {index}): an overflow in exp (subtract the max first), "
            "a log of 0, or a division by 0."
        )
    if np.all(got == 0):
        return "zeros", "every entry is 0: was the gradient never accumulated, or left at its initial value?"
    if matches(-expected):
        return "sign", "the sign is flipped everywhere (a minus sign dropped or added, e.g. d(-log p)/dp = -1/p)."
    if got.ndim == 2 and got.shape[0] == got.shape[1] and matches(expected.T):
        return "transposed", "the result is transposed (check the order of the operands in the matrix product)."
    factor = _constant_factor(got, expected)
    if factor is not None and matches(factor * expected):
        described = _describe_factor(factor, batch_size, few_entries=got.size < 3)
        if described:
            return described
    exact_zero = expected == 0
    if exact_zero.any() and (~exact_zero).any() and (~ok <= exact_zero).all():
        return "gate", (
            "nonzero only where the true gradient is exactly 0: a gate (ReLU, max, a mask) should "
            "block the gradient there."
        )
    return "other", None


def _constant_factor(got, expected):
    denom = float(np.sum(expected * expected))
    if denom == 0:
        return None
    factor = float(np.sum(got * expected)) / denom
    return factor if np.isfinite(factor) and factor != 0 else None


def _describe_factor(factor, batch_size, few_entries=False):
    """(cause code, sentence) naming the factor, or None; with one or two entries any wrong value is
    'a factor', so name only the telling ones (N, 1/N, 2, 1/2)."""
    times = f"{factor:.4g} times the right answer"
    if batch_size and batch_size > 1 and np.isclose(factor, batch_size, rtol=1e-3):
        return "missing_1_over_n", f"{times}, which is the batch size N={batch_size}: a mean over the batch needs a 1/N."
    if batch_size and batch_size > 1 and np.isclose(factor, 1 / batch_size, rtol=1e-3):
        return "extra_1_over_n", (
            f"{times}, which is 1/N for N={batch_size}: a 1/N too many "
            "(a mean where a sum belongs, or the 1/N of a mean applied twice)."
        )
    if np.isclose(factor, 2, rtol=1e-3) or np.isclose(factor, 0.5, rtol=1e-3):
        return "factor_2", f"{times}: a factor of 2 missing or extra (d(x**2)/dx = 2x; a 0.5 in the loss)."
    if few_entries:
        return None
    if abs(factor - 1) < 1e-2:
        return "precision", (
            "within 1% of the right answer but outside the tolerance: precision was lost (float16, "
            "or a cancellation such as 1 - sigmoid(z) for large z), or a small term is missing."
        )
    return "factor", f"{times} everywhere: a constant factor is missing or extra."
