"""The checker's stand-ins for what stays in the student's kernel: a proxy (Remote) for each of
their objects, whose every use is a request on its channel (remote.Channel), and their exceptions
rebuilt as the builtin kind they were (raised)."""
import functools

from autograde.agent import builtin_kind, with_operators


class StudentRaised(Exception):
    """Base of the exceptions rebuilt from the student's kernel (see raised())."""
    student_traceback = ""


def raised(description):
    """The student's exception, rebuilt: its name, its message, and the most specific builtin
    exception it was one of (so a check's `except ValueError` still catches it)."""
    name = description.get("type")
    name = name if isinstance(name, str) and name.isidentifier() else "StudentError"
    base = builtin_kind(description)
    try:
        kind = type(name, (StudentRaised, base) if base else (StudentRaised,), {})
    except TypeError:
        kind = type(name, (StudentRaised,), {})
    error = kind(str(description.get("message", ""))[:2000])
    error.student_traceback = str(description.get("traceback", ""))[:8000]
    return error


@with_operators
class Remote:
    """A student's object that stays in their kernel: every use is a request."""

    __array_ufunc__ = None  # numpy defers to this class's reflected operators

    def __getattribute__(self, name):
        # the student's module, not this one (checks refuse the grader's own code); the object's own
        # __dict__, not the proxy's (mock.patch.object reads it to restore a method it replaced)
        if name in ("__module__", "__dict__"):
            return self._request(op="getattr", target=object.__getattribute__(self, "_handle"), name=name)
        return object.__getattribute__(self, name)

    def __init__(self, channel, handle):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_handle", handle)

    def _request(self, **fields):
        return object.__getattribute__(self, "_channel").request(**fields)

    def _apply(self, function, *args):
        return self._request(op="apply", function=function, args=list(args))

    def __getattr__(self, name):
        if name.startswith("__") and name not in ("__name__", "__qualname__", "__doc__", "__module__"):
            raise AttributeError(name)
        return self._request(op="getattr", target=object.__getattribute__(self, "_handle"), name=name)

    def __setattr__(self, name, value):
        self._request(op="setattr", target=object.__getattribute__(self, "_handle"), name=name, value=value)

    def __call__(self, *args, **kwargs):
        return self._request(op="call", target=object.__getattribute__(self, "_handle"), args=list(args),
                             kwargs=kwargs)

    def swapped_in_kernel(self, references):
        """See Channel.swapped_in_kernel (a check that names the student's function, not the
        notebook's namespace, swaps the references where that function runs)."""
        return object.__getattribute__(self, "_channel").swapped_in_kernel(references)

    def __copy__(self):  # the object lives in the kernel: the check's copy is the same object
        return self

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        text = self._apply("repr", self)
        return text if isinstance(text, str) else "<student object>"

    def __str__(self):
        text = self._apply("str", self)
        return text if isinstance(text, str) else "<student object>"

    def __len__(self):
        return operator_index(self._apply("len", self))


    def __contains__(self, item):
        return self._apply("contains", self, item) is True


@functools.lru_cache(maxsize=1024)
def _remote_type(name, module):
    return type(name, (Remote,), {"__module__": module, "__qualname__": name})


def remote_type(handle):
    """The proxies' class for an object of the student's: Remote, named as the object's own class
    and in its module, so that a check reading `type(answer)` sees the student's class's name."""
    if handle.kind != "object" or not handle.name.replace(".", "_").isidentifier():
        return Remote
    return _remote_type(handle.name.rpartition(".")[2], handle.module[:200])


def operator_index(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("len() of a student's object was not an integer")
    return value
