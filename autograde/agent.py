"""The student's side of a trusted check: answers the checker's requests in the student's kernel.

At grading time the test cells do not run in the student's kernel: the checker (autograde/grading/
checker/) runs them in a process of its own, and each time the test uses a name the student defined,
calls a student function, builds an instance of a student class or calls its methods, the checker
sends one request here, through the kernel's own execute channel. The agent does just that one
thing with the student's objects and answers with plain data (wire.py): numbers, strings, arrays,
and numbered handles for whatever stays in the kernel. No test code, no reference and no verdict
ever come here; a student who replaces the agent only changes what their own code answers.

Standard library and numpy only.
"""
import builtins
import operator
import traceback

import numpy as np

from autograde import wire
from autograde.guard import no_autograd

# what the checker may apply to the student's objects (operators, and a few builtins)
FUNCTIONS = {name: getattr(operator, name) for name in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "neg", "pos", "abs",
    "lt", "le", "gt", "ge", "eq", "ne", "getitem", "setitem", "contains")}
FUNCTIONS.update(len=len, repr=repr, str=str, bool=bool, float=float, int=int, list=list)


class Agent:
    """Answers one request at a time; the reply waits in `reply` for the checker to read."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.objects = {}
        self.reply = ""

    def answer(self, text):
        try:
            request = wire.loads(text)
            result = {"value": self.export(self.run(request))}
        except Missing as missing:
            result = {"missing": str(missing)}
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: BLE001 (the student's code may raise anything; the checker decides)
            result = {"raised": describe(error)}
        try:
            self.reply = wire.dumps(result)
        except (wire.WireError, ValueError) as error:
            self.reply = wire.dumps({"raised": describe(error)})

    def run(self, request):
        # the rule of the course while the student's code serves a test, as in the notebook's own
        # checks: no autograd (until the grading kernel has no torch at all)
        with no_autograd(self.describe_target(request)):
            return self._run(request)

    def describe_target(self, request):
        target = request.get("target")
        value = self.objects.get(target.number) if isinstance(target, wire.Handle) else None
        name = getattr(value, "__qualname__", None)
        return name if isinstance(name, str) else "your code"

    def _run(self, request):
        op = request["op"]
        if op == "global":
            if request["name"] not in self.namespace:
                raise Missing(request["name"])
            return self.namespace[request["name"]]
        if op == "getattr":
            return getattr(self.imported(request["target"]), request["name"])
        if op == "setattr":
            return setattr(self.imported(request["target"]), request["name"], self.imported(request["value"]))
        if op == "call":
            return self.imported(request["target"])(*self.imported(request["args"]),
                                                    **self.imported(request["kwargs"]))
        if op == "apply":
            return FUNCTIONS[request["function"]](*self.imported(request["args"]))
        if op == "forget":
            self.objects.clear()
            return None
        raise ValueError(f"unknown request {op!r}")

    def imported(self, value):
        """The checker's arguments, with its handles replaced by the objects they name."""
        if isinstance(value, wire.Handle):
            return self.objects[value.number]
        if isinstance(value, list):
            return [self.imported(item) for item in value]
        if isinstance(value, tuple):
            return tuple(self.imported(item) for item in value)
        if isinstance(value, dict):
            return {key: self.imported(item) for key, item in value.items()}
        return value

    def export(self, value, depth=0):
        """`value` as plain data, with a handle for each part that is not."""
        if depth < wire.MAX_DEPTH:
            if isinstance(value, list):
                return [self.export(item, depth + 1) for item in value]
            if isinstance(value, tuple) and type(value) is tuple:
                return tuple(self.export(item, depth + 1) for item in value)
            if isinstance(value, dict) and type(value) is dict and all(isinstance(key, str) for key in value):
                return {key: self.export(item, depth + 1) for key, item in value.items()}
        if type(value).__module__.partition(".")[0] == "torch" and hasattr(value, "detach"):
            value = np.asarray(value.detach().numpy())  # a torch tensor answers as its numbers
        if type(value) in (list, tuple, dict) or not wire.is_plain(value) or isinstance(value, wire.Handle):
            number = len(self.objects) + 1
            self.objects[number] = value
            kind = "class" if isinstance(value, type) else "callable" if callable(value) else "object"
            name = getattr(value, "__qualname__", None) if kind != "object" else type(value).__name__
            return wire.Handle(number, kind, name if isinstance(name, str) else type(value).__name__)
        return value


class Missing(LookupError):
    """The student's namespace has no such name."""


def describe(error):
    """An exception as the checker rebuilds it: its name, message, the builtin exceptions it is
    one of, and the student's traceback (their own frames, for the feedback)."""
    bases = [cls.__name__ for cls in type(error).__mro__
             if getattr(builtins, cls.__name__, None) is cls and issubclass(cls, BaseException)]
    try:
        message, trace = str(error)[:2000], "".join(traceback.format_exception(error)[-20:])[-8000:]
    except Exception:  # noqa: BLE001 (a student's exception whose __str__ fails)
        message, trace = "(the error's message could not be shown)", ""
    return {"type": str(type(error).__name__), "message": message, "bases": bases, "traceback": trace}
