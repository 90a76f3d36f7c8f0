"""Make torch autograd unavailable while a hand-written backward pass runs.

    with no_autograd("staged_backward"):
        dx, dy = staged_backward(cache)

Torch tensors and their arithmetic still work; only the ways into automatic differentiation
raise AutogradCalled: the named entry points (`Tensor.backward`, `torch.autograd.backward` /
`grad`), the backward engine underneath them (which also catches a `grad` imported before the
guard and everything in `torch.func` built on reverse mode), and forward mode (`make_dual`,
used by `torch.func.jvp` / `jacfwd`).

The grader's own reference code may need autograd while a student's function is running (a
test that swaps reference pieces into a notebook): `autograd_allowed()` lifts the guard for
the duration of a block.

`by_hand` (and `by_hand_on_copies`, which every chapter calls its student functions through) also
explains an error raised inside the student's code. The exception keeps its type, its traceback and
its message, and its message gains the call ("in staged_forward(x, y), called with x: numpy float64
array of shape (3, 4), ...") and, when the error is a familiar one, what it usually means (a
function written with `math` or `float()` for single numbers, an `if` on an array, a forgotten
`return`, ...). A blank answer's NotImplementedError says only that the function is not
implemented yet. The grader's own messages (AssertionError subclasses such as AutogradCalled or
GradientMismatch) pass through untouched, and so does anything that is not an Exception.
"""
import contextlib
import copy
import inspect
import re
import sys

from . import off_limits

_originals = []  # one list of (owner, attribute, original value) per active guard, outermost first


class AutogradCalled(AssertionError):
    """A function that must compute its gradient by hand called autograd."""


def _blockers(torch, what):
    """(owner, attribute, replacement) for every way into autograd."""
    from torch.autograd import forward_ad
    from torch.autograd.variable import Variable

    def refuse(api):
        def blocked(*args, **kwargs):
            raise AutogradCalled(
                f"{what} called torch autograd ({api}). Autograd is not allowed in solutions: compute "
                "this by hand (the chain rule) instead of calling .backward(), torch.autograd or torch.func."
            )
        return blocked

    class RefusingEngine:  # stands in for the C++ engine that every reverse-mode call reaches
        run_backward = staticmethod(refuse("the autograd engine"))

    return [
        (torch.Tensor, "backward", refuse("Tensor.backward")),
        (torch.autograd, "backward", refuse("torch.autograd.backward")),
        (torch.autograd, "grad", refuse("torch.autograd.grad")),
        (Variable, "_execution_engine", RefusingEngine()),
        (forward_ad, "make_dual", refuse("forward-mode autograd")),
    ]


@contextlib.contextmanager
def _swapped(assignments):
    """Set each (owner, attribute, value) for the block; yield what was there (autograd_allowed puts it
    back for a moment). Plain setattr, not mock.patch: a stand-in's backward switches autograd on and
    off thousands of times in a training loop. An attribute the owner only inherited is deleted again."""
    previous = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in assignments]
    own = [attr in vars(owner) for owner, attr, _ in assignments]
    for owner, attr, value in assignments:
        setattr(owner, attr, value)
    try:
        yield previous
    finally:
        for (owner, attr, value), was_own in zip(previous, own):
            if was_own:
                setattr(owner, attr, value)
            else:
                delattr(owner, attr)


@contextlib.contextmanager
def no_autograd(what="this function"):
    """Student code runs in the block: autograd refused, and the checks' own code off limits."""
    with off_limits.watching(what, hatches=(autograd_allowed,)):
        torch = sys.modules.get("torch")
        if torch is None:  # nothing imported torch, so nothing can call autograd
            yield
            return
        with _swapped(_blockers(torch, what)) as previous:
            _originals.append(previous)
            try:
                yield
            finally:
                _originals.pop()


@contextlib.contextmanager
def autograd_allowed():
    """Autograd on for the block even inside no_autograd (for the grader's own references)."""
    if not _originals:
        yield
        return
    with _swapped(_originals[0]):
        yield


def by_hand(function, *args, **kwargs):
    """Call a student's function with autograd blocked; its name goes into the message. An error
    raised inside it is re-raised (same type, same traceback) with the call explained."""
    __tracebackhide__ = True  # IPython: an error shows the student's code, not this frame
    with off_limits.handed_over(function, *args, *kwargs.values()), \
            no_autograd(f"{getattr(function, '__name__', 'your function')}()"):
        try:
            return function(*args, **kwargs)
        except Exception as exc:
            explain_error(exc, function, args, kwargs)
            raise


