"""Turn whatever a student returned (numpy, torch, float, list) into a float64 numpy array."""
import numbers

import numpy as np


class NotAnArray(AssertionError):
    """The student returned something that is not a number or an array of numbers."""


def as_float64(value, name="value"):
    """A float64 copy of `value`, detached from any autograd graph.

    Accepts numpy arrays, torch tensors (any dtype or device), Python numbers and nested lists.
    Raises NotAnArray with a message a student can act on for anything else.
    """
    if value is None:
        raise NotAnArray(
            f"{name}: got None. Did the function forget to `return` its result, "
            "or is a line still `raise NotImplementedError()`?"
        )
    if _is_torch_tensor(value):
        if value.is_complex():
            raise NotAnArray(f"{name}: got a complex tensor; gradients here are real.")
        try:
            return value.detach().to("cpu").to_dense().double().numpy().copy()
        except (RuntimeError, TypeError, NotImplementedError) as exc:
            raise NotAnArray(f"{name}: could not read this {value.layout} tensor ({exc}).") from None
    if isinstance(value, (list, tuple)) and any(_is_torch_tensor(v) or isinstance(v, (list, tuple)) for v in value):
        try:
            return np.array([as_float64(v, name) for v in value])
        except ValueError as exc:  # entries of different shapes
            raise NotAnArray(f"{name}: the entries of this {type(value).__name__} have different shapes ({exc}).") from None
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        if isinstance(value, complex):
            raise NotAnArray(f"{name}: got the complex number {value!r}; gradients here are real.")
        return np.asarray(float(value))
    try:
        array = np.asarray(value)
    except Exception as exc:  # ragged lists and odd objects
        raise NotAnArray(f"{name}: could not read {type(value).__name__} as an array ({exc}).") from None
    if np.iscomplexobj(array):
        raise NotAnArray(f"{name}: got complex numbers; gradients here are real.")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise NotAnArray(
            f"{name}: expected numbers, got {type(value).__name__} with dtype {array.dtype}."
        )
    return array.astype(np.float64)


LOW_PRECISION = {"float16", "bfloat16", "float32"}


def is_low_precision(value):
    """True for float32 (or narrower) arrays, tensors and scalars: they get a looser tolerance."""
    if _is_torch_tensor(value):
        return str(value.dtype).removeprefix("torch.") in LOW_PRECISION
    if isinstance(value, (list, tuple)):
        return any(is_low_precision(v) for v in value)
    dtype = getattr(value, "dtype", None)
    return dtype is not None and str(dtype) in LOW_PRECISION


def _is_torch_tensor(value):
    torch = _torch_if_loaded()
    return torch is not None and isinstance(value, torch.Tensor)


def _torch_if_loaded():
    import sys

    return sys.modules.get("torch")
