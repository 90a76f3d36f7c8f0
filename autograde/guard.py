"""Make torch autograd unavailable while a hand-written backward pass runs.

    with no_autograd("staged_backward"):
        dx, dy = staged_backward(cache)

Torch tensors and their arithmetic still work; only the calls that run the backward engine
(`Tensor.backward`, `torch.autograd.backward` / `grad`, and `torch.func`, which goes through
`torch.autograd.grad`) raise AutogradCalled.
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

    patches = [
        (torch.Tensor, "backward", "Tensor.backward"),
        (torch.autograd, "backward", "torch.autograd.backward"),
        (torch.autograd, "grad", "torch.autograd.grad"),
    ]
    saved = [(owner, attr, getattr(owner, attr)) for owner, attr, _ in patches]
    try:
        for owner, attr, api in patches:
            setattr(owner, attr, refuse(api))
        yield
    finally:
        for owner, attr, original in saved:
            setattr(owner, attr, original)


def by_hand(function, *args, **kwargs):
    """Call a student's function with autograd blocked; its name goes into the message."""
    with no_autograd(f"{getattr(function, '__name__', 'your function')}()"):
        return function(*args, **kwargs)
