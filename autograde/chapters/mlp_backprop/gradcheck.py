"""Chapter 3, exercise 5: the numerical gradient (central differences) and the relative error."""
import numpy as np
import torch

from ...arrays import as_float64
from ...check import GradientMismatch, check_gradient
from ...guard import by_hand, by_hand_on_copies
from ...reference import randn, torch_grads
from .answers import reject_grader_code


def check_numerical_gradient(numerical_gradient, seed, shape):
    reject_grader_code(numerical_gradient, "numerical_gradient")
    x = randn(seed, *shape)
    expected = torch_grads(lambda v: (torch.sin(v) * v ** 2).sum(), dict(v=x))["v"]
    h = 1e-5
    one_sided = np.array([(np.sum(np.sin(xp) * xp ** 2) - np.sum(np.sin(x) * x ** 2)) / h
                          for xp in _nudged(x, h)]).reshape(x.shape)

    mine = x.copy()
    got = by_hand(numerical_gradient, lambda v: float(np.sum(np.sin(v) * v ** 2)), mine)
    if not np.array_equal(mine, x):
        raise GradientMismatch("numerical_gradient changed x: restore each entry after nudging it.")
    # Central differences with h=1e-5 are good to ~1e-10 here; one-sided ones only to ~1e-5.
    check_gradient("numerical_gradient(f, x)", got, expected, rtol=1e-7, atol=1e-8, known_mistakes={
        "a one-sided difference (f(x + h) - f(x)) / h: its error shrinks like h; the central difference "
        "(f(x + h) - f(x - h)) / 2h is exact up to h**2.": one_sided,
    })

    # The step h is an argument: for f = sum(x**3) the central difference gives exactly 3 x**2 + h**2.
    big_h = 0.5
    got = by_hand(numerical_gradient, lambda v: float(np.sum(v ** 3)), x.copy(), h=big_h)
    check_gradient(f"numerical_gradient(f, x, h={big_h}) for f = sum(x**3)", got, 3 * x ** 2 + big_h ** 2,
                   rtol=1e-6, atol=1e-8, known_mistakes={
                       "the h argument was ignored (a fixed step was used instead), or the difference is "
                       "not the central one, (f(x + h) - f(x - h)) / 2h.": 3 * x ** 2,
                       "a one-sided difference (f(x + h) - f(x)) / h: use the central difference.":
                           3 * x ** 2 + 3 * x * big_h + big_h ** 2,
                   })

    # f may read x through a closure (as the notebook's layer check reads layer.W): x itself must move.
    state = x.copy()

    def through_closure(_):
        return float(np.sum(np.sin(state) * state ** 2))

    got = by_hand(numerical_gradient, through_closure, state)  # the first check's f, so its tolerance
    check_gradient("numerical_gradient(f, x) for an f that reads x through a closure", got, expected,
                   rtol=1e-7, atol=1e-8, known_mistakes={
                       "a copy of x was nudged, not x itself: this f ignores its argument and reads x "
                       "directly (as `L(_)` in the notebook reads layer.W), so nudge x in place and put "
                       "each entry back.": np.zeros_like(expected),
                   })


def _nudged(x, h):
    for index in np.ndindex(x.shape):
        xp = x.copy()
        xp[index] += h
        yield xp


RELATIVE_ERROR_CASES = [  # (what, a, b)
    ("two identical arrays", [1.0, -2.0, 3.0], [1.0, -2.0, 3.0]),
    ("two arrays of zeros", [0.0, 0.0], [0.0, 0.0]),
    ("four entries of which one is off by 0.1", [1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.1]),
    ("the same four entries times 1e-6", [1e-6, 1e-6, 1e-6, 1e-6], [1e-6, 1e-6, 1e-6, 1.1e-6]),
    ("[2.0] and [-2.0]", [2.0], [-2.0]),
    ("2-D arrays", [[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.5]]),
    ("a large entry that is right and a small one that is wrong", [100.0, 0.5], [100.0, 1.0]),
]


def relative_error_cases(seed):
    """Two random gradient-like pairs: nearly equal (to 1e-3, which float32 arithmetic can still
    resolve), and one off in a single entry."""
    a = randn(seed, 3, 4)
    close = a * (1 + 1e-3 * randn(seed + 1, 3, 4))
    one_off = a.copy()
    one_off[1, 2] += 0.3
    return [(f"random arrays (seed {seed})", a, close), (f"random arrays with one changed entry (seed {seed})", a, one_off)]


# The two accepted definitions differ by up to 2x; the slack below is for float32 arithmetic and
# for an eps added to the denominator instead of taken as its floor. Every mistake named is far off.
RELATIVE_ERROR_RTOL = 1e-4


def check_relative_error(relative_error, seed=None):
    """Accept max |a - b| / (|a| + |b|) and max |a - b| / max(|a|, |b|): they differ by at most 2x."""
    reject_grader_code(relative_error, "relative_error")
    cases = RELATIVE_ERROR_CASES + (relative_error_cases(seed) if seed is not None else [])
    for what, a, b in cases:
        a, b = np.array(a), np.array(b)
        got = as_float64(by_hand_on_copies(relative_error, a, b), f"relative_error for {what}")
        if got.shape != ():
            raise GradientMismatch(f"relative_error for {what} returned shape {got.shape}: return one "
                                   "number, the largest relative error over all entries.")
        got = float(got)
        diff = np.abs(a - b)
        with np.errstate(invalid="ignore", divide="ignore"):
            low = np.nan_to_num(diff / (np.abs(a) + np.abs(b)))
            high = np.nan_to_num(diff / np.maximum(np.abs(a), np.abs(b)))
        if low.max() * (1 - RELATIVE_ERROR_RTOL) - 1e-15 <= got <= high.max() * (1 + RELATIVE_ERROR_RTOL) + 1e-15:
            continue
        raise GradientMismatch(
            f"relative_error for {what}: expected {low.max():.6g} (denominator |a| + |b|; up to "
            f"{high.max():.6g} with max(|a|, |b|)), got {got:.6g}."
            + relative_error_cause(got, a, b, diff, low, high)
        )


def relative_error_cause(got, a, b, diff, low, high):
    def near(value):
        return np.isclose(got, value, rtol=1e-3, atol=1e-15)

    causes = {
        "NaN: when both entries are 0 the denominator is 0; divide by max(eps, |a| + |b|).": np.isnan(got),
        "the errors were averaged over the entries: take the max, so one wrong entry cannot hide "
        "among many right ones.": near(low.mean()) or near(high.mean()),
        "this is the absolute error |a - b|: divide by |a| + |b| so that the measure does not depend "
        "on the scale of the gradient.": near(diff.max()),
        "the largest difference was divided by the largest magnitude: divide entry by entry, then take "
        "the max, so that a small entry's error is not measured against a large one.":
            near(diff.max() / max(1e-12, float((np.abs(a) + np.abs(b)).max())))
            or near(diff.max() / max(1e-12, float(np.maximum(np.abs(a), np.abs(b)).max()))),
        "a norm of the difference over norms: take the max over entries of |a_i - b_i| / (|a_i| + |b_i|).":
            near(np.linalg.norm(diff) / max(1e-12, np.linalg.norm(a) + np.linalg.norm(b)))
            or near(np.linalg.norm(diff) / max(1e-12, np.linalg.norm(a), np.linalg.norm(b))),
    }
    cause = next((text for text, hit in causes.items() if hit), None)
    return f"\n  likely cause: {cause}" if cause else ""
