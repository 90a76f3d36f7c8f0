"""Chapter 7's references: the forward computations in torch (float64), differentiated by autograd,
and the grader's versions of the graded functions (numpy in, numpy out, torch inside) that stand in
for the student's while a later exercise is graded, so that one mistake costs one test.

Nothing here differentiates by hand: every gradient is torch autograd of a forward computation.
"""
import contextlib
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from ...arrays import as_float64
from ...guard import autograd_allowed


def tensor(array):
    return torch.as_tensor(as_float64(array))


def causal_allowed(T, S):
    """(T, S) booleans: query i may look at key j <= i."""
    return torch.ones(T, S, dtype=torch.bool).tril()


def scaled_scores(q, k, causal=False, scale=None):
    """q kᵀ / sqrt(d), the masked entries at -inf (torch tensors)."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ k.transpose(-1, -2) * scale
    if causal:
        scores = scores.masked_fill(~causal_allowed(*scores.shape[-2:]), float("-inf"))
    return scores


def attention_torch(q, k, v, causal=False):
    """(out, lse) in torch: out from torch's own scaled_dot_product_attention, lse from the scores."""
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return out, torch.logsumexp(scaled_scores(q, k, causal), dim=-1)


def split_heads(a, heads):
    """(B, T, D) -> (B, heads, T, D / heads): each head takes a slice of the features, at every position."""
    B, T, D = a.shape
    return a.reshape(B, T, heads, D // heads).transpose(1, 2)


def merge_heads(a):
    B, H, T, dh = a.shape
    return a.transpose(1, 2).reshape(B, T, H * dh)


def mha_torch(x, Wq, Wk, Wv, Wo, heads, causal=True):
    q, k, v = (split_heads(x @ W, heads) for W in (Wq, Wk, Wv))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return merge_heads(out) @ Wo


def _like(array, template):
    """A result in the dtype of the input it answers (a float32 caller gets float32)."""
    dtype = np.asarray(template).dtype if not isinstance(template, torch.Tensor) else np.float64
    return np.asarray(array, dtype=dtype if np.issubdtype(dtype, np.floating) else np.float64)


def _leaves(*arrays):
    return [torch.tensor(as_float64(a), requires_grad=True) for a in arrays]


@contextlib.contextmanager
def one_thread():
    """torch on one thread for the block: these arrays are tiny, and on a busy machine torch's threads
    wait on each other far longer than they compute (tens of times slower in a training loop)."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


def on_one_thread(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with one_thread():
            return function(*args, **kwargs)
    return wrapper


# --- the grader's versions of the graded functions (same signatures as the notebook's) -------------

@on_one_thread
def reference_attention_forward(q, k, v, causal=False):
    with torch.no_grad():
        out, lse = attention_torch(tensor(q), tensor(k), tensor(v), causal)
    return _like(out.numpy(), q), _like(lse.numpy(), q)


@on_one_thread
def reference_attention_backward(q, k, v, out, lse, dout, causal=False):
    with autograd_allowed():  # the student's code around this call runs with autograd blocked
        leaves = _leaves(q, k, v)
        result, _ = attention_torch(*leaves, causal)
        result.backward(tensor(dout))
    return tuple(_like(t.grad.numpy(), a) for t, a in zip(leaves, (q, k, v)))


@on_one_thread
def reference_mha_forward(x, Wq, Wk, Wv, Wo, heads, causal=True):
    with torch.no_grad():
        y = mha_torch(*map(tensor, (x, Wq, Wk, Wv, Wo)), heads, causal)
    return _like(y.numpy(), x)


@on_one_thread
def reference_mha_backward(x, Wq, Wk, Wv, Wo, heads, dy, causal=True):
    with autograd_allowed():
        leaves = _leaves(x, Wq, Wk, Wv, Wo)
        mha_torch(*leaves, heads, causal).backward(tensor(dy))
    return tuple(_like(t.grad.numpy(), a) for t, a in zip(leaves, (x, Wq, Wk, Wv, Wo)))


ATTENTION_PIECES = {"attention_forward": reference_attention_forward,
                    "attention_backward": reference_attention_backward}
ALL_PIECES = {**ATTENTION_PIECES, "mha_forward": reference_mha_forward, "mha_backward": reference_mha_backward}


def attention_weights(q, k, causal=False):
    """The attention matrix softmax(q kᵀ / sqrt(d)) (for plots), as a float64 numpy array."""
    with torch.no_grad():
        return torch.softmax(scaled_scores(tensor(q), tensor(k), causal), dim=-1).numpy()
