"""Sample submissions for 04_label_smoothing."""
from . import Replace, Rewrite, Variant

ALL_CELLS = ["test_smooth_targets", "test_smoothed_nll", "test_smoothed_nll_grad", "test_manual_backward",
             "test_alpha_hypergradient", "test_sgd_update", "test_training_loop"]

WRITTEN_DIFFERENTLY_TARGETS = '''
def smooth_targets(target, num_classes, alpha):
    # torch float32, built from a one-hot
    onehot = torch.nn.functional.one_hot(torch.as_tensor(target), num_classes).float()
    alpha = float(alpha)
    return onehot * (1 - alpha) + (1 - onehot) * (alpha / (num_classes - 1))
'''

WRITTEN_DIFFERENTLY_LOSS = '''
def smoothed_nll(logits, target, alpha):
    # a loop over the examples, in float32
    logits = np.asarray(logits, dtype=np.float32)
    K = logits.shape[1]
    total = 0.0
    for row, y in zip(logits, target):
        logp = row - row.max() - np.log(np.sum(np.exp(row - row.max())))
        total += -(1 - alpha) * logp[y] - alpha / (K - 1) * (logp.sum() - logp[y])
    return total / len(target)


def smoothed_nll_grad(logits, target, alpha):
    # torch tensors without autograd, einsum, and dalpha as a one-element tensor
    z = torch.as_tensor(logits, dtype=torch.float64)
    N, K = z.shape
    onehot = torch.nn.functional.one_hot(torch.as_tensor(target), K).double()
    q = onehot * (1 - alpha) + (1 - onehot) * alpha / (K - 1)
    dq_dalpha = -onehot + (1 - onehot) / (K - 1)
    dalpha = -torch.einsum("nk,nk->", dq_dalpha, torch.log_softmax(z, dim=1)) / N
    return (torch.softmax(z, dim=1) - q) / N, dalpha.reshape(1)
'''

WRITTEN_DIFFERENTLY_BACKWARD = '''
def network_backward(cache, dg):
    # einsum throughout
    dd = np.einsum("nk,kh->nh", dg, cache["W1"])
    dc = np.where(cache["c"] > 0, dd, 0.0)
    return {"f": dg.copy(), "b1": np.einsum("nk->k", dg), "W1": np.einsum("nk,nh->kh", dg, cache["d"]),
            "d": dd, "c": dc, "a": dc.copy(), "b0": dc.sum(0), "W0": np.einsum("nh,nd->hd", dc, cache["x"])}


def manual_backward(cache):
    N, K = cache["k"].shape
    mask = cache["is_target"]
    k, h, j = cache["k"], cache["h"], cache["j"]
    grads = {"m": np.ones((N, K)) / N}
    grads["l"] = grads["m"] * cache["n4"]
    grads["n4"] = grads["m"] * cache["l"]
    grads["n3"] = np.sum(grads["n4"] * mask)
    grads["n2"] = grads["n4"] * ~mask
    grads["n1"] = grads["n2"] / (K - 1)
    grads["alpha"] = np.array([grads["n1"].sum() - grads["n3"]])      # a one-element array
    grads["k"] = -grads["l"] / k
    grads["j"] = np.sum(-grads["k"] * h / j ** 2, axis=1, keepdims=True)
    grads["h"] = grads["k"] / j + grads["j"]
    grads["z"] = h * grads["h"]
    # the gradient also flows through the max; it carries -sum(dz) = 0 up to rounding
    at_max = np.arange(K) == cache["g"].argmax(axis=1)[:, None]
    grads["g"] = grads["z"] - at_max * grads["z"].sum(axis=1, keepdims=True)
    grads.update(network_backward(cache, grads["g"]))
    return grads
'''

WRITTEN_DIFFERENTLY_HYPERGRADIENT = '''
def alpha_hypergradient(params, s, x_train, y_train, x_val, y_val, lr):
    # grad_theta L_train is affine in alpha, so its alpha-derivative is exactly the difference of
    # the gradients at alpha = 1 and alpha = 0
    alpha = 1 / (1 + np.exp(-s))

    def param_grads(p, x, y, a):
        grads = manual_backward(network_forward(p, x, y, a))
        return {name: grads[name] for name in p}

    g_train = param_grads(params, x_train, y_train, alpha)
    new = {name: params[name] - lr * g_train[name] for name in params}
    at_one, at_zero = param_grads(params, x_train, y_train, 1.0), param_grads(params, x_train, y_train, 0.0)
    g_val = param_grads(new, x_val, y_val, 0.0)
    total = sum(np.vdot(g_val[name], at_one[name] - at_zero[name]) for name in params)
    return -lr * total * alpha * (1 - alpha)
'''

WRITTEN_DIFFERENTLY_SGD = '''
def sgd_update(params, grads, lr):
    for name, value in params.items():
        value -= lr * np.asarray(grads[name], dtype=value.dtype)      # in place
    return params
'''

