"""How chapter 3 receives a student's answer: refused when it is the grader's own code, and an
exception it raised, told in one line."""
from ...check import GradientMismatch


def reject_grader_code(answer, name):
    """An answer must be the student's own, not one of the grader's pieces imported under its name."""
    parts = [answer] + ([getattr(answer, m, None) for m in ("forward", "backward")] if isinstance(answer, type) else [])
    for part in parts:
        module = getattr(part, "__module__", None) or ""
        if module.split(".")[0] == "autograde":
            raise GradientMismatch(f"{name} is the grader's own code (from {module}), not yours: write it yourself.")


def describe(exc):
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, NotImplementedError):
        text += " (a function it needs is not written yet)"
    return text
