"""A test cell run by the trusted checker: its code (visible and hidden parts) runs here, outside
the student's kernel, in a namespace of the checker's own where every name the student defined
is fetched from their kernel (remote.py) on first use. The references, the comparisons and the
verdict are computed here; the outputs are what nbgrader scores, as if the cell had run in the
kernel: a stream of what the test printed, its confirmation line, an error if it failed (and the
failure's cause for the mistake report), the cell's last value (partial credit).
"""
import ast
import builtins
import contextlib
import io

from nbformat.v4 import new_output

from autograde import cause, confirm
from autograde.grading.checker.proxies import StudentRaised
from autograde.grading.checker.remote import Missing, NoAnswer

MAX_PRINTED = 20_000  # characters of what the student's code printed during the test, kept
STUDENT_PRINTED = "[printed by your code while the test ran]\n"


class Namespace(dict):
    """The checker's names first (the setup cell's imports, what earlier tests assigned), then the
    student's, each fetched from their kernel once per cell, then the builtins."""

    def __init__(self, names, channel):
        super().__init__(names)
        self["__builtins__"] = builtins
        self.channel, self.fetched = channel, set()

    def __missing__(self, name):
        if name.startswith("__") or hasattr(builtins, name):
            raise KeyError(name)
        try:
            value = self.channel.request(op="global", name=name)
        except Missing:
            raise KeyError(name) from None
        self[name] = value
        self.fetched.add(name)
        return value

    def swapped_in_kernel(self, references):
        return self.channel.swapped_in_kernel(references)

    def assigned(self):
        """What the cell's own code defined (kept for the test cells after it)."""
        return {name: value for name, value in self.items() if name not in self.fetched and name != "__builtins__"}


def run_in_checker(source, names, channel, label, deadline):
    """Run a test cell's `source` against the student's kernel behind `channel`, by `deadline`
    (time.monotonic()); `names` (the checker's own, updated in place) persist from cell to cell.
    Returns the cell's outputs. TimeoutError and remote.NoAnswer (the kernel hung or died) are the
    caller's to report."""
    namespace = Namespace(names, channel)
    printed = io.StringIO()
    body, last = split_last_expression(source, label)
    confirm._noted.clear()
    cause._pending.clear()
    error, value = None, None
    with channel.serving_cell(deadline), contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        try:
            exec(body, namespace)
            if last is not None:
                value = eval(last, namespace)
        except (TimeoutError, NoAnswer, KeyboardInterrupt):
            raise
        except Exception as failure:  # noqa: BLE001 (a failed test: the verdict, not a crash)
            error = failure
    names.update(namespace.assigned())
    outputs = []
    text = printed.getvalue()
    line = confirm.confirmation(confirm._noted) if error is None else None
    if line:
        text += line + "\n"
    if text:
        outputs.append(new_output("stream", name="stdout", text=text))
    theirs = "".join(channel.printed)
    if theirs:
        outputs.append(new_output("stream", name="stdout", text=STUDENT_PRINTED + theirs[:MAX_PRINTED]))
    if error is not None:
        outputs.append(error_output(error))
    code = cause.cause_of(error) if error is not None else (cause._pending[0] if cause._pending else None)
    if code:
        outputs.append(new_output("display_data", data={cause.MIME: {"cause": code}, "text/plain": ""}))
    if error is None and value is not None:
        outputs.append(new_output("execute_result", data={"text/plain": repr(value)}, execution_count=None))
    confirm._noted.clear()
    cause._pending.clear()
    return outputs


def split_last_expression(source, label):
    """(the cell's statements but a last expression, that expression or None), compiled; as
    IPython does, the value of a cell's last expression is its result."""
    tree = ast.parse(source, filename=label)
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = compile(ast.Expression(tree.body.pop().value), label, "eval")
    return compile(tree, label, "exec"), last


def error_output(error):
    """The failed test as nbgrader scores it and the student reads it: the check's message alone,
    or, for an error raised in the student's code, their own traceback (no line of the test)."""
    name = type(error).__name__
    lines = []
    if isinstance(error, StudentRaised) and error.student_traceback:
        lines = error.student_traceback.rstrip("\n").splitlines()[:-1]
    return new_output("error", ename=name, evalue=str(error), traceback=lines + [f"{name}: {error}"])