def by_hand_on_copies(function, *args):
    """by_hand on private copies of the arguments: a function that changes its inputs in place
    cannot reach the grader's arrays (references are computed before, on the originals)."""
    __tracebackhide__ = True
    try:
        args = copy.deepcopy(args)
    except Exception:  # e.g. a cache holding tensors that are part of a graph; pass it as it is
        pass
    return by_hand(function, *args)


# --- errors raised inside a student's function ----------------------------------------------------

SCALAR_ONLY = (
    "a function written for single numbers got an array: math.exp, math.log, math.tanh, float() and "
    "int() take one number. The tests call this function with numpy arrays too, so it must work "
    "elementwise: use np.exp, np.log, np.tanh and array arithmetic instead."
)
IF_ON_ARRAY = (
    "an `if`, `and`, `or`, `max()` or `min()` was applied to a whole array, which has no single truth "
    "value. The tests call this function with arrays too: use elementwise operations "
    "(np.where, np.maximum, np.minimum) instead of branching on a value."
)
SHAPES_CLASH = (
    "two arrays whose shapes do not line up were combined elementwise. Print the shapes of the "
    "intermediates: a reduction without keepdims=True, a missing reshape, or a transpose is the usual cause."
)
MATMUL_CLASH = (
    "a matrix product whose inner dimensions differ: check the shapes of both operands and which one "
    "needs a transpose."
)
INDEXING = (
    "the indexing assumes another shape than the argument has. The tests call this function with "
    "other shapes than the visible test (a flat vector, a column, a batch): index with the shapes "
    "you are given (x.shape, axis=-1) rather than with fixed numbers."
)
NONE_VALUE = (
    "a value is None: a function (a forward, a backward or a helper) is missing its `return`, or a "
    "variable was never set."
)
SIGNATURE = (
    "the function was called as the exercise specifies, but its parameters differ: keep the names and "
    "parameters of the functions as given."
)
TORCH_GOT_NUMPY = (
    "a torch function got a numpy array (the tests pass numpy float64 arrays): convert it with "
    "torch.as_tensor(...), or use the numpy function instead."
)
NUMPY_NOT_TORCH = (
    "a torch method was called on a numpy array (the tests pass numpy float64 arrays): use the numpy "
    "spelling (.sum(axis=...), keepdims=True, .T, np.exp), or convert with torch.as_tensor(...) first."
)
MISSING_KEY = (
    "a key that is not there: a backward pass reads the cache its forward pass returned (the tests "
    "hand your forward's cache to your backward), so store under that key whatever backward reads."
)

# (exception types, pattern of the message or None for any, what it usually means); first match wins
LIKELY_CAUSES = [
    ((TypeError, ValueError), r"only (0-dimensional|length-1|size-1|one element|integer scalar) "
                              r"(arrays|tensors)|must be real number, not|can't convert", SCALAR_ONLY),
    ((ValueError, RuntimeError), r"truth value of an array|Boolean value of Tensor", IF_ON_ARRAY),
    ((ValueError, RuntimeError), r"matmul|shapes cannot be multiplied|not aligned|mat1 and mat2|"
                                 r"size mismatch|inconsistent tensor size", MATMUL_CLASH),
    ((ValueError, RuntimeError), r"could not be broadcast|must match the size|non-broadcastable", SHAPES_CLASH),
    ((TypeError, AttributeError), r"NoneType", NONE_VALUE),
    ((TypeError,), r"missing \d+ required|takes \d+ positional|takes from \d+ to \d+|unexpected keyword",
     SIGNATURE),
    ((TypeError,), r"must be Tensor, not numpy|expected Tensor|not numpy\.ndarray", TORCH_GOT_NUMPY),
    ((AttributeError,), r"'numpy\.ndarray' object has no attribute", NUMPY_NOT_TORCH),
    ((IndexError,), None, INDEXING),
    ((KeyError,), None, MISSING_KEY),
]


