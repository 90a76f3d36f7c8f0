"""Chapter 4's right answers, in torch autograd (float64): the smoothing convention, the written-out
network with every named intermediate, the reference versions of the notebook's graded functions,
and the hypergradient.

The references are also what `call` swaps into a notebook while a later exercise is graded, so that
one mistake costs points once. They then run inside the student's guarded call (`by_hand`), so they
switch autograd back on for their own duration only (`with_autograd`).
"""
import functools

import numpy as np
import torch
import torch.nn.functional as F

from ...arrays import as_float64
from ...guard import autograd_allowed, by_hand_on_copies
from ..common import reference_pieces, staged_softmax_torch


def with_autograd(function):
    """`function` with autograd on while it runs, even inside the guard around a student's call."""
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with autograd_allowed():
            return function(*args, **kwargs)
    return wrapper


PARAMS = ("W0", "b0", "W1", "b1")
NET_PART = ("f", "d", "c", "a", "W1", "b1", "W0", "b0")
INTERMEDIATES = ("a", "c", "d", "f", "g", "z", "h", "j", "k", "l", "n1", "n2", "n3", "n4", "m", "o")


# --- the convention, in torch ------------------------------------------------------------------

def torch_label_smoothing(alpha, num_classes):
    """torch's `label_smoothing` eps for this chapter's alpha: eps = alpha * K / (K - 1)."""
    return alpha * num_classes / (num_classes - 1)


def targets_torch(target, num_classes, alpha, *, wrong_share=None, true_weight=None):
    """q (N, K): 1 - alpha on the true class, alpha / (K - 1) on each other one.

    wrong_share / true_weight replace alpha / (K - 1) and 1 - alpha to build a known mistake.
    """
    target = torch.as_tensor(np.asarray(target), dtype=torch.long)
    alpha = torch.as_tensor(alpha, dtype=torch.float64)
    onehot = F.one_hot(target, num_classes).double()
    wrong = alpha / (num_classes - 1) if wrong_share is None else wrong_share(alpha, num_classes)
    true = 1 - alpha if true_weight is None else true_weight(alpha, num_classes)
    return onehot * true + (1 - onehot) * wrong


