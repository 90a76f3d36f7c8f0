"""The classic slips of chapter 7, each as the value it gives, computed from torch: autograd of a
forward computation that has the slip built in, or the autograd reference rescaled or rearranged.
No hand-written backward: a slip's value comes from differentiating what the slip amounts to.

The descriptions name the slip and the principle, or ask the question that leads to the fix; none
states the right expression.
"""
import math

import torch

from ...check import Mistake
from ...reference import retained_grads, torch_grads
from .references import causal_allowed, merge_heads, scaled_scores, tensor

NO_SCALE_BACKWARD = (
    "dq and dk are sqrt(d) times too large: the 1/sqrt(d) that scales the scores in the forward pass is "
    "missing in the backward pass. Every path from q or k to the loss goes through the scaled scores.")
NO_ROW_TERM = (
    "the softmax backward lacks its row term: each probability of a row depends on every score of the "
    "row through the normaliser (the log-sum-exp), not only on its own score. Which quantity of the "
    "forward pass is the same for a whole row?")
MASK_LEAK = (
    "gradient flows into masked positions: the recomputed probabilities are not zero where j > i. A "
    "masked score never reached the output, so what can its gradient (and the gradient it passes to "
    "k and v) be?")
DK_TRANSPOSED = (
    "dk looks transposed: a gradient has its variable's shape and layout; which index of the scores "
    "does k's row j feed?")
DQ_TRANSPOSED = (
    "dq looks transposed: a gradient has its variable's shape and layout; which index of the scores "
    "does q's row i feed?")
DV_TRANSPOSED = (
    "dv looks transposed: v's row j is weighted by column j of the attention matrix; which index of "
    "the probabilities does it share with v?")

NO_SCALE_FORWARD = "the scores were not divided by sqrt(d) (d = the last axis of q and k)."
NO_MASK_FORWARD = ("the causal mask was not applied: with causal=True, position i may look only at "
                   "positions j <= i.")
WRONG_AXIS_FORWARD = "the softmax was taken over the wrong axis: each query's row (the last axis) sums to 1."
LSE_UNSCALED = "lse is the log-sum-exp of the scores before the division by sqrt(d): it is of the scaled scores."
LSE_UNMASKED = "lse includes the masked scores: it is the log-sum-exp over the positions a query may look at."


def attention_forward_mistakes(q, k, v, causal):
    """{description: value} for out and for lse."""
    q, k, v = map(tensor, (q, k, v))
    with torch.no_grad():
        out, lse = {}, {}
        unscaled = scaled_scores(q, k, causal, scale=1.0)
        out[NO_SCALE_FORWARD] = torch.softmax(unscaled, -1) @ v
        lse[LSE_UNSCALED] = torch.logsumexp(unscaled, -1)
        if q.shape[-2] == k.shape[-2]:
            out[WRONG_AXIS_FORWARD] = torch.softmax(scaled_scores(q, k, causal), -2) @ v
        if causal:
            full = scaled_scores(q, k, False)
            out[NO_MASK_FORWARD] = torch.softmax(full, -1) @ v
            lse[LSE_UNMASKED] = torch.logsumexp(full, -1)
    return ({text: value.numpy() for text, value in out.items()},
            {text: value.numpy() for text, value in lse.items()})


def attention_backward_mistakes(q, k, v, dout, causal, reference):
    """{"dq"|"dk"|"dv": {description: Mistake}} for the slips of attention_backward.

    reference: the autograd gradients {"q", "k", "v"} and the output {"out"} of the right forward."""
    d = q.shape[-1]
    inputs = dict(q=q, k=k, v=v)
    found = {"dq": {}, "dk": {}, "dv": {}}

    def add(description, grads, cause="specific"):
        for name in "qkv":
            if name in grads:
                found["d" + name][description] = Mistake(grads[name], cause)

    add(NO_SCALE_BACKWARD, {"q": reference["q"] * math.sqrt(d), "k": reference["k"] * math.sqrt(d)})

    def detached_normaliser(q, k, v):  # autograd sees no dependence of the normaliser on the scores
        scores = scaled_scores(q, k, causal)
        return torch.exp(scores - torch.logsumexp(scores, -1, keepdim=True).detach()) @ v
    add(NO_ROW_TERM, torch_grads(detached_normaliser, inputs, upstream=dout))

    if causal:
        row_term = tensor((dout * reference["out"]).sum(-1, keepdims=True))

        def unmasked_recompute(q, k, v):
            # probabilities recomputed from the right lse but without the mask, fed through the same
            # backward: exp(s - lse) on every entry, each entry also carrying the row term
            lse = torch.logsumexp(scaled_scores(q, k, True), -1, keepdim=True).detach()
            leaky = torch.exp(scaled_scores(q, k, False) - lse)
            return (tensor(dout) * (leaky @ v)).sum() - (leaky * row_term).sum()
        add(MASK_LEAK, torch_grads(unmasked_recompute, inputs))

    if q.shape[-2] == k.shape[-2]:
        # the gradient at the (unscaled) score matrix, from autograd; a transposed dk pairs it with q
        # along the wrong index of the scores
        def named(q, k, v):
            scores = q @ k.transpose(-1, -2)
            masked = scores / math.sqrt(d)
            if causal:
                masked = masked.masked_fill(~causal_allowed(*scores.shape[-2:]), float("-inf"))
            out = torch.softmax(masked, -1) @ v
            return dict(scores=scores, loss=(out * tensor(dout)).sum())
        _, grads = retained_grads(named, inputs)
        dscores, qt, kt = tensor(grads["scores"]), tensor(q), tensor(k)
        with torch.no_grad():
            add(DK_TRANSPOSED, {"k": (dscores @ qt).numpy()}, cause="transposed")
            add(DQ_TRANSPOSED, {"q": (dscores.transpose(-1, -2) @ kt).numpy()}, cause="transposed")
            if v.shape[-1] == q.shape[-1]:
                probs = torch.softmax(scaled_scores(qt, kt, causal), -1)
                add(DV_TRANSPOSED, {"v": (probs @ tensor(dout)).numpy()}, cause="transposed")
    return found


