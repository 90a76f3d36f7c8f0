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
"""
import contextlib
import copy
import sys

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
    """Set each (owner, attribute, value) for the block; put back what was there afterwards."""
    previous = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in assignments]
    try:
        for owner, attr, value in assignments:
            setattr(owner, attr, value)
        yield previous
    finally:
        for owner, attr, value in previous:
            setattr(owner, attr, value)


@contextlib.contextmanager
def no_autograd(what="this function"):
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
    """Call a student's function with autograd blocked; its name goes into the message."""
    with no_autograd(f"{getattr(function, '__name__', 'your function')}()"):
        return function(*args, **kwargs)


def by_hand_on_copies(function, *args):
    """by_hand on private copies of the arguments: a function that changes its inputs in place
    cannot reach the grader's arrays (references are computed before, on the originals)."""
    try:
        args = copy.deepcopy(args)
    except Exception:  # e.g. a cache holding tensors that are part of a graph; pass it as it is
        pass
    return by_hand(function, *args)