def smoothed_nll_torch(logits, target, alpha, **mistake):
    """Mean over the batch of sum_i q_i * (-log softmax(logits)_i)."""
    K = logits.shape[-1]
    q = targets_torch(target, K, alpha, **mistake)
    return -(q * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


# The typical wrong targets, as (description, wrong_share, true_weight) for targets_torch.

# --- the written-out network, in torch ---------------------------------------------------------

def network_torch(params, x, y, alpha):
    """Every named intermediate of the notebook's network_forward, as torch tensors, in order."""
    W0, b0, W1, b1 = (params[n] for n in PARAMS)
    N, K = x.shape[0], W1.shape[0]
    is_target = F.one_hot(torch.as_tensor(np.asarray(y), dtype=torch.long), K).bool()
    a = x @ W0.T
    c = a + b0
    d = torch.relu(c)
    f = d @ W1.T
    g = f + b1
    z = g - g.max(dim=1, keepdim=True).values.detach()  # a constant shift; softmax is unchanged
    h, j, k, l = staged_softmax_torch(z)
    n1 = alpha * torch.ones(N, K, dtype=torch.float64)
    n2 = n1 / (K - 1)
    n3 = 1 - alpha
    n4 = torch.where(is_target, n3, n2)
    m = l * n4
    o = m.sum() / N
    return dict(a=a, c=c, d=d, f=f, g=g, z=z, h=h, j=j, k=k, l=l, n1=n1, n2=n2, n3=n3, n4=n4, m=m, o=o)


def tensors(params, dtype=torch.float64, grad=False):
    return {n: torch.tensor(as_float64(params[n], n), dtype=dtype, requires_grad=grad) for n in PARAMS}


def logits_torch(params, x):
    return torch.relu(x @ params["W0"].T + params["b0"]) @ params["W1"].T + params["b1"]


def make_cache(params, x, y, alpha, dtype=np.float64):
    """What the notebook's network_forward returns: inputs, parameters, every intermediate."""
    with torch.no_grad():
        values = network_torch(tensors(params), torch.as_tensor(as_float64(x)), y,
                                torch.tensor(float(alpha), dtype=torch.float64))
    cache = dict(x=np.asarray(x, dtype=dtype), y=np.asarray(y), alpha=alpha)
    cache["is_target"] = np.arange(values["g"].shape[1]) == cache["y"][:, None]
    cache.update({n: np.asarray(params[n], dtype=dtype) for n in PARAMS})
    cache.update({n: t.numpy().astype(dtype) for n, t in values.items()})
    cache["n3"], cache["o"] = float(cache["n3"]), float(cache["o"])
    return cache


@with_autograd
def network_grads(cache):
    """Autograd's gradient of o for every parameter, every intermediate and alpha (float64)."""
    params = tensors(cache, grad=True)
    alpha = torch.tensor(float(cache["alpha"]), dtype=torch.float64, requires_grad=True)
    named = network_torch(params, torch.as_tensor(as_float64(cache["x"])), cache["y"], alpha)
    wrt = {**{n: named[n] for n in INTERMEDIATES[:-1]}, "alpha": alpha, **params}
    grads = torch.autograd.grad(named["o"], list(wrt.values()), allow_unused=True)
    return {n: np.zeros(tuple(t.shape)) if g is None else g.numpy() for (n, t), g in zip(wrt.items(), grads)}


# --- reference versions of the notebook's functions ---------------------------------------------

def ref_smooth_targets(target, num_classes, alpha):
    return targets_torch(target, num_classes, float(alpha)).numpy()


def ref_smoothed_nll(logits, target, alpha):
    return float(smoothed_nll_torch(torch.as_tensor(as_float64(logits)), target, float(alpha)))


@with_autograd
def ref_smoothed_nll_grad(logits, target, alpha, **mistake):
    z = torch.tensor(as_float64(logits), requires_grad=True)
    a = torch.tensor(float(alpha), dtype=torch.float64, requires_grad=True)
    dz, da = torch.autograd.grad(smoothed_nll_torch(z, target, a, **mistake), [z, a], allow_unused=True)
    return dz.numpy(), 0.0 if da is None else float(da)


@with_autograd
def ref_network_backward(cache, dg):
    """The vector-Jacobian product of the logits g with upstream dg, for each of NET_PART."""
    params = tensors(cache, grad=True)
    x = torch.as_tensor(as_float64(cache["x"]))
    named = network_torch(params, x, cache["y"], torch.tensor(0.0, dtype=torch.float64))
    wrt = {n: named[n] for n in ("f", "d", "c", "a")} | params
    grads = torch.autograd.grad(named["g"], list(wrt.values()), torch.as_tensor(as_float64(dg)))
    return {n: g.numpy() for n, g in zip(wrt, grads)}


def ref_sgd_update(params, grads, lr):
    # a new dict of new arrays: a loop that keeps the old parameters around keeps them unchanged
    return {name: as_float64(value, name) - lr * as_float64(grads[name], name) for name, value in params.items()}


@with_autograd
def hypergradient_torch(params, s, x_train, y_train, x_val, y_val, lr):
    """dL_val(theta')/ds by autograd through the unrolled step theta' = theta - lr grad L_train."""
    theta = tensors(params, grad=True)
    s = torch.tensor(float(s), dtype=torch.float64, requires_grad=True)
    alpha = torch.sigmoid(s)
    x_train, x_val = (torch.as_tensor(as_float64(v)) for v in (x_train, x_val))
    train_loss = smoothed_nll_torch(logits_torch(theta, x_train), y_train, alpha)
    grads = torch.autograd.grad(train_loss, list(theta.values()), create_graph=True)
    new = {n: theta[n] - lr * g for n, g in zip(theta, grads)}
    val_loss = smoothed_nll_torch(logits_torch(new, x_val), y_val, 0.0)
    (ds,) = torch.autograd.grad(val_loss, [s])
    return float(ds)


def ref_alpha_hypergradient(params, s, x_train, y_train, x_val, y_val, lr):
    return hypergradient_torch(params, s, x_train, y_train, x_val, y_val, lr)


REFERENCES = {
    "smooth_targets": ref_smooth_targets,
    "smoothed_nll": ref_smoothed_nll,
    "smoothed_nll_grad": ref_smoothed_nll_grad,
    "network_backward": ref_network_backward,
    "alpha_hypergradient": ref_alpha_hypergradient,
    "sgd_update": ref_sgd_update,
}


def call(function, *args, namespace=None, own=()):
    """Run student code on private copies of the arguments with autograd blocked, and with the
    reference versions of the notebook's other graded functions (all but `own`) in place."""
    with reference_pieces(REFERENCES, namespace=namespace, keep=own):
        return by_hand_on_copies(function, *args)


def sigmoid(s):
    return 1 / (1 + np.exp(-s))
