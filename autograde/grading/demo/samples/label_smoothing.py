"""Sample submissions for 04_label_smoothing."""
from autograde.grading.demo.samples import Replace, Rewrite, Variant

ALL_CELLS = ["test_smooth_targets", "test_smoothed_nll", "test_smoothed_nll_grad", "test_network_backward",
             "test_sgd_update", "test_alpha_hypergradient", "test_manual_backward", "test_training_loop"]

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
    # einsum throughout, and np.where for the ReLU's gate
    dd = np.einsum("nk,kh->nh", dg, cache["W1"])
    dc = np.where(cache["c"] > 0, dd, 0.0)
    return {"f": dg.copy(), "b1": np.einsum("nk->k", dg), "W1": np.einsum("nk,nh->kh", dg, cache["d"]),
            "d": dd, "c": dc, "a": dc.copy(), "b0": dc.sum(0), "W0": np.einsum("nh,nd->hd", dc, cache["x"])}
'''

WRITTEN_DIFFERENTLY_HYPERGRADIENT = '''
def alpha_hypergradient(params, s, x_train, y_train, x_val, y_val, lr):
    # grad_theta L_train is affine in alpha, so its alpha-derivative is exactly the difference of
    # the gradients at alpha = 1 and alpha = 0
    alpha = 1 / (1 + np.exp(-s))

    def param_grads(p, x, y, a):
        cache = network_forward(p, x, y, a)
        grads = network_backward(cache, smoothed_nll_grad(cache["g"], y, a)[0])
        return {name: grads[name] for name in p}

    g_train = param_grads(params, x_train, y_train, alpha)
    new = {name: params[name] - lr * g_train[name] for name in params}
    at_one, at_zero = param_grads(params, x_train, y_train, 1.0), param_grads(params, x_train, y_train, 0.0)
    g_val = param_grads(new, x_val, y_val, 0.0)
    total = sum(np.vdot(g_val[name], at_one[name] - at_zero[name]) for name in params)
    return -lr * total * alpha * (1 - alpha)
'''

WRITTEN_DIFFERENTLY_UNROLLED = '''
def unrolled_hypergradient(params, s, x_train, y_train, x_val, y_val, lr, steps):
    # reverse mode: run the steps keeping every theta_t, then carry dL_val/dtheta backwards through
    # the steps (the softmax's Jacobian is symmetric), adding alpha's direct effect at every step
    alpha = 1 / (1 + np.exp(-s))
    x, N, K = np.asarray(x_train, dtype=np.float64), len(y_train), params["W"].shape[0]
    onehot = np.eye(K)[y_train]
    q = onehot * (1 - alpha) + (1 - onehot) * alpha / (K - 1)
    dq = -onehot + (1 - onehot) / (K - 1)
    thetas = [(np.array(params["W"], dtype=np.float64), np.array(params["b"], dtype=np.float64))]
    for _ in range(steps):
        W, b = thetas[-1]
        e = (torch.softmax(torch.as_tensor(x @ W.T + b), dim=1).numpy() - q) / N
        thetas.append((W - lr * e.T @ x, b - lr * e.sum(0)))
    W, b = thetas.pop()
    xv = np.asarray(x_val, dtype=np.float64)
    ev = (np.exp(log_softmax(xv @ W.T + b)) - np.eye(K)[y_val]) / len(y_val)
    gW, gb = ev.T @ xv, ev.sum(0)                      # dL_val/dtheta_T
    total = 0.0
    for W, b in reversed(thetas):
        p = np.exp(log_softmax(x @ W.T + b))
        u = x @ gW.T + gb                               # the adjoint seen from the logits
        total += lr * np.sum(u * dq) / N                # alpha's direct effect on this step
        hu = p * (u - (p * u).sum(1, keepdims=True)) / N
        gW, gb = gW - lr * hu.T @ x, gb - lr * hu.sum(0)
    return total * alpha * (1 - alpha)
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
        cache = network_forward(params, x_train, y_train, alpha)
        params = sgd_update(params, network_backward(cache, smoothed_nll_grad(cache["g"], y_train, alpha)[0]), lr)
        s -= hyper_lr * hyper
        alphas.append(alpha)
        losses.append(smoothed_nll(network_forward(params, x_val, y_val, 0.0)["g"], y_val, 0.0))
    return params, s, {"alpha": alphas, "val_nll": losses}