WRITTEN_DIFFERENTLY_LOOP = '''
def train_learned_alpha(params, s, x_train, y_train, x_val, y_val, lr, hyper_lr, steps):
    # the parameter step first (the step the hypergradient looks ahead at), then s
    params = {name: np.array(value) for name, value in params.items()}
    alphas, losses = [], []
    for _ in range(steps):
        hyper = alpha_hypergradient(params, s, x_train, y_train, x_val, y_val, lr)
        alpha = sigmoid(s)
        params = sgd_update(params, manual_backward(network_forward(params, x_train, y_train, alpha)), lr)
        s -= hyper_lr * hyper
        alphas.append(alpha)
        losses.append(smoothed_nll(network_forward(params, x_val, y_val, 0.0)["g"], y_val, 0.0))
    return params, s, {"alpha": alphas, "val_nll": losses}
'''

AUTOGRAD_BACKWARD = '''
def network_backward(cache, dg):
    dd = dg @ cache["W1"]
    dc = dd * (cache["c"] > 0)
    return dict(f=dg, d=dd, c=dc, a=dc, W1=dg.T @ cache["d"], b1=dg.sum(0), W0=dc.T @ cache["x"], b0=dc.sum(0))


def manual_backward(cache):
    # lets torch autograd do the work: not allowed in this exercise
    t = {n: torch.tensor(cache[n], dtype=torch.float64, requires_grad=True) for n in ("W0", "b0", "W1", "b1")}
    alpha = torch.tensor(float(cache["alpha"]), dtype=torch.float64, requires_grad=True)
    g = torch.relu(torch.tensor(cache["x"]) @ t["W0"].T + t["b0"]) @ t["W1"].T + t["b1"]
    K = g.shape[1]
    onehot = torch.nn.functional.one_hot(torch.as_tensor(cache["y"]), K)
    q = onehot * (1 - alpha) + (1 - onehot) * alpha / (K - 1)
    loss = -(q * torch.log_softmax(g, dim=1)).sum(dim=1).mean()
    loss.backward()
    return {n: v.grad.numpy() for n, v in t.items()} | {"alpha": alpha.grad.numpy()}
'''

VARIANTS = [
    Variant("correct", "the master's solution"),
    Variant(
        "written_differently",
        "torch tensors, float32, loops, einsum, one-element arrays for scalars, the affine-in-alpha "
        "trick for the mixed derivative, an in-place update, the other order of updates in the loop",
        edits=[
            Rewrite("smooth_targets", WRITTEN_DIFFERENTLY_TARGETS),
            Rewrite("smoothed_nll", WRITTEN_DIFFERENTLY_LOSS),
            Rewrite("manual_backward", WRITTEN_DIFFERENTLY_BACKWARD),
            Rewrite("alpha_hypergradient", WRITTEN_DIFFERENTLY_HYPERGRADIENT),
            Rewrite("sgd_update", WRITTEN_DIFFERENTLY_SGD),
            Rewrite("train_learned_alpha", WRITTEN_DIFFERENTLY_LOOP),
        ],
    ),
    Variant("blank", "the release as handed out", blank=True,
            loses={cell: "NotImplementedError" for cell in ALL_CELLS}),
    Variant(
        "alpha_over_K", "each wrong class gets alpha / K instead of alpha / (K - 1)",
        edits=[Replace("smooth_targets", "alpha / (num_classes - 1)", "alpha / num_classes")],
        loses={"test_smooth_targets": "alpha / (K - 1)"},
    ),
    Variant(
        "target_weight_one", "the true class keeps weight 1 instead of 1 - alpha",
        edits=[Replace("smooth_targets", "= 1 - alpha", "= 1.0")],
        loses={"test_smooth_targets": "kept weight 1"},
    ),
    Variant(
        "dalpha_sign_flipped", "dL/dalpha with the sign flipped",
        edits=[Replace("smoothed_nll", "np.mean(log_p_true - mean_log_p_wrong)",
                       "np.mean(mean_log_p_wrong - log_p_true)")],
        loses={"test_smoothed_nll_grad": "sign of dalpha"},
    ),
    Variant(
        "hypergradient_without_sigmoid_prime", "dL_val/dalpha returned where dL_val/ds is asked",
        edits=[Replace("alpha_hypergradient", "return float(dval_dalpha * alpha * (1 - alpha))",
                       "return float(dval_dalpha)")],
        loses={"test_alpha_hypergradient": "sigmoid'(s)"},
    ),
    Variant(
        "sgd_adds_gradient", "the seed's update rule: theta + lr * grad",
        edits=[Replace("sgd_update", "params[name] - lr * grads[name]", "params[name] + lr * grads[name]")],
        loses={"test_sgd_update": "adds the gradient"},
    ),
    Variant(
        "alpha_learned_on_training_loss",
        "the loop moves s by the training loss's dalpha: alpha falls, as the validation NLL also wants here",
        edits=[Replace("train_learned_alpha",
                       "s = s - hyper_lr * alpha_hypergradient(params, s, x_train, y_train, x_val, y_val, lr)",
                       "alpha = sigmoid(s)\n"
                       "        _, dalpha = smoothed_nll_grad(network_forward(params, x_train, y_train, alpha)['g'], "
                       "y_train, alpha)\n"
                       "        s = s - hyper_lr * dalpha * alpha * (1 - alpha)")],
        loses={"test_training_loop": "TRAINING loss's dalpha"},
    ),
    Variant(
        "autograd_in_backward", "manual_backward calls torch autograd",
        edits=[Rewrite("manual_backward", AUTOGRAD_BACKWARD)],
        loses={"test_manual_backward": "called torch autograd"},
    ),
]
