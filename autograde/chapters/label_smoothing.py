"""Checks for chapter 4 (label smoothing, its gradients, and a learned smoothing coefficient).

Convention (the seed's): for K classes, the true class gets 1 - alpha and each of the other K - 1
classes gets alpha / (K - 1). The loss is sum_i q_i * (-log p_i), a MEAN over the batch. This is
torch's `cross_entropy(..., label_smoothing=eps)` with eps = alpha * K / (K - 1); eps <= 1 means
alpha <= (K - 1) / K, the uniform target. A larger alpha (allowed here, since alpha = sigmoid(s) can
reach it) gives each wrong class more weight than the true one.

The network is the seed's two-layer net on a batch: rows of x are examples, W0 is (H, D) and W1 is
(K, H) as in `W0 x`, logits g = relu(x W0^T + b0) W1^T + b1.

Every reference is torch autograd in float64. The references are also what `reference_pieces`
swaps into a notebook while a later exercise is graded, so that one mistake costs points once.
They then run inside the student's guarded call (`by_hand`), so they switch autograd back on for
their own duration only (`autograd_allowed`). Every reference and known-mistake value is computed
before the student's code runs, and that code gets private copies of its inputs.

The training loop is graded by replaying it: a reference loop (torch) that learns s with the
hypergradient must end at the same s and parameters, so a loop that lowers alpha some other way
(the training loss's own dalpha, a fixed small alpha) does not pass.
"""
import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..arrays import NotAnArray, as_float64
from ..check import GradientMismatch, check_gradient, check_value, tolerance_for
from ..guard import autograd_allowed, by_hand_on_copies
from ..reference import randn
from ..table import Report, compare_all
from ..table import merged  # noqa: F401 (the notebook calls grader.merged)
from . import digits
from .common import one_number, reference_pieces, staged_softmax_mistakes

