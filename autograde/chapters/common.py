"""Pieces that more than one chapter's checks use: reading an answer that is one number, putting
the grader's reference versions into a notebook while a later exercise is graded, and the staged
softmax h = exp(z), j = sum(h), k = h / j, l = -log(k) that chapters 2 and 4 both write out.
"""
import contextlib
from unittest.mock import patch

import numpy as np
import torch

from ..arrays import as_float64
from ..check import GradientMismatch
from ..off_limits import handed_over


def one_number(value, name, explain=""):
    """An answer that is one number, in whatever container of size 1 it came ((), (1,), (1, 1);
    numpy, torch or Python), as float() and .item() would accept it.

    Returned with shape () (the core checks insist on the reference's shape) but in its own kind
    and dtype, so that the check still sees a float32 answer as float32. Any other size raises
    GradientMismatch, with `explain` added to the message.
    """
    array = as_float64(value, name)
    if array.size != 1:
        raise GradientMismatch(
            f"{name} has the wrong shape: expected one number, got shape {array.shape}.{explain}", cause="shape")
    if isinstance(value, torch.Tensor):
        return value.detach().reshape(())
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value).reshape(())
    return array.reshape(())


@contextlib.contextmanager
def reference_pieces(references, *functions, namespace=None, keep=()):
    """The grader's `references` ({name: right version}) in place of the notebook's functions and
    classes of the same names, all but `keep`, for the duration of the block.

    A student's function looks up the other functions it calls when it runs, in its module's
    globals: `namespace` (normally the notebook's globals()) and the __globals__ of the given
    `functions` (of a class's methods, for a class). With the references there, a mistake in an earlier
    exercise is not counted again in a later one, and the student's code may call them (off_limits).
    patch.dict puts each namespace back as it was, even when the check fails.
    """
    spaces = [namespace, *(getattr(function, "__globals__", None) for function in _with_methods(functions))]
    unique = {id(space): space for space in spaces if isinstance(space, dict)}
    with contextlib.ExitStack() as stack:
        stack.enter_context(handed_over(*(ref for name, ref in references.items() if name not in keep)))
        # graded by the trusted checker, the notebook's names live in the student's kernel: swapped there
        in_kernel = next(filter(None, (getattr(space, "swapped_in_kernel", None) for space in (namespace, *functions))),
                         None)
        if in_kernel is not None:
            stack.enter_context(in_kernel({name: ref for name, ref in references.items() if name not in keep}))
        for space in unique.values():
            swapped = {name: ref for name, ref in references.items() if name in space and name not in keep}
            if swapped:
                stack.enter_context(patch.dict(space, swapped))
        yield


def _with_methods(objects):
    """The functions among `objects`, and the methods of the classes among them (static and class
    methods as the functions they wrap: those have the globals)."""
    for obj in objects:
        if isinstance(obj, type):
            yield from (getattr(value, "__func__", value) for value in vars(obj).values() if callable(value))
        else:
            yield obj


def staged_softmax_torch(z):
    """(h, j, k, l) of the staged softmax in torch: h = exp(z), j = its sum over the classes (kept as
    an axis), k = h / j and l = -log(k), the per-class losses."""
    h = torch.exp(z)
    j = h.sum(dim=1, keepdim=True)
    k = h / j
    return h, j, k, -torch.log(k)
