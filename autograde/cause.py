"""Why a test cell failed, as a code the instructor's mistake report can count without reading English.

A failed check carries a cause code (`GradientMismatch(message, cause="factor_2")`, or the cause
of a known mistake). When an error leaves a notebook cell, or a cell ends with partial credit
(`Report.points`), the kernel adds one output to that cell:

    display_data  {"application/vnd.backprop-lab.cause+json": {"cause": "factor_2"}, "text/plain": ""}

JupyterLab and the feedback pages show nothing for it (an empty text). Outside IPython (plain
python, pytest) nothing is published. This module runs in the student's kernel: it imports nothing
beyond the standard library (IPython only if the kernel already loaded it).

Causes the pipeline knows without the kernel (a timeout, a dead kernel, NotImplementedError,
AutogradCalled, a notebook that could not be graded) come from the error's name and the grading
record instead (autograde.grading.inspection.causes).
"""
import sys

MIME = "application/vnd.backprop-lab.cause+json"

# code -> what it means, in the order the report lists them
CAUSES = {
    "shape": "wrong shape",
    "transposed": "transposed (J where J^T belongs, operands swapped)",
    "broadcast_not_summed": "broadcast axis not summed (or summed over the wrong axis)",
    "sign": "sign flipped",
    "factor_2": "factor of 2 missing or extra",
    "missing_1_over_n": "the 1/N of a mean missing",
    "extra_1_over_n": "a 1/N too many",
    "factor": "another constant factor",
    "fork_overwritten": "a fork overwritten (= where += belongs)",
    "zeros": "all zeros (never accumulated)",
    "gate": "gradient not blocked where it is 0 (ReLU, max, mask)",
    "nan": "NaN or inf (overflow, log 0, division by 0)",
    "precision": "precision lost",
    "specific": "a mistake the exercise's check names",
    "other": "wrong, no recognisable pattern",
    "not_an_array": "not an array (None, missing, unreadable)",
    "error": "the code raised an error",
    "not_implemented": "not implemented (blank)",
    "autograd": "called autograd",
    "timeout": "time limit",
    "memory": "memory limit",
    "kernel_died": "the kernel died",
    "not_run": "not run",
    "not_graded": "notebook could not be graded",
}

_pending = []  # the cause of the last partial-credit Report scored in the running cell


# exceptions that say their cause by their kind (named, so that nothing needs importing here)
BY_TYPE = {"AutogradCalled": "autograd", "NotImplementedError": "not_implemented", "NotAnArray": "not_an_array"}


def cause_of(exc):
    """The cause code of an exception that failed a cell, or None (a crash: the report says "error").

    A check's mismatch re-raised with more words (`raise GradientMismatch(f"{exc} ...") from None`)
    keeps the check's cause: the chain of failed checks it was raised from is searched, outermost
    first; an error of another kind ends the search. Failing that, the class's default_cause, or
    "specific" for the grader's own AssertionError subclasses (a bare AssertionError has none)."""
    seen, current = set(), exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        failed_check = isinstance(current, AssertionError)
        code = (getattr(current, "cause", None) if failed_check else None) or BY_TYPE.get(type(current).__name__)
        if isinstance(code, str) and code:
            return code
        if not failed_check:
            break
        current = current.__cause__ or current.__context__
    if hasattr(exc, "default_cause"):
        return exc.default_cause
    # the grader's own kinds of failure (LibraryCalled, ...) name what went wrong; a bare assert does not
    return "specific" if isinstance(exc, AssertionError) and type(exc) is not AssertionError else None


def partial_credit(code):
    """A Report was scored with failures: the running cell loses points for `code`."""
    _pending[:] = [code]


def emit(code):
    """Publish `code` as an (invisible) output of the running cell; a no-op outside IPython."""
    shell = ipython_shell()
    if shell is None or not code:
        return
    from IPython.display import publish_display_data
    publish_display_data({MIME: {"cause": code}, "text/plain": ""})


def install():
    """Emit the cause of every cell that fails or ends with partial credit (once per kernel)."""
    shell = ipython_shell()
    if shell is None or getattr(shell, "_backprop_lab_causes", False):
        return
    shell.events.register("post_run_cell", _after_cell)
    shell._backprop_lab_causes = True


def _after_cell(result):
    try:
        error = getattr(result, "error_in_exec", None)
        code = cause_of(error) if error is not None else (_pending[0] if _pending else None)
        if code:
            emit(code)
    except Exception:  # noqa: BLE001 (the report must never break a student's notebook)
        pass
    finally:
        _pending.clear()


def ipython_shell():
    """The running IPython shell, or None in plain Python (IPython is never imported for this)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get() if get is not None else None
