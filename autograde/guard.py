"""Make torch autograd unavailable while a hand-written backward pass runs.

    with no_autograd("staged_backward"):
        dx, dy = staged_backward(cache)

Torch tensors and their arithmetic still work; only the ways into automatic differentiation
raise AutogradCalled: the named entry points (`Tensor.backward`, `torch.autograd.backward` /
`grad`), the backward engine underneath them (which also catches a `grad` imported before the
guard and everything in `torch.func` built on reverse mode), and forward mode (`make_dual`,
used by `torch.func.jvp` / `jacfwd`).
"""
import contextlib
import sys


class AutogradCalled(AssertionError):
    """A function that must compute its gradient by hand called autograd."""


@contextlib.contextmanager
def no_autograd(what="this function"):
    torch = sys.modules.get("torch")
    if torch is None:  # nothing imported torch, so nothing can call autograd
        yield
        return

    def refuse(api):
        def blocked(*args, **kwargs):
            raise AutogradCalled(
                f"{what} called torch autograd ({api}). This exercise asks for the gradient by hand: "
                "apply the chain rule yourself instead of calling .backward() or torch.autograd."
            )
        return blocked

    class RefusingEngine:  # stands in for the C++ engine that every reverse-mode call reaches
        run_backward = staticmethod(refuse("the autograd engine"))

    from torch.autograd import forward_ad
    from torch.autograd.variable import Variable

    patches = [
        (torch.Tensor, "backward", refuse("Tensor.backward")),
        (torch.autograd, "backward", refuse("torch.autograd.backward")),
        (torch.autograd, "grad", refuse("torch.autograd.grad")),
        (Variable, "_execution_engine", RefusingEngine()),
        (forward_ad, "make_dual", refuse("forward-mode autograd")),
    ]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    try:
        for owner, attr, replacement in patches:
            setattr(owner, attr, replacement)
        yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


def by_hand(function, *args, **kwargs):
    """Call a student's function with autograd blocked; its name goes into the message."""
    with no_autograd(f"{getattr(function, '__name__', 'your function')}()"):
        return function(*args, **kwargs)