'''

AUTOGRAD_BACKWARD = '''
def network_backward(cache, dg):
    # lets torch autograd do the work: not allowed in this exercise
    t = {n: torch.tensor(cache[n], dtype=torch.float64, requires_grad=True) for n in ("W0", "b0", "W1", "b1")}
    g = torch.relu(torch.tensor(cache["x"]) @ t["W0"].T + t["b0"]) @ t["W1"].T + t["b1"]
    g.backward(torch.as_tensor(dg, dtype=torch.float64))
    return {n: v.grad.numpy() for n, v in t.items()}
'''

AUTOGRAD_UNROLLED = '''
def unrolled_hypergradient(params, s, x_train, y_train, x_val, y_val, lr, steps):
    # differentiates through the steps with torch autograd: not allowed in this exercise
    s = torch.tensor(float(s), requires_grad=True)
    alpha = torch.sigmoid(s)
    W, b = (torch.tensor(params[n], dtype=torch.float64, requires_grad=True) for n in ("W", "b"))
    x, xv = torch.as_tensor(x_train, dtype=torch.float64), torch.as_tensor(x_val, dtype=torch.float64)
    K = W.shape[0]
    onehot = torch.nn.functional.one_hot(torch.as_tensor(y_train), K)
    q = onehot * (1 - alpha) + (1 - onehot) * alpha / (K - 1)
    for _ in range(steps):
        loss = -(q * torch.log_softmax(x @ W.T + b, dim=1)).sum(1).mean()
        gW, gb = torch.autograd.grad(loss, (W, b), create_graph=True)
        W, b = W - lr * gW, b - lr * gb
    val = torch.nn.functional.cross_entropy(xv @ W.T + b, torch.as_tensor(y_val))
    return torch.autograd.grad(val, s)[0].item()
'''

VARIANTS = [
    Variant("correct", "the master's solution"),
    Variant(
        "written_differently",
        "torch tensors, float32, loops, einsum, one-element arrays for scalars, the affine-in-alpha trick "
        "for the mixed derivative, the unrolled hypergradient in reverse mode, an in-place update, the "
        "other order of updates in the loop",
        edits=[
            Rewrite("smooth_targets", WRITTEN_DIFFERENTLY_TARGETS),
            Rewrite("smoothed_nll", WRITTEN_DIFFERENTLY_LOSS),
            Rewrite("network_backward", WRITTEN_DIFFERENTLY_BACKWARD),
            Rewrite("alpha_hypergradient", WRITTEN_DIFFERENTLY_HYPERGRADIENT),
            Rewrite("unrolled_hypergradient", WRITTEN_DIFFERENTLY_UNROLLED),
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
        "network_dW1_transposed", "network_backward's dW1 built as d^T dg, the transpose",
        edits=[Replace("network_backward", 'dW1 = df.T @ cache["d"]', 'dW1 = cache["d"].T @ df')],
        loses={"test_network_backward": "transposed"},
    ),
    Variant(
        "hypergradient_without_sigmoid_prime", "dL_val/dalpha returned where dL_val/ds is asked",
        edits=[Replace("alpha_hypergradient", "return float(dval_dalpha * alpha * (1 - alpha))",
                       "return float(dval_dalpha)")],
        loses={"test_alpha_hypergradient": "sigmoid'(s)"},
    ),
    Variant(
        "unrolled_greedy", "the unrolled hypergradient drops the dependence of theta_t on alpha inside the "
        "training gradient (a sum of one-step effects)",
        edits=[Replace("unrolled_hypergradient", "dg = x_train @ dW.T + db", "dg = np.zeros_like(g)")],
        loses={"test_manual_backward": "without its effect on the next gradient"},
    ),
    Variant(
        "unrolled_softmax_not_centred", "the softmax's derivative along dg taken as p * dg",
        edits=[Replace("unrolled_hypergradient", "dp = p * (dg - (p * dg).sum(axis=1, keepdims=True))",
                       "dp = p * dg")],
        loses={"test_manual_backward": "lacks its second term"},
    ),
    Variant(
        "sgd_adds_gradient", "the update rule of the notebook the assignment grew from: theta + lr * grad",
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
        "autograd_in_backward", "network_backward calls torch autograd",
        edits=[Rewrite("network_backward", AUTOGRAD_BACKWARD)],
        loses={"test_network_backward": "called torch autograd"},
    ),
    Variant(
        "unrolled_by_autograd", "the unrolled hypergradient by torch autograd through the steps",
        edits=[Rewrite("unrolled_hypergradient", AUTOGRAD_UNROLLED)],
        loses={"test_manual_backward": "called torch autograd"},
    ),
]
