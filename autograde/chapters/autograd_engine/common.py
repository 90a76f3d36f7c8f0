"""What the checks of chapter 5 share: running student code, reading what it made, and naming mistakes."""
import contextlib
import sys

import numpy as np

from ... import confirm
from ...arrays import as_float64, is_low_precision
from ...check import (
    HIGH_PRECISION, LOW_PRECISION, GradientMismatch, check_gradient, check_value, is_close, tolerance_for,
)
from ...guard import no_autograd

DEEP = 5_000  # operations in the deep chain: five times Python's recursion limit


class EngineFailed(GradientMismatch):
    """The student's engine raised, returned something unreadable, or computed a wrong number."""


def describe(exc):
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, NotImplementedError):
        text += " (a method it needs is not written yet)"
    return text


@contextlib.contextmanager
def running(what):
    """Student code with autograd blocked. An exception (other than a failed check) becomes a
    failure that says what was being computed; a RecursionError gets its own explanation."""
    try:
        with no_autograd(what):
            yield
    except AssertionError:  # a check that failed, or the guard: its message is already the feedback
        raise
    except RecursionError:
        raise EngineFailed(
            f"{what} raised RecursionError on a chain of {DEEP:,} operations: a function that calls "
            f"itself once per node goes {DEEP:,} calls deep, and Python stops at about "
            f"{sys.getrecursionlimit()}. Walk the graph with a loop and a list used as an explicit stack "
            "instead of recursion.") from None
    except Exception as exc:
        raise EngineFailed(f"{what} raised {describe(exc)}") from None


def read(node, attribute, what):
    """node.data or node.grad, or a failure that says which is missing."""
    try:
        return getattr(node, attribute)
    except Exception as exc:
        raise EngineFailed(f"reading .{attribute} of {what} raised {describe(exc)}") from None


def tolerance(nodes):
    """The float32 tolerance if any node holds float32 data or gradients (a float32 engine is fine)."""
    answers = [getattr(node, name, None) for node in nodes for name in ("data", "grad")]
    return tolerance_for(np.float64, *[a for a in answers if a is not None])


def agrees(got, expected, **tol):
    """Whether `got` matches `expected` in shape and value (the tolerance of check_gradient), without
    noting the comparison: a passing check notes one summary instead (verified)."""
    got = as_float64(got, "the answer")
    expected = np.asarray(expected, dtype=np.float64)
    rtol, atol = LOW_PRECISION if is_low_precision(got) else HIGH_PRECISION
    return got.shape == expected.shape and bool(is_close(got, expected, tol.get("rtol", rtol),
                                                         tol.get("atol", atol)).all())


def verified(*names, gradient=True):
    """What a passing check verified: the test cell then ends with '✓ <names> match autograd'."""
    for name in names:
        confirm.passed(name, gradient)


def compare(names, values, grads, ref_values, ref_grads, tol, *, mistakes=None, skip=(), shared_scale=True):
    """Every node's .data in forward order, then every .grad from the root down, so that the first
    wrong gradient reported is where the backward pass first went wrong.

    names: what each node is called in messages, with {} where .data or .grad goes
        ("v3{} (v3 = v1 * v2)", "in `A * B`, B{}").
    tol: the tolerance keywords (tolerance()).
    mistakes: {index: {description: value}} known wrong gradients of a node.
    skip: indices whose gradient is not checked (the root).
    shared_scale: an entry passes when it is within tolerance of the largest value or gradient of the
        whole graph (for scalar graphs: float32 rounding where a sum cancels to nearly 0, as in the
        gradient of a / a, is not a mistake); otherwise each node is judged on its own scale. The node
        then reported is checked on its own scale, which is stricter, so it fails there too.
    """
    mistakes = mistakes or {}
    rtol, atol = tol.get("rtol", HIGH_PRECISION[0]), tol.get("atol", HIGH_PRECISION[1])
    keep = [i for i in range(len(names)) if i not in skip]
    for what, got, expected, order, check in (
            ("data", values, ref_values, list(range(len(names))), check_value),
            ("grad", grads, ref_grads, keep[::-1], check_gradient)):
        arrays = [as_float64(got[i], names[i].format("." + what)) for i in order]
        wrong = [i for i, array in zip(order, arrays) if array.shape != np.shape(expected[i])]
        if not wrong and order:
            if shared_scale:  # the reference values join in (exactly matched) to set the scale
                scale = np.concatenate([np.reshape(v, -1) for v in ref_values])
                flat = np.concatenate([array.reshape(-1) for array in arrays] + [scale])
                close = is_close(flat, np.concatenate([np.reshape(expected[i], -1) for i in order] + [scale]),
                                 rtol, atol)[:-scale.size]
                ends = np.cumsum([array.size for array in arrays])
                ok = [bool(part.all()) for part in np.split(close, ends[:-1])]
            else:
                ok = [bool(is_close(array, np.asarray(expected[i], dtype=float), rtol, atol).all())
                      for i, array in zip(order, arrays)]
            wrong = [i for i, passed in zip(order, ok) if not passed]
        if wrong:
            i = wrong[0]
            extra = dict(known_mistakes=mistakes.get(i)) if what == "grad" else {}
            check(names[i].format("." + what), got[i], expected[i], **extra, **tol)
            raise EngineFailed(f"{names[i].format('.' + what)} is wrong: expected {expected[i]}, got {got[i]}.")


def with_context(check, *lines, unless=None):
    """Run check(); if it fails, add the lines (the graph, a hint) to its message; a line is left
    out when its phrase in `unless` ({line: phrase}) is in the message already."""
    try:
        check()
    except GradientMismatch as exc:
        unless = unless or {}
        extra = "\n".join(line for line in lines if line and unless.get(line, "\0") not in str(exc))
        raise EngineFailed(f"{exc}\n{extra}" if extra else str(exc)) from None


def reject_grader_code(answer, name):
    """An answer must be the student's own, not the grader's reference imported under its name."""
    module = getattr(answer, "__module__", "") or ""
    if module.split(".")[0] == "autograde":
        raise EngineFailed(f"{name} is the grader's own code (from {module}), not yours: write it yourself.")