def with_autograd(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with autograd_allowed():
            return function(*args, **kwargs)
    return wrapper


def _autograd_grad(*args, **kwargs):
    return torch.autograd.grad(*args, **kwargs)


PARAMS = ("W0", "b0", "W1", "b1")
LOSS_PART = ("m", "n4", "n3", "n2", "n1", "alpha", "l", "k", "j", "h", "z", "g")
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
ALPHA_OVER_K = (
    "each wrong class got alpha / K. The alpha taken from the true class is shared by the K - 1 "
    "OTHER classes, so each gets alpha / (K - 1); with alpha / K a row of q sums to 1 - alpha / K, "
    "not 1. (For K = 2 the one wrong class gets all of alpha.)"
)
TORCH_CONVENTION = (
    "this is torch's label_smoothing=alpha convention (alpha spread over all K classes, so the true "
    "class keeps 1 - alpha + alpha / K). Here the true class gets exactly 1 - alpha and each of the "
    "K - 1 others alpha / (K - 1); torch's eps equals alpha * K / (K - 1)."
)
WEIGHT_ONE = (
    "the true class kept weight 1. It must give up the alpha it shares out: q[n, y_n] = 1 - alpha, "
    "so that every row of q sums to 1."
)
TARGET_MISTAKES = [
    (ALPHA_OVER_K, lambda a, K: a / K, None),
    (TORCH_CONVENTION, lambda a, K: a / K, lambda a, K: 1 - a + a / K),
    (WEIGHT_ONE, None, lambda a, K: torch.ones_like(a)),
    (WEIGHT_ONE + " Also, " + ALPHA_OVER_K, lambda a, K: a / K, lambda a, K: torch.ones_like(a)),
]


def call(function, *args, namespace=None, own=()):
    """Run student code on private copies of the arguments with autograd blocked, and with the
    reference versions of the notebook's other graded functions (all but `own`) in place."""
    with reference_pieces(REFERENCES, namespace=namespace, keep=own):
        return by_hand_on_copies(function, *args)


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
    h = torch.exp(z)
    j = h.sum(dim=1, keepdim=True)
    k = h / j
    l = -torch.log(k)
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
    grads = _autograd_grad(named["o"], list(wrt.values()), allow_unused=True)
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
    dz, da = _autograd_grad(smoothed_nll_torch(z, target, a, **mistake), [z, a], allow_unused=True)
    return dz.numpy(), 0.0 if da is None else float(da)


@with_autograd
def ref_network_backward(cache, dg):
    """The vector-Jacobian product of the logits g with upstream dg, for each of NET_PART."""
    params = tensors(cache, grad=True)
    x = torch.as_tensor(as_float64(cache["x"]))
    named = network_torch(params, x, cache["y"], torch.tensor(0.0, dtype=torch.float64))
    wrt = {n: named[n] for n in ("f", "d", "c", "a")} | params
    grads = _autograd_grad(named["g"], list(wrt.values()), torch.as_tensor(as_float64(dg)))
    return {n: g.numpy() for n, g in zip(wrt, grads)}


def ref_manual_backward(cache):
    return network_grads(cache)


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
    grads = _autograd_grad(train_loss, list(theta.values()), create_graph=True)
    new = {n: theta[n] - lr * g for n, g in zip(theta, grads)}
    val_loss = smoothed_nll_torch(logits_torch(new, x_val), y_val, 0.0)
    (ds,) = _autograd_grad(val_loss, [s])
    return float(ds)


def ref_alpha_hypergradient(params, s, x_train, y_train, x_val, y_val, lr):
    return hypergradient_torch(params, s, x_train, y_train, x_val, y_val, lr)


REFERENCES = {
    "smooth_targets": ref_smooth_targets,
    "smoothed_nll": ref_smoothed_nll,
    "smoothed_nll_grad": ref_smoothed_nll_grad,
    "network_backward": ref_network_backward,
    "manual_backward": ref_manual_backward,
    "alpha_hypergradient": ref_alpha_hypergradient,
    "sgd_update": ref_sgd_update,
}


# --- inputs ------------------------------------------------------------------------------------

def labels(seed, N, K):
    """N integer labels in [0, K), every class present when N >= K."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, size=N)
    if N >= K:
        y[:K] = rng.permutation(K)
    return y


def decent_logits(seed, N, K, scale=1.5, margin=2.0):
    """Logits of a model that is some good: the true class gets a head start of `margin`."""
    y = labels(seed, N, K)
    return randn(seed + 1, N, K, scale=scale) + margin * np.eye(K)[y], y


def make_params(seed, D, H, K, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = dict(
        W0=rng.standard_normal((H, D)) / np.sqrt(D), b0=0.1 * rng.standard_normal(H),
        W1=rng.standard_normal((K, H)) / np.sqrt(H), b1=0.1 * rng.standard_normal(K),
    )
    return {n: v.astype(dtype) for n, v in params.items()}


def make_batch(seed, N, D, K, dtype=np.float64):
    return randn(seed, N, D).astype(dtype), labels(seed + 1, N, K)


def case(**settings):
    """The settings of a test case, for messages: K=3, alpha=0.1, dtype=float32."""
    def show(value):
        if isinstance(value, (float, np.floating)):
            return f"{float(value):.4g}"
        return getattr(value, "__name__", value)
    return ", ".join(f"{k}={show(v)}" for k, v in settings.items())


# --- 1. smoothed targets -------------------------------------------------------------------------

def target_mistakes(target, K, alpha):
    return {
        description: targets_torch(target, K, float(alpha), wrong_share=share, true_weight=weight).numpy()
        for description, share, weight in TARGET_MISTAKES
    }


def check_smooth_targets(smooth_targets, seed, N, K, alpha):
    target = labels(seed, N, K)
    expected, mistakes = ref_smooth_targets(target, K, alpha), target_mistakes(target, K, alpha)
    got = call(smooth_targets, target, K, alpha)
    try:
        check_value("smooth_targets(target, K, alpha)", got, expected, known_mistakes=mistakes)
    except GradientMismatch as exc:
        q = as_float64(got)
        rows = q.sum(axis=-1) if q.shape == expected.shape else np.ones(1)
        if not np.allclose(rows, 1) and "sums to" not in str(exc):
            worst = rows[np.argmax(np.abs(rows - 1))]
            raise GradientMismatch(f"{exc}\n  note: a row of q sums to {worst:.6g}, not 1.") from None
        raise
    print(f"smooth_targets ok ({case(N=N, K=K, alpha=alpha)})")


# --- 2. the smoothed loss and its gradients ------------------------------------------------------

def check_smoothed_nll(smoothed_nll, seed, N, K, alpha, dtype=np.float64, namespace=None):
    logits, target = decent_logits(seed, N, K)
    logits = logits.astype(dtype)
    z = torch.as_tensor(as_float64(logits))
    expected = ref_smoothed_nll(logits, target, alpha)
    mistakes = {
        description: float(smoothed_nll_torch(z, target, float(alpha), wrong_share=share, true_weight=weight))
        for description, share, weight in TARGET_MISTAKES
    }
    mistakes[NLL_MEAN_OVER_ALL] = expected / K
    mistakes[NLL_NOT_SMOOTHED] = ref_smoothed_nll(logits, target, 0.0)
    got = call(smoothed_nll, logits, target, alpha, namespace=namespace, own=("smoothed_nll",))
    check_value("smoothed_nll", one_number(got, "smoothed_nll"), expected,
                batch_size=N, known_mistakes=mistakes, **tolerance_for(dtype, got))
    print(f"smoothed_nll ok ({case(N=N, K=K, alpha=alpha, dtype=dtype)})")


NLL_MEAN_OVER_ALL = (
    "this is the mean over all N * K entries of q * (-log p) (`.mean()` of the (N, K) array), K times too "
    "small: the loss SUMS over the classes and averages over the batch only."
)
NLL_NOT_SMOOTHED = "this is the plain NLL (alpha = 0): the loss must use the smoothed targets q."

DALPHA_SIGN = (
    "the sign of dalpha is flipped. dL/dalpha = mean over the batch of log p_y - (1/(K-1)) * "
    "sum_{j != y} log p_j: raising alpha moves weight from -log p_y (small once the model is any "
    "good) to the -log p_j of the wrong classes (large), so the loss goes UP and dalpha > 0."
)
DALPHA_TRUE_WEIGHT = (
    "dalpha misses the true class's term: its weight 1 - alpha also depends on alpha, and "
    "contributes -(-log p_y) = log p_y per example."
)
DALPHA_OVER_K = (
    "dalpha uses 1/K for the wrong classes; their weight is alpha / (K - 1), so the term is "
    "-(1/(K-1)) * sum_{j != y} log p_j."
)
DALPHA_WITH_TRUE_CLASS = (
    "dalpha averages log p over all K classes; the average belongs to the K - 1 WRONG classes only: "
    "log p_y - (1/(K-1)) * sum_{j != y} log p_j."
)
DLOGITS_ONE_HOT = (
    "dlogits = (p - e_y) / N uses the one-hot target; with smoothing it is (p - q) / N, q the smoothed target."
)


def nll_grad_mistakes(logits, target, alpha):
    """({description: dlogits}, {description: dalpha}) for the typical wrong answers."""
    dlogits, dalpha = {}, {DALPHA_SIGN: -ref_smoothed_nll_grad(logits, target, alpha)[1]}
    for description, share, weight in TARGET_MISTAKES[:3]:
        dz, da = ref_smoothed_nll_grad(logits, target, alpha, wrong_share=share, true_weight=weight)
        dlogits[f"dlogits = (p - q) / N with the wrong q: {description}"] = dz
        if description == WEIGHT_ONE:
            dalpha[DALPHA_TRUE_WEIGHT] = da
        if description == ALPHA_OVER_K:
            dalpha[DALPHA_OVER_K] = da
    logp = torch.log_softmax(torch.as_tensor(as_float64(logits)), -1).numpy()
    K = logits.shape[-1]
    q = ref_smooth_targets(target, K, alpha)
    dlogits["dlogits = q - p: the sign is flipped (d(-log p_i)/dz = p - e_i, so dL/dz = (p - q) / N)."] = \
        (q - np.exp(logp)) / len(q)
    dlogits[DLOGITS_ONE_HOT] = ref_smoothed_nll_grad(logits, target, 0.0)[0]
    is_target = np.arange(K) == np.asarray(target)[:, None]
    dalpha[DALPHA_WITH_TRUE_CLASS] = float(np.mean(logp[is_target] - logp.mean(axis=1)))
    return dlogits, dalpha


def check_smoothed_nll_grad(smoothed_nll_grad, seed, N, K, alpha, dtype=np.float64, namespace=None):
    logits, target = decent_logits(seed, N, K)
    logits = logits.astype(dtype)
    expected_dlogits, expected_dalpha = ref_smoothed_nll_grad(logits, target, alpha)
    mistakes_dlogits, mistakes_dalpha = nll_grad_mistakes(logits, target, alpha)
    result = call(smoothed_nll_grad, logits, target, alpha, namespace=namespace, own=("smoothed_nll_grad",))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradientMismatch(
            f"smoothed_nll_grad should return a pair (dlogits, dalpha), got {type(result).__name__}"
            f"{f' of length {len(result)}' if hasattr(result, '__len__') else ''}."
        )
    dlogits, dalpha = result
    check_gradient("dlogits", dlogits, expected_dlogits, batch_size=N, known_mistakes=mistakes_dlogits,
                   **tolerance_for(dtype, dlogits))
    check_gradient("dalpha", one_number(dalpha, "dalpha"), expected_dalpha, batch_size=N,
                   known_mistakes=mistakes_dalpha, **tolerance_for(dtype, dalpha))
    print(f"smoothed_nll_grad ok ({case(N=N, K=K, alpha=alpha, dtype=dtype)}): dalpha = {expected_dalpha:.6f}")


# --- 3. every intermediate -----------------------------------------------------------------------

def check_manual_backward(network_backward, manual_backward, seed, N, K, alpha, D=5, H=4, dtype=np.float64,
                          namespace=None):
    """A Report over every gradient manual_backward returns, then network_backward's parameter
    gradients for a random upstream dg; row names carry the case so several cases can be merged."""
    params = make_params(seed, D, H, K, dtype)
    x, y = make_batch(seed + 1, N, D, K, dtype)
    cache = make_cache(params, x, y, alpha, dtype)
    label = f"  [{case(N=N, K=K, alpha=alpha, dtype=dtype)}]"
    dg = randn(seed + 7, N, K).astype(dtype)  # any upstream gradient on the logits
    expected, expected_net = network_grads(cache), ref_network_backward(cache, dg)
    mistakes = every_intermediate_mistakes(cache, expected)

    own = ("network_backward", "manual_backward")
    got = call(manual_backward, cache, namespace=namespace, own=own)
    got_net = call(network_backward, cache, dg, namespace=namespace, own=own)
    if not isinstance(got, dict):
        raise NotAnArray(f"manual_backward should return a dict of gradients keyed by name, got {type(got).__name__}.")
    names = LOSS_PART + NET_PART
    got = {n: scalar_row(got[n], n) if n in ("n3", "alpha") else got[n] for n in names if n in got}
    rows = compare_all({n + label: got[n] for n in names if n in got},
                       {n + label: expected[n] for n in names}, batch_size=N,
                       known_mistakes={n + label: m for n, m in mistakes.items()},
                       **tolerance_for(dtype)).rows

    if not isinstance(got_net, dict):
        raise NotAnArray(f"network_backward should return a dict of gradients keyed by name, got {type(got_net).__name__}.")
    tag = "network_backward(cache, dg): "
    rows += compare_all({tag + n + label: got_net[n] for n in PARAMS if n in got_net},
                        {tag + n + label: expected_net[n] for n in PARAMS}, **tolerance_for(dtype)).rows
    return Report(rows)


def scalar_row(value, name):
    """The gradient of a scalar (n3, alpha) as one number when it is one; anything else is left as
    it came, for the table to report (wrong shape, unreadable)."""
    try:
        return one_number(value, name)
    except AssertionError:
        return value


def every_intermediate_mistakes(cache, grads):
    """{name: {description: wrong gradient}}: the local slips of manual_backward, each given the
    right upstream gradient (a slip also spoils every row below it; those rows are not named)."""
    return {
        "alpha": {
            DALPHA_SIGN: -grads["alpha"],
            "dalpha has only the path through n1: alpha is also used in n3 = 1 - alpha, which adds "
            "-dn3.": grads["n1"].sum(),
            "dalpha has only the path through n3: alpha is also used in n1 = alpha * 1, which adds "
            "sum(dn1).": -grads["n3"],
            "dalpha adds dn3; n3 = 1 - alpha, so that path contributes -dn3.": grads["n1"].sum() + grads["n3"],
        },
        "n3": {
            "dn3 sums dn4 over every entry; n3 fills only the true-class entries of n4, so sum dn4 "
            "there only (dn4[is_target].sum()).": grads["n4"].sum(),
        },
        "n2": {
            "n4 takes n2 only off the true class: dn2 is dn4 with the true-class entries set to 0.": grads["n4"],
        },
        "n1": {"dn1 misses the 1/(K - 1) of n2 = n1 / (K - 1).": grads["n2"]},
        **staged_softmax_mistakes(cache, grads),
    }


def hypergradient_pieces(params, s, x_train, y_train, x_val, y_val, lr):
    """The factors of -lr * grad L_val(theta')^T (d grad L_train / d alpha) * sigmoid'(s), each by
    autograd, right and in the typical wrong versions (for naming mistakes)."""
    theta = tensors(params, grad=True)
    alpha = float(sigmoid(float(s)))
    x_train, x_val = (torch.as_tensor(as_float64(v)) for v in (x_train, x_val))

    def grads_at(point, x, y, a):
        loss = smoothed_nll_torch(logits_torch(point, x), y, a)
        return dict(zip(point, _autograd_grad(loss, list(point.values()))))

    def pulled_back(point, v):  # J(point)^T v: a logit gradient v pushed back to the parameters
        return dict(zip(point, _autograd_grad((logits_torch(point, x_train) * v).sum(), list(point.values()))))

    train = grads_at(theta, x_train, y_train, alpha)
    new = {n: (theta[n] - lr * train[n]).detach().requires_grad_() for n in theta}
    onehot = F.one_hot(torch.as_tensor(np.asarray(y_train)), theta["W1"].shape[0]).double()
    N, K = onehot.shape
    return dict(
        alpha=alpha,
        mixed=pulled_back(theta, (onehot - (1 - onehot) / (K - 1)) / N),
        mixed_over_K=pulled_back(theta, (onehot - (1 - onehot) / K) / N),
        mixed_at_new=pulled_back(new, (onehot - (1 - onehot) / (K - 1)) / N),
        val=grads_at(new, x_val, y_val, 0.0),
        val_at_theta=grads_at(theta, x_val, y_val, 0.0),
        val_on_train=grads_at(new, x_train, y_train, 0.0),
        val_smoothed=grads_at(new, x_val, y_val, alpha),
        dalpha_train=ref_smoothed_nll_grad(logits_torch(theta, x_train).detach().numpy(), y_train, alpha)[1],
    )


def dot(a, b, names=PARAMS):
    return sum(float((a[n] * b[n]).sum()) for n in names)


# {description: value from the pieces and lr}, the typical wrong hypergradients
HYPERGRADIENT_MISTAKES = {
    "this is dL_val/dalpha, not dL_val/ds: alpha = sigmoid(s), so multiply by sigmoid'(s) = alpha * (1 - alpha).":
        lambda p, lr: -lr * dot(p["val"], p["mixed"]),
    "sigmoid'(s) is alpha * (1 - alpha), not alpha.":
        lambda p, lr: -lr * dot(p["val"], p["mixed"]) * p["alpha"],
    "the sign is flipped: theta' = theta - lr * grad L_train, so d theta'/d alpha = -lr * d(grad L_train)/d alpha "
    "(mind the minus); or the mixed derivative's sign: on the logits it is -(dq/dalpha) / N = "
    "(e_y - (1 - e_y) / (K - 1)) / N, positive on the true class.":
        lambda p, lr: lr * dot(p["val"], p["mixed"]) * p["alpha"] * (1 - p["alpha"]),
    "the step size is missing: theta' = theta - lr * grad L_train, so d theta'/d alpha = -lr * d(grad L_train)/d alpha.":
        lambda p, lr: -dot(p["val"], p["mixed"]) * p["alpha"] * (1 - p["alpha"]),
    "the validation gradient was taken at theta; take it at the updated parameters "
    "theta' = theta - lr * grad L_train(theta, alpha).":
        lambda p, lr: -lr * dot(p["val_at_theta"], p["mixed"]) * p["alpha"] * (1 - p["alpha"]),
    "the 'validation' gradient was computed on the training data; use x_val, y_val.":
        lambda p, lr: -lr * dot(p["val_on_train"], p["mixed"]) * p["alpha"] * (1 - p["alpha"]),
    "the validation loss was smoothed; it is the plain NLL (alpha = 0): alpha is judged by how well the model "
    "fits the real labels of held-out data.":
        lambda p, lr: -lr * dot(p["val_smoothed"], p["mixed"]) * p["alpha"] * (1 - p["alpha"]),
    "the mixed derivative used 1/K for the wrong classes; on the logits it is (e_y - (1 - e_y) / (K - 1)) / N.":
        lambda p, lr: -lr * dot(p["val"], p["mixed_over_K"]) * p["alpha"] * (1 - p["alpha"]),
    "the mixed derivative was pushed back through the network at theta'; it belongs to the training gradient, "
    "so use the training cache at theta.":
        lambda p, lr: -lr * dot(p["val"], p["mixed_at_new"]) * p["alpha"] * (1 - p["alpha"]),
    "the dot product covers the weights only; sum it over all four parameters (the biases too).":
        lambda p, lr: -lr * dot(p["val"], p["mixed"], ("W0", "W1")) * p["alpha"] * (1 - p["alpha"]),
    "this is the TRAINING loss's dL/dalpha times sigmoid'(s); the hypergradient is the derivative of the "
    "VALIDATION loss after one training step, dL_val(theta')/ds.":
        lambda p, lr: p["dalpha_train"] * p["alpha"] * (1 - p["alpha"]),
}


def check_alpha_hypergradient(alpha_hypergradient, seed, K, N_train, N_val, s, lr, D=6, H=5,
                              dtype=np.float64, namespace=None):
    params = make_params(seed, D, H, K, dtype)
    x_train, y_train = make_batch(seed + 1, N_train, D, K, dtype)
    x_val, y_val = make_batch(seed + 2, N_val, D, K, dtype)
    args = (x_train, y_train, x_val, y_val, lr)
    expected = hypergradient_torch(params, s, *args)
    pieces = hypergradient_pieces(params, s, *args)
    mistakes = {text: mistake(pieces, lr) for text, mistake in HYPERGRADIENT_MISTAKES.items()}
    got = call(alpha_hypergradient, params, s, *args, namespace=namespace, own=("alpha_hypergradient",))
    settings = case(K=K, N_train=N_train, N_val=N_val, s=s, lr=lr, dtype=dtype)
    try:
        check_gradient("alpha_hypergradient", one_number(got, "alpha_hypergradient"), expected,
                       batch_size=N_train, known_mistakes=mistakes, **tolerance_for(dtype, got))
    except GradientMismatch as exc:
        raise GradientMismatch(f"{exc}\n  case: {settings}") from None
    print(f"alpha_hypergradient ok ({settings}): {expected:.6g}")


# --- 5. the update -------------------------------------------------------------------------------

SGD_PLUS = (
    "sgd_update adds the gradient (the seed's update rule): a step along +grad climbs the loss. "
    "Gradient DESCENT subtracts it: theta - lr * grad."
)


def check_sgd_update(sgd_update, seed, K, N=16, D=6, H=5, alpha=0.1, lr=0.05, dtype=np.float64):
    params = make_params(seed, D, H, K, dtype)
    x, y = make_batch(seed + 1, N, D, K, dtype)
    cache = make_cache(params, x, y, alpha)
    grads = network_grads(cache)
    loss_before = cache["o"]
    expected = {n: as_float64(params[n]) - lr * grads[n] for n in PARAMS}
    plus = {n: as_float64(params[n]) + lr * grads[n] for n in PARAMS}
    new = call(sgd_update, params, {n: grads[n].astype(dtype) for n in grads}, lr)
    if not isinstance(new, dict) or any(n not in new for n in PARAMS):
        hint = " (updating in place is fine, but still `return params`)" if new is None else ""
        raise GradientMismatch(
            f"sgd_update should return a dict with every parameter ({', '.join(PARAMS)}), got "
            f"{type(new).__name__}{'' if not isinstance(new, dict) else ' with keys ' + ', '.join(map(str, new))}"
            f"{hint}."
        )
    for name in PARAMS:
        check_value(f"sgd_update(...)['{name}']", new[name], expected[name], known_mistakes={SGD_PLUS: plus[name]},
                    **tolerance_for(dtype))
    loss_after = make_cache({n: as_float64(new[n], n) for n in PARAMS}, x, y, alpha)["o"]
    print(f"sgd_update ok ({case(K=K, N=N, lr=lr, dtype=dtype)}): loss before the step {loss_before:.6f}, "
          f"after {loss_after:.6f}")


# --- 6. learning alpha on digits -----------------------------------------------------------------

def digits_split():
    """The notebook's fixed split of load_digits: 300 training and 300 validation images
    (x_train, y_train, x_val, y_val), new arrays each call."""
    x, y = digits.images_and_labels()
    x_train, x_val, y_train, y_val = digits.stratified_split(x / 16.0, y, train_size=300, test_size=300)
    return x_train, y_train, x_val, y_val


def val_nll(params, x_val, y_val):
    with torch.no_grad():
        return float(smoothed_nll_torch(logits_torch(tensors(params), torch.as_tensor(x_val)), y_val, 0.0))


def sigmoid(s):
    return 1 / (1 + np.exp(-s))


@with_autograd
def train_step(params, alpha, x_train, y_train, lr):
    """One full-batch gradient step on the smoothed training loss (torch autograd)."""
    theta = tensors(params, grad=True)
    loss = smoothed_nll_torch(logits_torch(theta, torch.as_tensor(as_float64(x_train))), y_train, alpha)
    grads = _autograd_grad(loss, list(theta.values()))
    return {n: as_float64(params[n]) - lr * g.numpy() for n, g in zip(PARAMS, grads)}


def training_loss_ds(params, s, x_train, y_train, x_val, y_val, lr):
    """A wrong 'hypergradient': d L_train / ds, the training loss's own pull on alpha."""
    alpha = float(sigmoid(s))
    with torch.no_grad():
        logits = logits_torch(tensors(params), torch.as_tensor(as_float64(x_train))).numpy()
    return ref_smoothed_nll_grad(logits, y_train, alpha)[1] * alpha * (1 - alpha)


# The orders of the two updates of an iteration that learn alpha correctly.
ORDERS = ("s first", "hypergradient first", "step first")


@dataclass
class Run:
    s: float
    params: dict
    used: np.ndarray      # the alpha of each step's parameter update
    after: np.ndarray     # sigmoid(s) at the end of each iteration
    val: np.ndarray       # the plain validation NLL after each step
    val_smoothed: np.ndarray


def reference_loop(params, s, data, lr, hyper_lr, steps, order="s first", s_gradient=hypergradient_torch):
    """The notebook's train_learned_alpha in torch: per iteration one update of s by
    `s_gradient` and one gradient step on the parameters, in the given order."""
    x_train, y_train, x_val, y_val = data
    theta = {n: as_float64(params[n]) for n in PARAMS}
    s = float(s)

    def ds(theta, s):
        return s_gradient(theta, s, x_train, y_train, x_val, y_val, lr) if hyper_lr else 0.0

    used, after, val, val_smoothed = [], [], [], []
    for _ in range(steps):
        if order == "s first":
            s -= hyper_lr * ds(theta, s)
        elif order == "hypergradient first":
            pending = ds(theta, s)
        alpha = float(sigmoid(s))
        theta = train_step(theta, alpha, x_train, y_train, lr)
        if order == "hypergradient first":
            s -= hyper_lr * pending
        elif order == "step first":
            s -= hyper_lr * ds(theta, s)
        used.append(alpha)
        after.append(float(sigmoid(s)))
        val.append(val_nll(theta, x_val, y_val))
        with torch.no_grad():
            logits = logits_torch(tensors(theta), torch.as_tensor(x_val))
            val_smoothed.append(float(smoothed_nll_torch(logits, y_val, alpha)))
    return Run(s, theta, *(np.array(v) for v in (used, after, val, val_smoothed)))


def read_result(result, steps, run):
    """(params, s, alphas, val_nlls) from what train_learned_alpha returned, or a clear error."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise GradientMismatch(f"train_learned_alpha should return (params, s, history) {run}; got "
                               f"{type(result).__name__}.")
    params, s, history = result
    if not isinstance(params, dict) or any(n not in params for n in PARAMS):
        raise GradientMismatch(f"train_learned_alpha should return the trained parameters as a dict with "
                               f"{', '.join(PARAMS)} {run}; got {type(params).__name__}.")
    params = {n: as_float64(params[n], f"params['{n}']") for n in PARAMS}
    s = float(one_number(s, "the returned s"))
    if not isinstance(history, dict) or not {"alpha", "val_nll"} <= set(history):
        raise GradientMismatch(f'the history should be a dict with lists "alpha" and "val_nll" {run}.')
    alphas, losses = (as_float64(history[k], f'history["{k}"]').reshape(-1) for k in ("alpha", "val_nll"))
    for key, values in (("alpha", alphas), ("val_nll", losses)):
        if values.size != steps:
            raise GradientMismatch(f'history["{key}"] has {values.size} entries {run}; expected one per step ({steps}).')
    outside = ~((alphas > 0) & (alphas < 1))
    if outside.any():
        first = int(np.argmax(outside))
        raise GradientMismatch(
            f"alpha left (0, 1) {run}: history['alpha'][{first}] = {alphas[first]:.4g}. Learn s and use "
            f"alpha = sigmoid(s), which is always strictly between 0 and 1."
        )
    return params, s, alphas, losses


def same_run(params, s, run):
    return bool(np.isclose(s, run.s, rtol=1e-3, atol=1e-3)) and all(
        np.allclose(params[n], run.params[n], rtol=1e-3, atol=1e-4) for n in PARAMS)


S_NEVER_MOVED = ("s never moved (alpha stayed at sigmoid(s0)): update it every step, "
                 "s = s - hyper_lr * alpha_hypergradient(params, s, ...).")
S_ASCENT = ("s moved WITH the hypergradient: s = s - hyper_lr * dL_val/ds moves against it "
            "(gradient descent on the validation loss).")
S_TRAINING_LOSS = (
    "s was moved by the TRAINING loss's dalpha (times sigmoid'(s)). That pull always lowers alpha, whatever "
    "happens on held-out data; learn s with alpha_hypergradient, the derivative of the validation loss "
    "after the step."
)
VAL_BEFORE = "the validation NLL was recorded before the step; record it after each parameter update."
VAL_SMOOTHED = "the smoothed validation loss was recorded; record the plain NLL (alpha = 0) on the validation set."


def check_training_loop(train_learned_alpha, seed, hidden=16, steps=40, s0=0.0, lr=1.0, hyper_lr=30.0,
                        namespace=None):
    """Learn s on the fixed digits split, twice: with hyper_lr = 0 the loop must be plain gradient
    descent; with hyper_lr > 0, s, the parameters and the history must follow a reference loop that
    updates s with the hypergradient (in any of the ORDERS)."""
    from threadpoolctl import threadpool_limits  # one BLAS thread: these matrices are tiny

    data = digits_split()
    params = make_params(seed, data[0].shape[1], hidden, 10)
    settings = case(hidden=hidden, steps=steps, s0=s0, lr=lr, hyper_lr=hyper_lr)
    alpha0 = float(sigmoid(s0))
    own = ("train_learned_alpha",)
    with threadpool_limits(1):
        fixed_ref = reference_loop(params, s0, data, lr, 0.0, steps)
        learned_ref = reference_loop(params, s0, data, lr, hyper_lr, steps)
        fixed = call(train_learned_alpha, params, s0, *data, lr, 0.0, steps, namespace=namespace, own=own)
        learned = call(train_learned_alpha, params, s0, *data, lr, hyper_lr, steps, namespace=namespace, own=own)

        # hyper_lr = 0: plain gradient descent on the smoothed training loss with alpha = sigmoid(s0)
        fixed_params, _, fixed_alphas, _ = read_result(fixed, steps, "with hyper_lr = 0")
        if not np.allclose(fixed_alphas, alpha0, rtol=1e-6):
            raise GradientMismatch(f'with hyper_lr = 0 alpha must stay at sigmoid(s0) = {alpha0:.4g}; history["alpha"] '
                                   f"runs from {fixed_alphas[0]:.4g} to {fixed_alphas[-1]:.4g}.")
        uphill = None
        for name in PARAMS:
            if uphill is None and not np.allclose(fixed_params[name], fixed_ref.params[name], rtol=1e-3):
                uphill = reference_loop(params, s0, data, -lr, 0.0, steps).params  # only to name the mistake
            mistake = {SGD_PLUS: uphill[name]} if uphill is not None else {}
            try:
                check_value(f"params['{name}'] after {steps} steps with hyper_lr = 0", fixed_params[name],
                            fixed_ref.params[name], rtol=1e-3, atol=1e-4, known_mistakes=mistake)
            except GradientMismatch as exc:
                raise GradientMismatch(
                    f"{exc}\n  With hyper_lr = 0, s never moves, so the loop must be plain gradient descent "
                    f"on the smoothed training loss with alpha = sigmoid(s0) = {alpha0:.4g} ({settings})."
                ) from None

        # hyper_lr > 0: s and the parameters follow the reference, in one of the orders
        new_params, s, alphas, losses = read_result(learned, steps, f"with hyper_lr = {hyper_lr:g}")
        run = learned_ref
        for order in ORDERS[1:]:  # each other order costs a run: try it only when the ones before do not fit
            if not same_run(new_params, s, run):
                run = reference_loop(params, s0, data, lr, hyper_lr, steps, order)
        if not same_run(new_params, s, run):
            raise GradientMismatch(loop_message(new_params, s, learned_ref, params, s0, data, lr, hyper_lr, steps,
                                                fixed_ref, settings))

    try:
        if not (np.allclose(alphas, run.used, rtol=1e-3) or np.allclose(alphas, run.after, rtol=1e-3)):
            check_value('history["alpha"]', alphas, run.used, rtol=1e-3)
        check_value('history["val_nll"]', losses, run.val, rtol=1e-3,
                    known_mistakes={VAL_BEFORE: np.r_[val_nll(params, *data[2:]), run.val[:-1]],
                                    VAL_SMOOTHED: run.val_smoothed})
    except GradientMismatch as exc:
        raise GradientMismatch(
            f"{exc}\n  s and the parameters are right; the history should hold, for each step, the alpha it "
            f"trained with and the plain validation NLL after it ({settings})."
        ) from None
    print(f"train_learned_alpha ok ({settings}): alpha {alpha0:.3g} -> {run.used[-1]:.3g}; validation NLL after "
          f"{steps} steps {run.val[-1]:.4f} with alpha learned, {fixed_ref.val[-1]:.4f} with alpha fixed")


def loop_message(got_params, got_s, ref, params, s0, data, lr, hyper_lr, steps, fixed_ref, settings):
    """Why a loop with hyper_lr > 0 ended elsewhere than the reference: a named mistake if one fits."""
    header = (f"after {steps} steps with hyper_lr = {hyper_lr:g}, s = {got_s:.6g} (alpha = {sigmoid(got_s):.4g}); "
              f"the reference loop ends at s = {ref.s:.6g} (alpha = {sigmoid(ref.s):.4g})")
    if all(np.allclose(got_params[n], ref.params[n], rtol=1e-3, atol=1e-4) for n in PARAMS):
        return (f"{header}.\n  likely cause: the parameters are right, so s was learned; return the final s, "
                f"after the last update ({settings})")
    worst = max(PARAMS, key=lambda n: float(np.max(np.abs(got_params[n] - ref.params[n]))))
    diff = float(np.max(np.abs(got_params[worst] - ref.params[worst])))
    header += f", and params['{worst}'] differs from it by up to {diff:.3g}."
    candidates = (
        (S_NEVER_MOVED, lambda: fixed_ref),
        (S_TRAINING_LOSS, lambda: reference_loop(params, s0, data, lr, hyper_lr, steps, s_gradient=training_loss_ds)),
        (S_ASCENT, lambda: reference_loop(params, s0, data, lr, -hyper_lr, steps)),
    )
    for description, run in candidates:
        if same_run(got_params, got_s, run()):
            return f"{header}\n  likely cause: {description} ({settings})"
    return (
        f"{header}\n  Each iteration: s = s - hyper_lr * alpha_hypergradient(params, s, ...) at the current "
        "parameters, then one gradient step on the smoothed training loss with alpha = sigmoid(s) "
        f"(the two in the other order are accepted too). ({settings})"
    )
