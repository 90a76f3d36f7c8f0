"""The student's side of a trusted check: answers the checker's requests in the student's kernel.

At grading time the test cells do not run in the student's kernel: the checker (autograde/grading/
checker/) runs them in a process of its own, and each time the test uses a name the student defined,
calls a student function, builds an instance of a student class or calls its methods, the checker
sends one request here. The agent does just that one thing with the student's objects and answers
with plain data (wire.py): numbers, strings, arrays, and numbered handles for whatever stays in the
kernel. For each test cell the checker asks the kernel, on its execute channel, to `serve` on a
unix socket in the kernel's own folder: requests and answers then go over that socket
(multiprocessing.connection's framing, no pickle), a fraction of a millisecond each, and what the
student's code prints meanwhile is the output of that one execution. No test code, no reference and no verdict
ever come here; a student who replaces the agent only changes what their own code answers.

A test may hand the student's code objects of its own (a layer to put in the student's network, a
function to differentiate, the reference version of an earlier exercise): they stay in the checker
too, and each use from the kernel is a question back to it on the same socket (CheckerProxy),
answered with plain data.

Standard library and numpy only.
"""
import builtins
import functools
import operator
import traceback
from multiprocessing.connection import Listener

import numpy as np

from autograde import wire
from autograde.guard import no_autograd

# what the checker may apply to the student's objects (operators, and a few builtins)
FUNCTIONS = {name: getattr(operator, name) for name in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "neg", "pos", "abs",
    "lt", "le", "gt", "ge", "eq", "ne", "getitem", "setitem", "contains")}
FUNCTIONS.update(len=len, repr=repr, str=str, bool=bool, float=float, int=int, list=list)


