"""How chapter 2 runs student code and judges what it returns: on copies with autograd blocked
(and, where the exercise is to write them, the library's softmax & co. refused), then shape, inf or
nan with its cause named, and values, with the inputs of the case in every failure message.
"""
import contextlib
import importlib
from unittest.mock import patch

import numpy as np
import torch
import torch.nn.functional as F

from ...arrays import as_float64, is_low_precision
from ...check import HIGH_PRECISION, LOW_PRECISION, GradientMismatch, check_gradient
from ...guard import by_hand_on_copies as call
from ...off_limits import handed_over
from ..common import one_number
from .mistakes import KEEPDIMS


# Tolerances are the core's, by the precision of the answer (check.py), with one addition: a
# float32 computation that subtracts numbers of size ~1 (p - 1, p - p**2, g - <g, p>) keeps only
# ~1e-7 absolute accuracy however small the result, so this much absolute error is always allowed
# (scaled per check). Whatever the answer's dtype: a float32 result cast to float64, or returned as
# a Python float, carries the same error and no longer shows where it came from.
FLOAT32_FLOOR = 1e-6


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
        refusers = [refuse(f"{label}.{name}") for label, owner in owners.items() for name in WRITE_YOURSELF
                    if hasattr(owner, name)]
        stack.enter_context(handed_over(*refusers))  # the student's code calls them: they say why
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
            text = text.split("\n  likely cause:")[0]  # the call stays; the cause here is a more precise one
            raise GradientMismatch(f"{name} raised {type(exc).__name__}: {text}\n  likely cause: {KEEPDIMS}",
                                   cause="shape") from exc


def fails_alike(got, value):
    """Same inf/nan entries as `value`, and close to it elsewhere."""
    if got.shape != value.shape:
        return False
    for kind in (np.isnan, np.isposinf, np.isneginf):
        if not np.array_equal(kind(got), kind(value)):
            return False
    finite = np.isfinite(got)
    return bool(np.allclose(got[finite], value[finite], rtol=1e-3, atol=1e-6))


def require_finite(name, got, z, unstable):
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
        causes = [cause for cause, value in unstable if fails_alike(got, value)]
    causes = list(dict.fromkeys(causes or [cause for cause, _ in unstable]))
    cause = causes[0] if len(causes) == 1 else "one of\n" + "\n".join(f"    - {c}" for c in causes)
    raise GradientMismatch(f"{name} is {got[index]}{where}, for the {rows}.\n  likely cause: {cause}", cause="nan")


def compare(name, got, expected, z, *, unstable=(), floor=0.0, **kwargs):
    """Shape, then inf/nan (named), then values (kwargs: known_mistakes, batch_size).

    floor: an absolute error always allowed (see FLOAT32_FLOOR); the rest of the tolerance is
    the core's for the answer's precision.
    """
    value = as_float64(got, name)
    if value.shape == np.shape(expected):
        require_finite(name, value, z, unstable)
    default_atol = (LOW_PRECISION if is_low_precision(got) else HIGH_PRECISION)[1]
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    atol = max(default_atol, floor / scale) if floor and scale > 0 else None
    check_gradient(name, got, expected, atol=atol, **kwargs)


def compare_forward(name, got, expected, z, **kwargs):
    """compare for softmax and log_softmax, whose shape rule is the shape of z, not a gradient's."""
    shape = as_float64(got, name).shape
    if shape != expected.shape:
        cause = ""
        if shape == expected.shape[:-1]:
            cause = "\n  likely cause: the class axis was summed (or maxed) away."
        elif int(np.prod(shape)) == expected.size:
            cause = "\n  likely cause: the right number of entries in another shape (flattened or transposed?)."
        raise GradientMismatch(
            f"{name} has the wrong shape: expected {expected.shape}, got {shape}.{cause}\n"
            "  It has the shape of z: one value per class for every example.", cause="shape"
        )
    compare(name, got, expected, z, **kwargs)


def loss_number(got, name, N):
    """A loss is one number (in any container of size 1); explain any other shape."""
    size = as_float64(got, name).size
    per_example = (
        f" These {size} numbers look like the N = {N} per-example losses -logp[n, target[n]]: "
        "take their mean." if size == N else ""
    )
    return one_number(got, name, f"\n  The loss is one number, the mean over the N = {N} examples.{per_example}")


@contextlib.contextmanager
def for_inputs(**arrays):
    """Prefix any GradientMismatch with the inputs it was found for (small ones in full)."""
    try:
        yield
    except GradientMismatch as exc:
        raise GradientMismatch(f"With {describe_inputs(arrays)}:\n{exc}") from None


def describe_inputs(arrays):
    parts = []
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.size <= 12:
            parts.append(f"{name} = {np.array2string(value, precision=4, separator=', ', max_line_width=200)}")
        else:
            parts.append(f"{name} of shape {value.shape}")
    return ", ".join(parts)

