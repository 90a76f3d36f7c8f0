"""The `cmp` table for "every intermediate" exercises: one row per variable, and partial credit.

    report = compare_all(student_grads, autograd_grads)
    print(report)               # variable | result | exact | maxdiff, then each failure explained
    report.points(out_of=4)     # a cell's last expression: nbgrader reads it as partial credit
"""
from dataclasses import dataclass

import numpy as np

from . import cause as _cause
from . import confirm as _confirm
from .arrays import NotAnArray, as_float64
from .check import GradientMismatch, check_gradient


@dataclass
class Row:
    name: str
    status: str  # "ok", "wrong", "shape", "missing", "unreadable"
    exact: bool = False
    maxdiff: float = float("nan")
    message: str = ""
    cause: str = ""  # a code of autograde.cause.CAUSES when the row failed

    @property
    def passed(self):
        return self.status == "ok"


class Report:
    def __init__(self, rows):
        self.rows = rows

    @property
    def fraction(self):
        """Share of variables whose gradient is right, in [0, 1]."""
        return sum(row.passed for row in self.rows) / len(self.rows) if self.rows else 0.0

    def points(self, out_of):
        """Partial credit: out_of times the share of right rows, rounded to 2 decimals. With a row
        wrong, the cell this is scored in records the report's cause (autograde.cause)."""
        if self.failures:
            _cause.partial_credit(self.cause)
        return round(out_of * self.fraction, 2)

    @property
    def failures(self):
        return [row for row in self.rows if not row.passed]

    @property
    def cause(self):
        """The cause code of the first wrong row (rows run from the loss back: the first wrong one
        is where the mistake starts), or None when every row is right."""
        failures = self.failures
        return (failures[0].cause or "other") if failures else None

    def __str__(self):
        width = max([len(row.name) for row in self.rows] + [8])
        lines = [f"{'variable':{width}s} | {'result':10s} | exact | maxdiff"]
        lines.append("-" * len(lines[0]))
        for row in self.rows:
            diff = "" if np.isnan(row.maxdiff) else f"{row.maxdiff:.2e}"
            lines.append(f"{row.name:{width}s} | {row.status:10s} | {str(row.exact):5s} | {diff}")
        right = sum(row.passed for row in self.rows)
        lines.append(f"{right} of {len(self.rows)} gradients right")
        for row in self.failures:
            lines.append("")
            lines.append(row.message)
        return "\n".join(lines)

    __repr__ = __str__


def merged(*reports):
    """One Report over the rows of several (partial credit over every case)."""
    return Report([row for report in reports for row in report.rows])


def every_case(reports):
    """One Report over several test cases: a stage counts only if it is right in all of them."""
    rows = []
    for same_stage in zip(*(report.rows for report in reports)):
        failed = [row for row in same_stage if not row.passed]
        rows.append(failed[0] if failed else same_stage[0])
    return Report(rows)


def compare_all(got, expected, *, rtol=None, atol=None, batch_size=None, known_mistakes=None):
    """Compare every name in `expected` with the same name in `got`.

    Each row's problem (missing, unreadable, wrong shape or value) is recorded, not raised;
    only a `got` that is not a dict at all raises NotAnArray.
    known_mistakes: {name: {description: wrong value}}, as in check_gradient.
    """
    __tracebackhide__ = True  # IPython: a failure shows the message, not this frame
    if not isinstance(got, dict):
        raise NotAnArray(f"expected a dict of gradients keyed by name, got {type(got).__name__}.")
    known_mistakes = known_mistakes or {}
    rows = [_row(name, got, ref, rtol, atol, batch_size, known_mistakes.get(name)) for name, ref in expected.items()]
    for row in rows:
        if not row.passed:  # a wrong row costs points without an error: the cell confirms nothing
            _confirm.failed(row.name)
    return Report(rows)


def _row(name, got, reference, rtol, atol, batch_size, known_mistakes):
    if name not in got:
        return Row(name, "missing", message=f"{name}: missing from the returned dict.", cause="not_an_array")
    raw = got[name]
    try:
        value = as_float64(raw, name)
    except NotAnArray as exc:
        return Row(name, "unreadable", message=str(exc), cause="not_an_array")
    reference = as_float64(reference, f"reference for {name}")
    if value.shape != reference.shape:
        status, exact, maxdiff = "shape", False, float("nan")
    else:
        status, exact = "ok", bool(np.array_equal(value, reference))
        maxdiff = float(np.max(np.abs(value - reference))) if value.size else 0.0
    try:
        check_gradient(name, raw, reference, rtol=rtol, atol=atol, batch_size=batch_size,
                       known_mistakes=known_mistakes)
    except GradientMismatch as exc:
        return Row(name, "shape" if status == "shape" else "wrong", exact, maxdiff, str(exc), _cause.cause_of(exc))
    return Row(name, status, exact, maxdiff)