class Agent:
    """Answers the checker's requests, one at a time, while it serves a test cell."""

    def __init__(self, namespace):
        self.namespace = namespace
        self.objects = {}  # number -> each object of the kernel's the checker was sent (kept: its id stays its own)
        self.object_numbers = {}  # id -> number: the same object, the same handle
        self.mine = wire.TrackedArrays()  # this kernel's arrays the checker was sent
        self.theirs = wire.ChangingCopies()  # this kernel's copies of the checker's arrays
        self.saved = []  # the notebook's own values of names the checker swapped
        self.connection = None  # to the checker, while serving

    def serve(self, address):
        """Answer the checker's requests on a unix socket at `address` until it is done."""
        with Listener(address, family="AF_UNIX") as listener:
            self.connection = listener.accept()
        try:
            while True:
                message = self.connection.recv_bytes(wire.MAX_BYTES)
                if message == DONE:
                    return
                self.connection.send_bytes(self.answer(message))
        finally:
            self.connection.close()
            self.connection = None
            self.theirs.clear()  # the checker keeps its arrays for one test cell

    def answer(self, message):
        try:
            request = wire.loads(message)
            result = {"value": self.export(self.run(request))}
        except Missing as missing:
            result = {"missing": str(missing)}
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: BLE001 (the student's code may raise anything; the checker decides)
            result = {"raised": describe(error)}
        result.update(self.changed())
        try:
            return wire.dumps(result)
        except (wire.WireError, ValueError) as error:
            return wire.dumps({"raised": describe(error)})

    def changed(self):
        """{"sync": [...]}: the checker's arrays this kernel changed in place since it last said."""
        changes = [wire.Tracked(number, array, "checker") for number, array in self.theirs.changed()]
        return {"sync": changes} if changes else {}

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
        if op == "swap":  # the checker's versions of these names in the notebook, until "restore"
            swapped = self.imported(request["names"])
            self.saved.append({name: self.namespace[name] for name in swapped if name in self.namespace})
            self.namespace.update({name: value for name, value in swapped.items() if name in self.namespace})
            return None
        if op == "restore":
            self.namespace.update(self.saved.pop())
            return None
        raise ValueError(f"unknown request {op!r}")

    def imported(self, value):
        """The checker's arguments, with its handles replaced by the objects they name."""
        return wire.walk(value, self._imported)

    def _imported(self, value):
        if isinstance(value, wire.Callback):
            return CheckerProxy(self, value)
        if isinstance(value, wire.Tracked):
            if value.owner == "kernel":  # one of this kernel's arrays, with the checker's values
                return wire.refreshed(self.mine.get(value.number), value.array)
            return self.theirs.received(value.number, value.array)  # this kernel's copy of the checker's
        if isinstance(value, wire.Handle):
            return self.objects[value.number]
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
        if isinstance(value, CheckerProxy):
            return object.__getattribute__(value, "_callback")
        if isinstance(value, wire.Handle):  # the agent's own requests name what they are about as handles
            return value
        if type(value).__module__.partition(".")[0] == "torch" and hasattr(value, "detach"):
            value = np.asarray(value.detach().numpy())  # a torch tensor answers as its numbers
        if isinstance(value, np.ndarray) and self.theirs.number_of(value) is not None:
            return wire.Tracked(self.theirs.number_of(value), value, "checker")
        if isinstance(value, np.ndarray):
            return wire.Tracked(self.mine.add(value), value)
        if type(value) in (list, tuple, dict) or not wire.is_plain(value):
            number = self.object_numbers.get(id(value))
            if number is None:
                number = self.object_numbers[id(value)] = len(self.objects) + 1
                self.objects[number] = value
            kind = "class" if isinstance(value, type) else "callable" if callable(value) else "object"
            name = getattr(value, "__qualname__", None) if kind != "object" else type(value).__qualname__
            return wire.Handle(number, kind, name if isinstance(name, str) else type(value).__name__,
                               str(type(value).__module__))
        return value


    def ask(self, **request):
        """Ask the checker to use one of its objects (it is waiting for this kernel's answer, and
        takes a question instead)."""
        if self.connection is None:
            raise RuntimeError("the test's objects can be used only while the test runs")
        request = {**self.export(request), **self.changed()}
        self.connection.send_bytes(ASKING + wire.dumps(request))
        while True:  # the checker may ask back about this kernel's objects before it answers
            message = self.connection.recv_bytes(wire.MAX_BYTES)
            if not message.startswith(ASKING):
                break
            self.connection.send_bytes(self.answer(message[len(ASKING):]))
        answer = wire.loads(message)
        if isinstance(answer, dict) and "value" in answer:
            return self.imported(answer["value"])
        raise checker_error(answer.get("raised") if isinstance(answer, dict) else None)


ASKING = b"?"  # how a question asked while the other side waits for an answer starts (an answer
# starts with its JSON's length)
DONE = b"done"  # the checker's last message of a test cell


def with_operators(cls):
    """`cls` with Python's arithmetic, comparison and unary operators, truth, float, indexing and
    iteration, each one `self._apply(name, ...)`: a stand-in on either side (the checker's proxies of the student's objects, the kernel's
    of the test's) takes the operators of the code that uses it, applied where the object lives."""
    def binary(name):
        return (lambda self, other: self._apply(name, self, other),
                lambda self, other: self._apply(name, other, self))

    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
        forward, reflected = binary(name)
        setattr(cls, f"__{name}__", forward)
        setattr(cls, f"__r{name}__", reflected)
    for name in ("lt", "le", "gt", "ge", "eq", "ne"):
        setattr(cls, f"__{name}__", binary(name)[0])
    for name in ("neg", "pos", "abs"):
        setattr(cls, f"__{name}__", lambda self, _name=name: self._apply(_name, self))
    cls.__bool__ = lambda self: self._apply("bool", self) is True
    cls.__float__ = lambda self: float(self._apply("float", self))
    cls.__getitem__ = lambda self, key: self._apply("getitem", self, key)
    cls.__setitem__ = lambda self, key, value: self._apply("setitem", self, key, value)
    cls.__iter__ = lambda self: iter(self._apply("list", self))
    cls.__hash__ = object.__hash__  # identity, as for any object (defining __eq__ dropped it)
    return cls


@with_operators
class CheckerProxy:
    """An object of the checker's, used from the student's code: calls and attributes are asked."""

    def __init__(self, agent, callback):
        object.__setattr__(self, "_agent", agent)
        object.__setattr__(self, "_callback", callback)

    def __call__(self, *args, **kwargs):
        return self._agent.ask(op="call", target=self._callback, args=list(args), kwargs=kwargs)

    def __get__(self, instance, owner=None):
        """Set on a class of the student's (a test counting their method's calls), a test's function
        binds to the instance as a function does."""
        if instance is None or self._callback.kind != "callable":
            return self
        return functools.partial(self, instance)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._callback.methods:
            return CheckerMethod(self._agent, self._callback, name)
        return self._agent.ask(op="getattr", target=self._callback, name=name)

    def __setattr__(self, name, value):
        self._agent.ask(op="setattr", target=self._callback, name=name, value=value)

    def _apply(self, function, *args):
        return self._agent.ask(op="apply", function=function, args=list(args))

    def __repr__(self):
        return f"<the test's {self._callback.name or self._callback.kind}>"

    __array_ufunc__ = None  # numpy defers to this class's reflected operators

    def __len__(self):
        return self._apply("len", self)



class CheckerMethod:
    """A method of one of the checker's objects: calling it is one question."""

    def __init__(self, agent, callback, name):
        self._agent, self._callback, self.__name__ = agent, callback, name

    def __call__(self, *args, **kwargs):
        return self._agent.ask(op="call", target=self._callback, name=self.__name__, args=list(args), kwargs=kwargs)

    def __repr__(self):
        return f"<method {self.__name__} of the test's {self._callback.name or self._callback.kind}>"


def checker_error(description):
    """An error the checker's object raised, as the student's code sees it: the builtin exception
    it was one of, with its message."""
    description = description if isinstance(description, dict) else {}
    base = builtin_kind(description) or RuntimeError
    return base(f"{description.get('type', 'Error')}: {description.get('message', '')}")


def builtin_kind(description):
    """The most specific builtin Exception class a described exception was one of (None if none):
    names that are not builtins' are never looked up anywhere else."""
    bases = description.get("bases", ())
    for name in bases if isinstance(bases, list) else ():
        kind = getattr(builtins, name, None) if isinstance(name, str) else None
        if isinstance(kind, type) and issubclass(kind, Exception):
            return kind
    return None


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
