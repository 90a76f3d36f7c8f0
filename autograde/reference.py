"""Reference gradients from torch autograd in float64, and seeded inputs for tests.

Visible tests use seeds the student can read; hidden tests use other seeds and other shapes.
"""
import numpy as np
import torch


def randn(seed, *shape, scale=1.0):
    """Standard normal float64 array of the given shape, reproducible from `seed`."""
    return scale * np.random.default_rng(seed).standard_normal(shape)


def as_leaf(value):
    """A float64 leaf tensor that records gradients (integer arrays stay integer, without grad)."""
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.integer):
        return torch.as_tensor(array, dtype=torch.long)
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def torch_grads(fn, inputs, upstream=None):
    """Gradients of fn(**inputs) with respect to every float input, as float64 numpy arrays.

    fn gets float64 tensors; a non-scalar output needs `upstream`, the vector v of a
    vector-Jacobian product (what `y.backward(v)` computes).
    """
    leaves = {name: as_leaf(value) for name, value in inputs.items()}
    out = fn(**leaves)
    if upstream is None:
        out.backward()
    else:
        out.backward(torch.as_tensor(np.asarray(upstream), dtype=torch.float64).expand_as(out))
    return {name: _grad_of(t) for name, t in leaves.items() if t.requires_grad}


def retained_grads(fn, inputs):
    """Gradient of the last value fn returns with respect to every named intermediate and input.

    fn(**leaves) returns a dict {name: tensor} in forward order, the scalar loss last; each
    intermediate keeps its gradient (`retain_grad`) as in Karpathy's backprop exercises.
    Returns (values, grads), both dicts of float64 numpy arrays.
    """
    leaves = {name: as_leaf(value) for name, value in inputs.items()}
    named = fn(**leaves)
    for t in named.values():
        if t.requires_grad and not t.is_leaf:
            t.retain_grad()
    loss = list(named.values())[-1]
    loss.backward()
    values = {name: t.detach().numpy().copy() for name, t in named.items()}
    grads = {name: _grad_of(t) for name, t in {**leaves, **named}.items() if t.requires_grad}
    return values, grads


def _grad_of(tensor):
    if tensor.grad is None:  # the output does not depend on it
        return np.zeros(tuple(tensor.shape))
    return tensor.grad.detach().numpy().copy()
