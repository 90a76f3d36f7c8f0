"""The known mistakes of chapter 4: wrong smoothed targets, wrong losses and gradients, the slips of
network_backward, the typical wrong hypergradients, and an update that climbs (the unrolled
hypergradient's are in unrolled.py)."""
import numpy as np
import torch
import torch.nn.functional as F

from ...arrays import as_float64
from .references import (PARAMS, logits_torch, ref_smooth_targets, ref_smoothed_nll_grad, sigmoid, smoothed_nll_torch,
                         targets_torch, tensors)


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


def target_mistakes(target, K, alpha):
    return {
        description: targets_torch(target, K, float(alpha), wrong_share=share, true_weight=weight).numpy()
        for description, share, weight in TARGET_MISTAKES
    }


NLL_MEAN_OVER_ALL = (
    "this is the mean over all N * K entries of q * (-log p) (`.mean()` of the (N, K) array), K times too "
    "small: the loss SUMS over the classes and averages over the batch only."
)
NLL_NOT_SMOOTHED = "this is the plain NLL (alpha = 0): the loss must use the smoothed targets q."

DALPHA_SIGN = (
    "the sign of dalpha is flipped: raising alpha moves weight from -log p_y (small once the model "
    "is any good) to the -log p_j of the wrong classes (large), so the loss goes UP as alpha grows."
)
DALPHA_TRUE_WEIGHT = (
    "dalpha misses the true class's term: its weight in q depends on alpha too."
)
DALPHA_OVER_K = (
    "dalpha used 1/K for the wrong classes: their weight is alpha / (K - 1) (the convention), and "
    "that is what to differentiate by alpha."
)
DALPHA_WITH_TRUE_CLASS = (
    "dalpha averages log p over all K classes: alpha is shared among the K - 1 WRONG classes only, "
    "and the true class's weight enters on its own."
)
DLOGITS_ONE_HOT = (
    "dlogits uses the one-hot target: with smoothing, what the loss compares p with is q, the smoothed target."
)


def nll_grad_mistakes(logits, target, alpha):
    """({description: dlogits}, {description: dalpha}) for the typical wrong answers."""
    dlogits, dalpha = {}, {DALPHA_SIGN: -ref_smoothed_nll_grad(logits, target, alpha)[1]}
    for description, share, weight in TARGET_MISTAKES[:3]:
        dz, da = ref_smoothed_nll_grad(logits, target, alpha, wrong_share=share, true_weight=weight)
        dlogits[f"dlogits used the wrong smoothed target: {description}"] = dz
        if description == WEIGHT_ONE:
            dalpha[DALPHA_TRUE_WEIGHT] = da
        if description == ALPHA_OVER_K:
            dalpha[DALPHA_OVER_K] = da
    logp = torch.log_softmax(torch.as_tensor(as_float64(logits)), -1).numpy()
    K = logits.shape[-1]
    q = ref_smooth_targets(target, K, alpha)
    dlogits["dlogits has its sign flipped: the loss falls as the logit of a class the target wants more "
            "of rises."] = \
        (q - np.exp(logp)) / len(q)
    dlogits[DLOGITS_ONE_HOT] = ref_smoothed_nll_grad(logits, target, 0.0)[0]
    is_target = np.arange(K) == np.asarray(target)[:, None]
    dalpha[DALPHA_WITH_TRUE_CLASS] = float(np.mean(logp[is_target] - logp.mean(axis=1)))
    return dlogits, dalpha


def network_backward_mistakes(cache, dg, grads):
    """{name: {description: wrong gradient}}: the local slips of network_backward, each given the right
    upstream gradient (a slip also spoils the rows after it; those are not named). A transposed product
    has the right shape only for a square matrix, so it is a known mistake only there."""
    mistakes = {
        "c": {"the ReLU let the gradient through everywhere: its gate is 1 where the input c was positive and "
              "0 elsewhere (a mask built from the output d needs d > 0, not d >= 0).": grads["d"]},
    }
    W1, W0 = as_float64(cache["W1"]), as_float64(cache["W0"])
    if W1.shape[0] == W1.shape[1]:
        mistakes["W1"] = {"dW1 is transposed: with W1 of shape (K, H), it is built from dg^T and d, not d^T and dg.":
                          as_float64(cache["d"]).T @ as_float64(dg)}
        mistakes["d"] = {"dd used W1^T: f = d W1^T, so dd is dg times W1 itself.": as_float64(dg) @ W1.T}
    if W0.shape[0] == W0.shape[1]:
        mistakes["W0"] = {"dW0 is transposed: with W0 of shape (H, D), it is built from dc^T and x, not x^T and dc.":
                          as_float64(cache["x"]).T @ grads["c"]}
    return mistakes


def hypergradient_pieces(params, s, x_train, y_train, x_val, y_val, lr):
    """The factors of -lr * grad L_val(theta')^T (d grad L_train / d alpha) * sigmoid'(s), each by
    autograd, right and in the typical wrong versions (for naming mistakes)."""
    theta = tensors(params, grad=True)
    alpha = float(sigmoid(float(s)))
    x_train, x_val = (torch.as_tensor(as_float64(v)) for v in (x_train, x_val))

    def grads_at(point, x, y, a):
        loss = smoothed_nll_torch(logits_torch(point, x), y, a)
        return dict(zip(point, torch.autograd.grad(loss, list(point.values()))))

    def pulled_back(point, v):  # J(point)^T v: a logit gradient v pushed back to the parameters
        return dict(zip(point, torch.autograd.grad((logits_torch(point, x_train) * v).sum(), list(point.values()))))

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


SGD_PLUS = (
    "sgd_update adds the gradient: a step along +grad climbs the loss. "
    "Gradient DESCENT subtracts it: theta - lr * grad."
)
