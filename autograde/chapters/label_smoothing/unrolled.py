"""Chapter 4, exercise 6: the unrolled hypergradient.

A linear classifier g = x W^T + b takes `steps` full-batch gradient steps on the smoothed training
loss with alpha = sigmoid(s), from the given parameters; the student returns dL_val(theta_T)/ds, the
derivative of the plain validation NLL after the last step with respect to s.

The reference is torch autograd through the unrolled steps (create_graph=True) in float64. The known
mistakes come from `tangent_hypergradient`, the forward-mode computation the notebook asks for, with
one slip switched on at a time; the chapter's tests check that without a slip it equals autograd,
and that a central difference in s agrees with both.
"""
import numpy as np
import torch

from ...arrays import as_float64
from .exercises import check_hypergradient
from .inputs import case, make_batch
from .references import call, sigmoid, smoothed_nll_torch, with_autograd

LINEAR = ("W", "b")


def make_linear_params(seed, D, K, dtype=np.float64):
    """A linear classifier's parameters: W (K, D), b (K,)."""
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((K, D)) / np.sqrt(D), "b": 0.1 * rng.standard_normal(K)}
    return {n: v.astype(dtype) for n, v in params.items()}


def linear_logits_torch(params, x):
    return x @ params["W"].T + params["b"]


@with_autograd
def unrolled_hypergradient_torch(params, s, x_train, y_train, x_val, y_val, lr, steps):
    """dL_val(theta_T)/ds by autograd through `steps` unrolled gradient steps of the linear classifier."""
    theta = {n: torch.tensor(as_float64(params[n], n), requires_grad=True) for n in LINEAR}
    s = torch.tensor(float(s), dtype=torch.float64, requires_grad=True)
    alpha = torch.sigmoid(s)
    x_train, x_val = (torch.as_tensor(as_float64(v)) for v in (x_train, x_val))
    for _ in range(steps):
        loss = smoothed_nll_torch(linear_logits_torch(theta, x_train), y_train, alpha)
        grads = torch.autograd.grad(loss, list(theta.values()), create_graph=True)
        theta = {n: theta[n] - lr * g for n, g in zip(theta, grads)}
    val = smoothed_nll_torch(linear_logits_torch(theta, x_val), y_val, 0.0)
    (ds,) = torch.autograd.grad(val, [s], allow_unused=True)
    return 0.0 if ds is None else float(ds)


def ref_unrolled_hypergradient(params, s, x_train, y_train, x_val, y_val, lr, steps):
    return unrolled_hypergradient_torch(params, s, x_train, y_train, x_val, y_val, lr, steps)


def val_after_steps(params, s, x_train, y_train, x_val, y_val, lr, steps):
    """L_val(theta_T): the plain validation NLL after `steps` gradient steps with alpha = sigmoid(s)."""
    alpha = float(sigmoid(float(s)))
    x_train, x_val = as_float64(x_train), as_float64(x_val)
    W, b = as_float64(params["W"]), as_float64(params["b"])
    onehot = np.eye(W.shape[0])[np.asarray(y_train)]
    q = onehot * (1 - alpha) + (1 - onehot) * alpha / (W.shape[0] - 1)
    for _ in range(steps):
        e = (_softmax(x_train @ W.T + b) - q) / len(q)
        W, b = W - lr * e.T @ x_train, b - lr * e.sum(axis=0)
    logp = _log_softmax(x_val @ W.T + b)
    return float(-logp[np.arange(len(y_val)), np.asarray(y_val)].mean())


def central_difference(params, s, x_train, y_train, x_val, y_val, lr, steps, h=1e-5):
    """dL_val(theta_T)/ds by a central difference in s."""
    args = (x_train, y_train, x_val, y_val, lr, steps)
    return (val_after_steps(params, s + h, *args) - val_after_steps(params, s - h, *args)) / (2 * h)


def _log_softmax(g):
    z = g - g.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _softmax(g):
    return np.exp(_log_softmax(g))


