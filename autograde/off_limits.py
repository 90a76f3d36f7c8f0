"""While a student's code runs under the guard, the checks' own code is off limits to it.

A solution must be the student's own work: not a call to a reference, a stand-in or a helper of
the checks (the chapters' modules, autograde.reference, the guard's escape hatch), nor a subclass
of one of their classes. The public tools (check_gradient, check_value, numerical_gradient,
relative_error) stay open, and so does whatever a check hands the student's code: the arguments
of the call (a test's layer, a callback, reached through the student's objects too) and the
stand-ins swapped into the notebook so that an earlier exercise is not graded again
(chapters.common.reference_pieces).

How: while student code runs (guard.no_autograd), a trace function sees each Python call (call
events only, no line tracing). A call into the checks' files is followed up the stack past
libraries and the rest of autograde: if the first frame that is either the checks' or the
student's is the student's, and the function was not handed over, the call is refused. A checks'
method running on an instance of a class the student derived from one of theirs is refused too.
A refusal raises inside the student's code and is remembered, so that a solution that catches it
still loses when the guarded block ends.
"""
import collections
import contextlib
import os
import sys
import sysconfig
import threading

PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
CHECKS_FILES = (os.path.join(PACKAGE, "chapters") + os.sep, os.path.join(PACKAGE, "reference.py"))
LIBRARIES = tuple({os.path.abspath(p) + os.sep for p in (sysconfig.get_paths()["stdlib"],
                                                         sysconfig.get_paths()["purelib"],
                                                         sysconfig.get_paths()["platlib"])})


class GraderCodeCalled(AssertionError):
    """A student's function called, or subclassed, the checks' own code."""


_handed = collections.Counter()  # code objects the running checks handed to student code
_public = set()                  # code objects of the checks' modules that students may call


def public(function):
    """Mark a function of the checks' modules as open to students' code (a chapter's data, such as
    the digits split or a generated task, which a training function may load itself)."""
    _public.add(function.__code__)
    return function
_state = threading.local()       # depth and refusals of the guarded block on this thread


def is_checks_file(filename):
    return filename.startswith(CHECKS_FILES)


def is_students_file(filename):
    """Code written in the notebook (or anywhere but a library, the Python install or autograde)."""
    return not (filename.startswith(LIBRARIES) or filename.startswith(PACKAGE) or filename.startswith("<frozen"))


def defined_in_checks(cls):
    return is_checks_file(getattr(sys.modules.get(getattr(cls, "__module__", "")), "__file__", None) or "")


# --- what a check hands over ----------------------------------------------------------------------

def code_of(obj):
    obj = getattr(obj, "__func__", obj)
    if isinstance(obj, property):
        obj = obj.fget
    return getattr(obj, "__code__", None)


def handed_over_code(objects, depth=3, budget=500):
    """The code objects of the checks' functions and classes' methods among `objects`, looked for
    through containers, bound methods and instances' attributes down to `depth` levels."""
    codes, seen, level = set(), set(), list(objects)
    for _ in range(depth + 1):
        following = []
        for obj in level:
            if id(obj) in seen or len(seen) > budget or isinstance(obj, (str, bytes, int, float)):
                continue
            seen.add(id(obj))
            if type(obj).__module__ == "numpy":
                continue
            codes.add(code_of(obj))
            cls = obj if isinstance(obj, type) else type(obj)
            for base in cls.__mro__:
                if defined_in_checks(base):
                    codes.update(code_of(value) for value in vars(base).values())
            if isinstance(obj, (list, tuple, set)):
                following.extend(obj)
            elif isinstance(obj, dict):
                following.extend(obj.values())
            elif hasattr(obj, "__self__"):
                following.append(obj.__self__)
            elif hasattr(obj, "__dict__") and not isinstance(obj, type):
                following.extend(vars(obj).values())
        level = following
    codes.discard(None)
    return codes


@contextlib.contextmanager
def handed_over(*objects):
    """Student code may call `objects` (and what they hold) for the duration of the block."""
    codes = handed_over_code(objects)
    _handed.update(codes)
    try:
        yield
    finally:
        _handed.subtract(codes)


# --- the watch --------------------------------------------------------------------------------------

@contextlib.contextmanager
def watching(what, hatches=()):
    """Refuse calls into the checks' code from the student's code inside the block; `hatches`:
    functions outside the checks' files that are just as off limits (the guard's switch back to
    autograd)."""
    if getattr(_state, "depth", 0):
        _state.depth += 1
        try:
            yield
        finally:
            _state.depth -= 1
        return
    _state.depth, _state.refused = 1, []
    hatches = {code_of(getattr(hatch, '__wrapped__', hatch)) for hatch in hatches}
    previous = sys.gettrace()

    def trace(frame, event, arg):
        if event == "call" and (is_checks_file(frame.f_code.co_filename) or frame.f_code in hatches):
            reason = refusal(frame)
            if reason:
                _state.refused.append(reason)
                raise GraderCodeCalled(message(what, reason))
            if _handed[frame.f_code] > 0 and previous is None:
                return unwatched(frame)
        return previous(frame, event, arg) if previous else None

    def unwatched(frame):
        """Stop seeing calls while a stand-in the check handed over runs (torch's own Python layers
        under autograd would cost a trace call each, thousands of times a training loop), and watch
        again when it returns. What a stand-in calls back is not watched."""
        sys.settrace(None)
        frame.f_trace_lines = False

        def returned(_frame, event, _arg):
            if event == "return":
                sys.settrace(trace)
            return returned
        return returned

    sys.settrace(trace)
    try:
        yield
    finally:
        sys.settrace(previous)
        refused, _state.depth = _state.refused, 0
        if refused and sys.exc_info()[0] is None:
            raise GraderCodeCalled(message(what, refused[0]))


def refusal(frame):
    """Why this call into the checks is off limits, or None."""
    if _handed[frame.f_code] > 0 or frame.f_code in _public:
        return None
    caller = frame.f_back
    while caller is not None:
        filename = caller.f_code.co_filename
        if is_checks_file(filename):
            return student_subclass(frame)
        if is_students_file(filename):
            return f"{frame.f_globals.get('__name__', 'the checks')}.{frame.f_code.co_qualname}"
        caller = caller.f_back
    return None


def student_subclass(frame):
    """'a subclass of ...' when a method of one of the checks' classes runs on an instance (or the
    class) of a class derived from it outside the checks (only a student's code has a reason to)."""
    if not frame.f_code.co_argcount:
        return None
    first = frame.f_locals.get(frame.f_code.co_varnames[0])
    cls = first if isinstance(first, type) else type(first)
    if defined_in_checks(cls):
        return None
    for base in cls.__mro__[1:]:
        if defined_in_checks(base) and frame.f_code in {code_of(value) for value in vars(base).values()}:
            return f"a subclass of {base.__module__}.{base.__qualname__}"
    return None


def message(what, reason):
    return (f"{what} used the grader's own code ({reason}). A solution must be your own work: the "
            "checks' references, stand-ins and helpers are not part of it (only check_gradient, "
            "check_value, numerical_gradient and relative_error from `autograde` are yours to use).")
