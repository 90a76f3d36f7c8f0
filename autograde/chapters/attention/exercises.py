"""Chapter 7, exercises 1 to 4: attention_forward, attention_backward (recomputing the probabilities
from lse), mha_forward and mha_backward, each against torch autograd in float64, the known slips
named; and each backward timed against its forward (autograde/cost.py).

The multi-head checks run with the grader's attention_forward and attention_backward in the
notebook's place (reference_pieces), so that a slip in exercise 1 or 2 is not counted again.
"""
import math

import numpy as np
import torch

from ...arrays import as_float64
from ...check import GradientMismatch, check_gradient, check_value, tolerance_for
from ...cost import check_costs_like_a_backward
from ...guard import by_hand_on_copies
from ...reference import randn, torch_grads
from ..common import reference_pieces
from . import mistakes as slips
from .references import ATTENTION_PIECES, attention_torch, mha_torch, reference_attention_forward, tensor

WITH_REFERENCES = ("(graded with the grader's attention_forward and attention_backward in place of yours, "
                   "so that a mistake there is not counted twice)")


def attention_inputs(seed, batch, T, S, d, dv, dtype, extreme=False):
    """q, k, v and an upstream gradient dout.

    extreme: every row of scores is shifted by a constant of either sign between 800 and 1200, far past
    where exp overflows (709) or underflows, while the differences within a row stay as usual. (A
    shift cancels in the softmax, so a float32 answer can still be exact to float32's precision:
    the shift comes from q's first feature against a key feature that is exactly 1.)"""
    q = randn(seed, *batch, T, d)
    k = randn(seed + 1, *batch, S, d)
    if extreme:
        rng = np.random.default_rng(seed + 4)
        shift = rng.uniform(800, 1200, size=(*batch, T)) * rng.choice([-1.0, 1.0], size=(*batch, T))
        q[..., 0] = shift * math.sqrt(d)
        k[..., 0] = 1.0
    v = randn(seed + 2, *batch, S, dv)
    dout = randn(seed + 3, *batch, T, dv)
    return q.astype(dtype), k.astype(dtype), v.astype(dtype), dout


def pair(result, what, names):
    """The two or three arrays a function returns, or a message saying what came back instead."""
    if not isinstance(result, (tuple, list)) or len(result) != len(names):
        got = f"a {type(result).__name__} of {len(result)}" if isinstance(result, (tuple, list)) \
            else type(result).__name__
        raise GradientMismatch(f"{what} should return a tuple ({', '.join(names)}); it returned {got}.",
                               cause="shape")
    return result


def extreme_tolerance(dtype, *answers):
    """Scores near 1000 carry an absolute rounding error of about 1e-4 in float32 (its spacing there),
    which the probabilities inherit as a relative error: a float32 answer gets ten times the usual
    float32 tolerance, still far from every named slip. A float64 answer keeps the float64 one."""
    tol = tolerance_for(dtype, *answers)
    return {name: 10 * value for name, value in tol.items()}


def case(batch, T, S, d, causal, extreme):
    scores = ", scores shifted past 800" if extreme else ""
    return f"(batch axes {tuple(batch)}, T={T}, S={S}, d={d}, causal={causal}{scores})"


def check_attention_forward(attention_forward, seed, batch=(2,), T=5, S=None, d=4, dv=3, causal=False,
                            dtype=np.float64, extreme=False):
    S = T if S is None else S
    q, k, v, _ = attention_inputs(seed, batch, T, S, d, dv, dtype, extreme)
    with torch.no_grad():
        out_ref, lse_ref = (t.numpy() for t in attention_torch(*map(tensor, (q, k, v)), causal))
    out_slips, lse_slips = slips.attention_forward_mistakes(q, k, v, causal)
    out, lse = pair(by_hand_on_copies(attention_forward, q, k, v, causal), "attention_forward", ("out", "lse"))
    where = case(batch, T, S, d, causal, extreme)
    tol = tolerance_for(dtype, out, lse) if not extreme else extreme_tolerance(dtype, out, lse)
    check_value(f"out {where}", out, out_ref, known_mistakes=out_slips, **tol)
    check_value(f"lse {where}", lse, lse_ref, known_mistakes=lse_slips, **tol)


def check_attention_backward(attention_backward, seed, batch=(2,), T=5, S=None, d=4, dv=3, causal=False,
                             dtype=np.float64, extreme=False):
    """The student's backward gets the right out and lse (torch's), so only the backward is graded."""
    S = T if S is None else S
    q, k, v, dout = attention_inputs(seed, batch, T, S, d, dv, dtype, extreme)
    ref = torch_grads(lambda q, k, v: attention_torch(q, k, v, causal)[0], dict(q=q, k=k, v=v), upstream=dout)
    out, lse = reference_attention_forward(q, k, v, causal)
    ref["out"] = as_float64(out)
    known = slips.attention_backward_mistakes(as_float64(q), as_float64(k), as_float64(v), dout, causal, ref)
    grads = pair(by_hand_on_copies(attention_backward, q, k, v, out, lse, dout.astype(dtype), causal),
                 "attention_backward", ("dq", "dk", "dv"))
    where = case(batch, T, S, d, causal, extreme)
    tol = tolerance_for(dtype, *grads) if not extreme else extreme_tolerance(dtype, *grads)
    for name, got in zip(("dv", "dk", "dq"), (grads[2], grads[1], grads[0])):  # dv needs the fewest steps
        check_gradient(f"{name} {where}", got, ref[name[1]], known_mistakes=known[name], **tol)