# --- multi-head attention ----------------------------------------------------------------------------

HEADS_WRONG_AXIS = (
    "the heads were split along the wrong axis: a head is a slice of the feature axis D at every "
    "position, not a block of positions. Reshape to (B, T, heads, D/heads) first, then move the head axis; "
    "merging undoes exactly that.")
SCALE_OF_D = ("the scores were divided by sqrt(D), the model width: each head's scores are divided by "
              "the square root of the head's own size, D/heads.")
MHA_NO_MASK = "the causal mask was not applied (causal=True): position i may look only at positions j <= i."
USE_DROPPED = (
    "dx lacks the path through {which}: x is used three times (x Wq, x Wk and x Wv), and a value used "
    "several times collects the sum of its shares from every use.")


def wrong_axis_split(a, heads):
    B, T, D = a.shape
    return a.reshape(B, heads, T, D // heads)


def mha_with(x, Wq, Wk, Wv, Wo, heads, causal=True, split=None, scale=None, uses=(True, True, True)):
    """The multi-head forward with a slip built in: another split, another scale, or some of the three
    uses of x cut off from autograd (detached)."""
    split = split or (lambda a, h: a.reshape(a.shape[0], a.shape[1], h, -1).transpose(1, 2))
    xs = [x if used else x.detach() for used in uses]
    q, k, v = (split(xi @ W, heads) for xi, W in zip(xs, (Wq, Wk, Wv)))
    scores = scaled_scores(q, k, causal, scale)
    out = torch.softmax(scores, -1) @ v
    if split is wrong_axis_split:
        return out.reshape(x.shape) @ Wo
    return merge_heads(out) @ Wo


def mha_forward_mistakes(x, W, heads, causal):
    D = x.shape[-1]
    args = [tensor(a) for a in (x, *W)]
    with torch.no_grad():
        found = {SCALE_OF_D: mha_with(*args, heads, causal, scale=1 / math.sqrt(D))}
        if heads > 1:
            found[HEADS_WRONG_AXIS] = mha_with(*args, heads, causal, split=wrong_axis_split)
        if causal:
            found[MHA_NO_MASK] = mha_with(*args, heads, False)
    return {text: value.numpy() for text, value in found.items() if heads > 1 or text != SCALE_OF_D}


def mha_backward_mistakes(x, W, heads, dy, causal):
    """{gradient name: {description: value}} for dx, dWq, dWk, dWv, dWo."""
    names = ("x", "Wq", "Wk", "Wv", "Wo")
    inputs = dict(zip(names, (x, *W)))
    found = {"d" + name: {} for name in names}

    def add(description, fn, only=names):
        grads = torch_grads(fn, inputs, upstream=dy)
        for name in only:
            found["d" + name][description] = grads[name]

    if heads > 1:
        add(HEADS_WRONG_AXIS, lambda **a: mha_with(*a.values(), heads, causal, split=wrong_axis_split))
    for kept, which in (((False, True, True), "q"), ((True, False, True), "k"), ((True, True, False), "v"),
                        ((True, False, False), "k and v"), ((False, True, False), "q and v"),
                        ((False, False, True), "q and k")):
        add(USE_DROPPED.format(which=which), lambda kept=kept, **a: mha_with(*a.values(), heads, causal, uses=kept),
            only=("x",))
    return found