# The slips of the forward-mode computation, each with what the failure message says.
UNROLLED_MISTAKES = {
    "greedy": (
        "the derivative of theta_t was carried without its effect on the next gradient: the training "
        "gradient at step t depends on alpha directly (through q) AND through theta_t (through the logits); "
        "the second path is missing."
    ),
    "not_centred": (
        "the softmax's derivative along dg lacks its second term: the denominator sum_j exp(g_j) changes "
        "too (chapter 2's softmax VJP)."
    ),
    "dq_over_K": (
        "dq/dalpha used 1/K for the wrong classes: their weight is alpha / (K - 1); differentiate q's "
        "definition by alpha, class by class."
    ),
    "dq_sign": (
        "the derivative of the logit gradient has the wrong sign on its q part: the logit gradient "
        "subtracts q."
    ),
    "no_mean": (
        "the derivative of the logit gradient misses the 1/N of the mean: the logit gradient is a mean "
        "over the batch, and so is its derivative."
    ),
    "tangent_climbs": (
        "the parameters' derivative took its step uphill: differentiate the update step itself, its "
        "minus sign included."
    ),
    "no_bias_tangent": (
        "the bias's derivative was left at 0: b_t depends on alpha as much as W_t does; carry db_t along "
        "with dW_t and use both in the logits' derivative."
    ),
    "dot_W_only": (
        "the last chain rule covers W only; sum over both parameters: the products of grad_W L_val with "
        "dW_T and of grad_b L_val with db_T."
    ),
    "one_fewer": "the loop ran steps - 1 times: theta_T is the point after exactly `steps` gradient steps.",
    "one_more": "the loop ran steps + 1 times: theta_T is the point after exactly `steps` gradient steps.",
    "one_step": (
        "this is the one-step hypergradient (steps = 1), whatever `steps` is: differentiate through all "
        "the steps."
    ),
    "val_at_start": (
        "the validation gradient was taken at the parameters given (theta_0); take it at theta_T, after the "
        "last step."
    ),
    "val_smoothed": "the validation loss was smoothed; it is the plain NLL (alpha = 0) on x_val, y_val.",
    "no_sigmoid_prime": (
        "this is dL_val/dalpha, not dL_val/ds: alpha = sigmoid(s), so multiply by the sigmoid's derivative."
    ),
}


def tangent_hypergradient(params, s, x_train, y_train, x_val, y_val, lr, steps, slip=None):
    """dL_val(theta_T)/ds in forward mode (the derivative of every theta_t with respect to alpha carried
    along with it), with one of UNROLLED_MISTAKES' slips when `slip` names one."""
    alpha = float(sigmoid(float(s)))
    x, x_val = as_float64(x_train), as_float64(x_val)
    y, y_val = np.asarray(y_train), np.asarray(y_val)
    W0, b0 = as_float64(params["W"]), as_float64(params["b"])
    W, b = W0.copy(), b0.copy()
    N, K = len(y), W.shape[0]
    onehot = np.eye(K)[y]
    q = onehot * (1 - alpha) + (1 - onehot) * alpha / (K - 1)
    dq = -onehot + (1 - onehot) / (K if slip == "dq_over_K" else K - 1)
    dW, db = np.zeros_like(W), np.zeros_like(b)
    count = {"one_fewer": steps - 1, "one_more": steps + 1, "one_step": 1}.get(slip, steps)
    for _ in range(count):
        g = x @ W.T + b
        p = _softmax(g)
        dg = np.zeros_like(g) if slip == "greedy" else x @ dW.T + db
        dp = p * dg if slip == "not_centred" else p * (dg - (p * dg).sum(axis=1, keepdims=True))
        de = (dp + dq if slip == "dq_sign" else dp - dq) / (1 if slip == "no_mean" else N)
        e = (p - q) / N
        sign = 1 if slip == "tangent_climbs" else -1
        W, b = W - lr * e.T @ x, b - lr * e.sum(axis=0)
        dW = dW + sign * lr * de.T @ x
        if slip != "no_bias_tangent":
            db = db + sign * lr * de.sum(axis=0)
    at_W, at_b = (W0, b0) if slip == "val_at_start" else (W, b)
    val_alpha = alpha if slip == "val_smoothed" else 0.0
    onehot_val = np.eye(K)[y_val]
    q_val = onehot_val * (1 - val_alpha) + (1 - onehot_val) * val_alpha / (K - 1)
    e_val = (_softmax(x_val @ at_W.T + at_b) - q_val) / len(y_val)
    dval = np.sum((e_val.T @ x_val) * dW) + (0.0 if slip == "dot_W_only" else np.sum(e_val.sum(axis=0) * db))
    return float(dval if slip == "no_sigmoid_prime" else dval * alpha * (1 - alpha))


def check_unrolled_hypergradient(unrolled_hypergradient, seed, K, N_train, N_val, s, lr, steps, D=5,
                                 dtype=np.float64, namespace=None, show=False):
    """The student's dL_val(theta_T)/ds against autograd through the unrolled steps; show=True also
    prints a central difference in s and the one-step hypergradient from the same start."""
    params = make_linear_params(seed, D, K, dtype)
    x_train, y_train = make_batch(seed + 1, N_train, D, K, dtype)
    x_val, y_val = make_batch(seed + 2, N_val, D, K, dtype)
    args = (x_train, y_train, x_val, y_val, lr, steps)
    expected = unrolled_hypergradient_torch(params, s, *args)
    mistakes = {text: tangent_hypergradient(params, s, *args, slip=slip) for slip, text in UNROLLED_MISTAKES.items()}
    got = call(unrolled_hypergradient, params, s, *args, namespace=namespace, own=("unrolled_hypergradient",))
    settings = case(K=K, N_train=N_train, N_val=N_val, D=D, s=s, lr=lr, steps=steps, dtype=dtype)
    check_hypergradient("unrolled_hypergradient", got, expected, settings, dtype, N_train, mistakes)
    if show:
        print(f"  autograd through the {steps} steps {expected:.8g}, central difference in s "
              f"{central_difference(params, s, *args):.8g}; one step ahead it would be "
              f"{unrolled_hypergradient_torch(params, s, *args[:-1], 1):.6g}")