def explain_error(exc, function, args=(), kwargs=None):
    """Add to `exc` (in place) the call it came from and, if recognised, its likely cause.

    The grader's messages (subclasses of AssertionError: GradientMismatch, AutogradCalled, ...) are
    left alone, and an error is explained once, by the innermost call that saw it. The message is
    extended where str(exc) is built from exc.args (almost every error: what nbgrader and the
    tests show); otherwise the explanation is attached as a note (PEP 678).
    """
    if isinstance(exc, AssertionError) and type(exc) is not AssertionError:
        return
    if getattr(exc, "_autograde_explained", False):
        return
    try:
        exc._autograde_explained = True
    except AttributeError:
        return
    name = _qualname(function)
    if isinstance(exc, NotImplementedError) and not str(exc):
        raised_in = _raised_in(exc)
        message = f"{name}() is not implemented yet"
        if raised_in and raised_in.split(".")[-1] != name.split(".")[-1]:
            message += f" (it calls {raised_in}(), which is not)"
        _set_message(exc, message + ": write your code where it says YOUR CODE HERE and delete the line "
                                    "`raise NotImplementedError()`.")
        return
    lines = [f"in {name}({', '.join(_parameters(function, args, kwargs or {}))}), called with "
             f"{describe_arguments(function, args, kwargs or {})}"]
    cause = likely_cause(exc)
    if cause:
        lines.append(f"likely cause: {cause}")
    _set_message(exc, "\n  ".join([str(exc)] + lines) if str(exc) else "\n  ".join(lines),
                 note="  " + "\n  ".join(lines))


def likely_cause(exc):
    text = str(exc)
    for types, pattern, cause in LIKELY_CAUSES:
        if isinstance(exc, types) and (pattern is None or re.search(pattern, text)):
            return cause
    return None


def _set_message(exc, message, note=None):
    """Make str(exc) read `message` where str is built from exc.args (almost every error); else keep
    the exception as it is (a KeyError, whose str is its key; an OSError's fields) and add `note`."""
    if len(exc.args) <= 1 and all(isinstance(a, str) for a in exc.args):
        original = exc.args
        try:
            exc.args = (message,)
            if str(exc) == message:
                return
        except Exception:
            pass
        exc.args = original
    exc.add_note(note or message)


def _qualname(function):
    """Square.forward for a method, staged_forward for a function (wherever it was defined)."""
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None) or type(function).__name__
    return name.split("<locals>.")[-1]


def _raised_in(exc):
    """The qualified name of the function whose frame raised exc (its traceback's last frame)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return None
    code = tb.tb_frame.f_code
    return getattr(code, "co_qualname", code.co_name).split("<locals>.")[-1]


def _bound(function, args, kwargs):
    """[(parameter name, value)] for the call, by the function's signature when it binds."""
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
        return list(bound.arguments.items())
    except (TypeError, ValueError):
        return [(f"argument {i + 1}", a) for i, a in enumerate(args)] + list(kwargs.items())


def _parameters(function, args, kwargs):
    return [name for name, _ in _bound(function, args, kwargs)]


def describe_arguments(function, args, kwargs):
    pairs = _bound(function, args, kwargs)
    if not pairs:
        return "no arguments"
    return ", ".join(f"{name}: {describe(value)}" for name, value in pairs)


def describe(value, depth=0):
    """A short description of a value: its kind, dtype and shape, never its whole content."""
    torch = sys.modules.get("torch")
    np = sys.modules.get("numpy")
    if torch is not None and isinstance(value, torch.Tensor):
        dtype = str(value.dtype).replace("torch.", "")
        return f"torch {dtype} tensor of shape {tuple(value.shape)}"
    if np is not None and isinstance(value, np.ndarray):
        if value.ndim == 0:
            return f"numpy {value.dtype} 0-d array ({value.item()!r})"
        return f"numpy {value.dtype} array of shape {value.shape}"
    if np is not None and isinstance(value, np.generic):
        return f"numpy {value.dtype} scalar {value.item()!r}"
    if value is None or isinstance(value, (bool, int, float, complex)):
        return f"{type(value).__name__} {value!r}"
    if isinstance(value, str):
        return f"str {value[:40]!r}"
    if isinstance(value, (list, tuple)):
        if depth or len(value) > 6:
            return f"{type(value).__name__} of {len(value)}"
        return f"{type(value).__name__} of {len(value)} [{', '.join(describe(v, depth + 1) for v in value)}]"
    if isinstance(value, dict):
        keys = list(value)
        shown = ", ".join(repr(k) for k in keys[:10]) + (", ..." if len(keys) > 10 else "")
        return f"dict with keys {shown}" if keys else "empty dict"
    if callable(value):
        return f"{type(value).__name__} {_qualname(value)}"
    return f"{type(value).__name__} object"
