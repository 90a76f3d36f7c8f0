"""Failures of the grader's own machinery while one submission is graded, as opposed to the student's code.

A fork server that died or answered out of turn, a kernel that could not start: the code that sees
one notes it here (in the grading worker's process);
the worker grades the submission again on a fresh kernel and, if it fails again, reports it as not
graded by the grader's fault (flag G), never as the student's zero.
"""
from contextlib import contextmanager

_noted = []


def note(reason):
    _noted.append(reason)


@contextmanager
def watching():
    """The failures noted while the block runs: a list, filled when the block ends."""
    _noted.clear()
    seen = []
    try:
        yield seen
    finally:
        seen.extend(_noted)
        _noted.clear()