def check_attention_backward_cost(attention_forward, attention_backward, seed=0, batch=(2, 2), T=24, d=12):
    """On q, k, v of 3,456 entries: perturbing each takes about 7,000 forward passes (seconds), an honest
    backward about two forward passes (a millisecond)."""
    q, k, v, dout = attention_inputs(seed, batch, T, T, d, d, np.float64)
    out, lse = reference_attention_forward(q, k, v, True)
    try:
        by_hand_on_copies(attention_forward, q, k, v, True)
        forward = attention_forward
    except Exception:  # a broken forward is exercise 1's test; time the grader's instead
        print("(your attention_forward raised an error, so the grader's forward is the yardstick)")
        forward = reference_attention_forward
    check_costs_like_a_backward(
        "attention_backward", entries=q.size + k.size + v.size,
        forward=lambda: by_hand_on_copies(forward, q, k, v, True),
        backward=lambda: by_hand_on_copies(attention_backward, q, k, v, out, lse, dout, True))


# --- multi-head attention -------------------------------------------------------------------------

def mha_inputs(seed, B, T, D, dtype):
    x = randn(seed, B, T, D).astype(dtype)
    W = [randn(seed + 1 + i, D, D, scale=1 / math.sqrt(D)).astype(dtype) for i in range(4)]
    dy = randn(seed + 5, B, T, D)
    return x, W, dy


def check_mha_forward(mha_forward, seed, B=2, T=5, D=8, heads=2, causal=True, dtype=np.float64, namespace=None,
                      quiet=False):
    x, W, _ = mha_inputs(seed, B, T, D, dtype)
    with torch.no_grad():
        y_ref = mha_torch(*map(tensor, (x, *W)), heads, causal).numpy()
    known = slips.mha_forward_mistakes(as_float64(x), [as_float64(w) for w in W], heads, causal)
    with reference_pieces(ATTENTION_PIECES, mha_forward, namespace=namespace):
        y = by_hand_on_copies(mha_forward, x, *W, heads, causal)
    where = f"(B={B}, T={T}, D={D}, heads={heads}, causal={causal})"
    check_value(f"y {where}", y, y_ref, known_mistakes=known, **tolerance_for(dtype, y))
    if not quiet:
        print(f"mha_forward {where}: {WITH_REFERENCES}")


def check_mha_backward(mha_backward, seed, B=2, T=5, D=8, heads=2, causal=True, dtype=np.float64, namespace=None,
                       quiet=False):
    x, W, dy = mha_inputs(seed, B, T, D, dtype)
    names = ("x", "Wq", "Wk", "Wv", "Wo")
    ref = torch_grads(lambda **a: mha_torch(*a.values(), heads, causal), dict(zip(names, (x, *W))), upstream=dy)
    known = slips.mha_backward_mistakes(as_float64(x), [as_float64(w) for w in W], heads, dy, causal)
    with reference_pieces(ATTENTION_PIECES, mha_backward, namespace=namespace):
        grads = pair(by_hand_on_copies(mha_backward, x, *W, heads, dy.astype(dtype), causal), "mha_backward",
                     tuple("d" + n for n in names))
    where = f"(B={B}, T={T}, D={D}, heads={heads}, causal={causal})"
    tol = tolerance_for(dtype, *grads)
    for name, got in reversed(list(zip(names, grads))):  # dWo first: it is nearest the output
        check_gradient(f"d{name} {where}", got, ref[name], known_mistakes=known["d" + name], **tol)
    if not quiet:
        print(f"mha_backward {where}: {WITH_REFERENCES}")


def check_mha_backward_cost(mha_forward, mha_backward, seed=0, B=2, T=24, D=16, heads=2, namespace=None):
    """On x and the weights, 1,792 entries: perturbing each takes about 3,600 forward passes (seconds)."""
    x, W, dy = mha_inputs(seed, B, T, D, np.float64)
    with reference_pieces(ATTENTION_PIECES, mha_forward, mha_backward, namespace=namespace):
        try:
            by_hand_on_copies(mha_forward, x, *W, heads, True)
            forward = mha_forward
        except Exception:
            print("(your mha_forward raised an error, so the grader's forward is the yardstick)")
            from .references import reference_mha_forward as forward
        check_costs_like_a_backward(
            "mha_backward", entries=x.size + sum(w.size for w in W),
            forward=lambda: by_hand_on_copies(forward, x, *W, heads, True),
            backward=lambda: by_hand_on_copies(mha_backward, x, *W, heads, dy, True))
