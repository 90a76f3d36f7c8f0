"""Chapter 4's mathematics and grading functions, without nbgrader (seconds, not minutes).

The convention (alpha / (K - 1) per wrong class) against torch's label_smoothing, the closed forms
of dL/dalpha, of the logit gradient and of the mixed derivative against autograd, the hypergradient
references (one step and unrolled) against finite differences and the forward-mode computation; that
no test case lets a typical hypergradient mistake pass, that the unrolled hypergradient on the digits
changes sign with the horizon, and that the digits setting tells a wrong training loop from a right
one; then every check accepts the master's solution and one written another way, and rejects each
typical mistake with a message that names it.
"""
import functools

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograde import AutogradCalled, GradientMismatch, no_autograd
from autograde.check import HIGH_PRECISION, LOW_PRECISION
from autograde.chapters import label_smoothing as grader
from autograde.cost import TooSlowForABackward
from autograde.off_limits import handed_over
from autograde.grading.demo.samples import NUMERICAL_GRADIENT, Replace, Variant
from autograde.grading.demo.samples.label_smoothing import VARIANTS

matplotlib.use("Agg")
ASSIGNMENT = "04_label_smoothing"
KS = (2, 3, 10)


# --- the convention --------------------------------------------------------------------------------

@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_convention_is_torch_label_smoothing_with_eps_alpha_K_over_K_minus_1(K, fraction):
    alpha = fraction * (K - 1) / K  # up to the uniform target, the largest alpha torch can express
    logits, target = grader.decent_logits(K, 6, K)
    ours = grader.smoothed_nll_torch(torch.as_tensor(logits), target, alpha)
    eps = grader.torch_label_smoothing(alpha, K)
    assert eps == pytest.approx(alpha * K / (K - 1))
    theirs = F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(target), label_smoothing=eps)
    assert float(ours) == pytest.approx(float(theirs), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("K", KS)
def test_targets_rows_sum_to_one_and_alpha_beyond_uniform_favours_wrong_classes(K):
    target = grader.labels(0, 5, K)
    for alpha in (0.0, 0.3, 0.97):
        q = grader.ref_smooth_targets(target, K, alpha)
        np.testing.assert_allclose(q.sum(axis=1), 1.0, rtol=1e-12)
        np.testing.assert_allclose(q[np.arange(5), target], 1 - alpha)
    uniform = grader.ref_smooth_targets(target, K, (K - 1) / K)
    np.testing.assert_allclose(uniform, 1 / K)
    beyond = grader.ref_smooth_targets(target, K, 0.97)  # 0.97 > (K - 1) / K for every K here
    assert (beyond[np.arange(5), target] < beyond.max(axis=1)).all()
    if K == 2:
        np.testing.assert_allclose(grader.ref_smooth_targets(target, 2, 0.3).min(axis=1), 0.3)  # alpha/(K-1) = alpha


def test_torch_cannot_express_alpha_beyond_uniform():
    logits, target = grader.decent_logits(0, 4, 3)
    with pytest.raises(RuntimeError):
        F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(target),
                        label_smoothing=grader.torch_label_smoothing(0.8, 3))  # eps = 1.2 > 1


# --- closed forms against autograd -----------------------------------------------------------------

@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.97])
def test_closed_form_gradients_of_the_smoothed_loss(K, alpha):
    N = 7
    logits, target = grader.decent_logits(10 + K, N, K)
    dlogits, dalpha = grader.ref_smoothed_nll_grad(logits, target, alpha)  # autograd
    logp = torch.log_softmax(torch.as_tensor(logits), -1).numpy()
    is_target = np.eye(K, dtype=bool)[target]
    closed_dalpha = np.mean(logp[is_target] - np.where(is_target, 0, logp).sum(1) / (K - 1))
    assert closed_dalpha == pytest.approx(dalpha, rel=1e-12, abs=1e-14)
    closed_dlogits = (np.exp(logp) - grader.ref_smooth_targets(target, K, alpha)) / N
    np.testing.assert_allclose(closed_dlogits, dlogits, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("K", KS)
def test_dalpha_is_positive_once_the_model_is_any_good(K):
    logits, target = grader.decent_logits(3, 50, K, margin=3.0)
    assert grader.ref_smoothed_nll_grad(logits, target, 0.1)[1] > 0


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("alpha", [0.0, 0.4, 0.97])
def test_mixed_derivative_on_the_logits(K, alpha):
    N = 5
    logits, target = grader.decent_logits(20 + K, N, K)
    z = torch.tensor(logits, requires_grad=True)
    a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    (dz,) = torch.autograd.grad(grader.smoothed_nll_torch(z, target, a), [z], create_graph=True)
    onehot = np.eye(K)[target]
    closed = (onehot - (1 - onehot) / (K - 1)) / N  # d(dL/dz)/dalpha, entry by entry
    for n in range(N):
        for k in range(K):
            (entry,) = torch.autograd.grad(dz[n, k], [a], retain_graph=True)
            assert float(entry) == pytest.approx(closed[n, k], abs=1e-14)


def hypergradient_problem(seed, K, N_train=9, N_val=7, D=5, H=4):
    params = grader.make_params(seed, D, H, K)
    x_train, y_train = grader.make_batch(seed + 1, N_train, D, K)
    x_val, y_val = grader.make_batch(seed + 2, N_val, D, K)
    return params, x_train, y_train, x_val, y_val


def val_loss_after_step(params, s, x_train, y_train, x_val, y_val, lr):
    theta = grader.tensors(params, grad=True)
    alpha = torch.sigmoid(torch.tensor(s, dtype=torch.float64))
    loss = grader.smoothed_nll_torch(grader.logits_torch(theta, torch.as_tensor(x_train)), y_train, alpha)
    grads = torch.autograd.grad(loss, list(theta.values()))
    new = {n: (theta[n] - lr * g).detach() for n, g in zip(theta, grads)}
    return float(grader.smoothed_nll_torch(grader.logits_torch(new, torch.as_tensor(x_val)), y_val, 0.0))


@pytest.mark.parametrize("K", KS)
@pytest.mark.parametrize("s", [-3.0, 0.0, 2.5])
def test_hypergradient_reference_matches_finite_differences_in_s(K, s):
    problem = hypergradient_problem(K, K)
    params, *data = problem
    lr, h = 0.5, 1e-5
    numeric = (val_loss_after_step(params, s + h, *data, lr) - val_loss_after_step(params, s - h, *data, lr)) / (2 * h)
    assert grader.hypergradient_torch(params, s, *data, lr) == pytest.approx(numeric, rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("K", KS)
def test_hypergradient_is_the_closed_form_of_the_chapter(K):
    """-lr * grad L_val(theta')^T (network_backward of (e_y - (1 - e_y)/(K-1))/N) * sigmoid'(s)."""
    params, x_train, y_train, x_val, y_val = hypergradient_problem(30 + K, K)
    s, lr = -0.7, 0.3
    alpha = 1 / (1 + np.exp(-s))
    train = grader.make_cache(params, x_train, y_train, alpha)
    grads = grader.network_grads(train)
    new = {n: params[n] - lr * grads[n] for n in grader.PARAMS}
    onehot = np.eye(K)[y_train]
    mixed = grader.ref_network_backward(train, (onehot - (1 - onehot) / (K - 1)) / len(y_train))
    g_val = grader.network_grads(grader.make_cache(new, x_val, y_val, 0.0))
    closed = -lr * sum(np.sum(g_val[n] * mixed[n]) for n in grader.PARAMS) * alpha * (1 - alpha)
    assert closed == pytest.approx(grader.hypergradient_torch(params, s, x_train, y_train, x_val, y_val, lr), rel=1e-10)


# --- the test cases can tell the typical mistakes from the right answer ------------------------------

# the cases of the notebook's test_alpha_hypergradient cell (visible and hidden)
HYPERGRADIENT_CASES = [dict(seed=0, K=3, N_train=8, N_val=6, s=-1.0, lr=0.5),
                       dict(seed=61, K=2, N_train=5, N_val=9, s=0.4, lr=0.1),
                       dict(seed=62, K=10, N_train=20, N_val=12, s=2.5, lr=0.8, dtype=np.float32),
                       dict(seed=63, K=3, N_train=1, N_val=4, s=-3.0, lr=0.3, D=4, H=7)]


@pytest.mark.parametrize("settings", HYPERGRADIENT_CASES, ids=lambda c: f"K={c['K']},s={c['s']},lr={c['lr']}")
def test_every_hypergradient_mistake_is_far_from_the_answer_in_every_case(settings):
    """No case where a typical mistake gives the right number (s = 0 makes alpha * alpha = sigmoid'(s),
    lr = 1 hides a missing lr): each is off by at least 10 times the relative tolerance of the case."""
    settings = {"D": 6, "H": 5, "dtype": np.float64, **settings}  # the check's defaults
    seed, K, D, H, lr, s = (settings[k] for k in ("seed", "K", "D", "H", "lr", "s"))
    dtype = settings["dtype"]
    params = grader.make_params(seed, D, H, K, dtype)
    x_train, y_train = grader.make_batch(seed + 1, settings["N_train"], D, K, dtype)
    x_val, y_val = grader.make_batch(seed + 2, settings["N_val"], D, K, dtype)
    args = (x_train, y_train, x_val, y_val, lr)
    expected = grader.hypergradient_torch(params, s, *args)
    pieces = grader.hypergradient_pieces(params, s, *args)
    alpha = pieces["alpha"]
    assert -lr * grader.dot(pieces["val"], pieces["mixed"]) * alpha * (1 - alpha) == pytest.approx(expected, rel=1e-10)
    rtol = (LOW_PRECISION if dtype == np.float32 else HIGH_PRECISION)[0]
    for description, mistake in grader.HYPERGRADIENT_MISTAKES.items():
        assert abs(mistake(pieces, lr) - expected) > 10 * rtol * abs(expected), description


# the cases of the notebook's test_manual_backward cell (the unrolled hypergradient; visible and hidden)
UNROLLED_CASES = [dict(seed=0, K=3, N_train=8, N_val=6, s=-1.0, lr=0.5, steps=3),
                  dict(seed=81, K=2, N_train=5, N_val=9, s=0.4, lr=1.0, steps=1),
                  dict(seed=82, K=10, N_train=20, N_val=12, s=2.0, lr=0.8, steps=6, D=6, dtype=np.float32),
                  dict(seed=83, K=4, N_train=1, N_val=4, s=-3.0, lr=0.3, steps=4, D=4),
                  dict(seed=84, K=3, N_train=12, N_val=8, s=0.0, lr=2.0, steps=10)]


def unrolled_problem(settings):
    settings = {"D": 5, "dtype": np.float64, **settings}  # the check's defaults
    seed, K, D, dtype = (settings[k] for k in ("seed", "K", "D", "dtype"))
    params = grader.make_linear_params(seed, D, K, dtype)
    x_train, y_train = grader.make_batch(seed + 1, settings["N_train"], D, K, dtype)
    x_val, y_val = grader.make_batch(seed + 2, settings["N_val"], D, K, dtype)
    return params, settings["s"], (x_train, y_train, x_val, y_val, settings["lr"], settings["steps"]), dtype


@pytest.mark.parametrize("settings", UNROLLED_CASES, ids=lambda c: f"K={c['K']},steps={c['steps']}")
def test_unrolled_reference_forward_mode_and_finite_differences_agree(settings):
    params, s, args, _ = unrolled_problem(settings)
    expected = grader.unrolled_hypergradient_torch(params, s, *args)
    assert grader.tangent_hypergradient(params, s, *args) == pytest.approx(expected, rel=1e-10, abs=1e-15)
    assert grader.central_difference(params, s, *args) == pytest.approx(expected, rel=1e-6, abs=1e-10)


def test_one_unrolled_step_is_the_one_step_hypergradient():
    """steps=1 is section 5's hypergradient for the linear model: -lr <grad L_val(theta'), d grad/dalpha> sigma'(s)."""
    params, s, (x_train, y_train, x_val, y_val, lr, _), _ = unrolled_problem(UNROLLED_CASES[0])
    theta = {n: torch.tensor(params[n], requires_grad=True) for n in grader.LINEAR}
    alpha = 1 / (1 + np.exp(-s))
    x = torch.as_tensor(x_train)
    grads = torch.autograd.grad(grader.smoothed_nll_torch(x @ theta["W"].T + theta["b"], y_train, alpha),
                                list(theta.values()))
    new = {n: (theta[n] - lr * g).detach().requires_grad_() for n, g in zip(theta, grads)}
    val = grader.smoothed_nll_torch(torch.as_tensor(x_val) @ new["W"].T + new["b"], y_val, 0.0)
    g_val = dict(zip(new, torch.autograd.grad(val, list(new.values()))))
    onehot = np.eye(params["W"].shape[0])[y_train]
    v = torch.as_tensor((onehot - (1 - onehot) / (onehot.shape[1] - 1)) / len(y_train))
    mixed = {"W": v.T @ x, "b": v.sum(0)}  # the linear layer's backward of v
    closed = -lr * sum(float((g_val[n] * mixed[n]).sum()) for n in grader.LINEAR) * alpha * (1 - alpha)
    assert closed == pytest.approx(grader.unrolled_hypergradient_torch(params, s, x_train, y_train, x_val, y_val,
                                                                       lr, 1), rel=1e-10)


@pytest.mark.parametrize("settings", UNROLLED_CASES, ids=lambda c: f"K={c['K']},steps={c['steps']}")
def test_every_unrolled_mistake_is_far_from_the_answer_or_is_the_answer(settings):
    """In every case a slip either gives the right number exactly (no Hessian term at steps = 1, no mean
    with N = 1) or is off by at least 10 times the relative tolerance; the greedy slip (the one the
    exercise is about) is caught in every case with more than one step."""
    params, s, args, dtype = unrolled_problem(settings)
    expected = grader.unrolled_hypergradient_torch(params, s, *args)
    rtol = (LOW_PRECISION if dtype == np.float32 else HIGH_PRECISION)[0]
    for slip, description in grader.UNROLLED_MISTAKES.items():
        mistake = grader.tangent_hypergradient(params, s, *args, slip=slip)
        gap = abs(mistake - expected)
        assert gap < 1e-12 * abs(expected) or gap > 10 * rtol * abs(expected), (slip, mistake, expected)
        if slip in ("greedy", "not_centred") and settings["steps"] > 1:
            assert gap > 10 * rtol * abs(expected), slip


def test_the_unrolled_hypergradient_on_digits_changes_sign_with_the_horizon():
    """The notebook's plot: a linear classifier from zero on the digits, lr = 3, alpha = 0.001. Up to 300
    steps ahead smoothing hurts (dL_val/ds > 0); from 500 on it helps (< 0): the short-horizon bias,
    which the model answer reads off the plot."""
    x_train, y_train, x_val, y_val = grader.digits_split()
    zeros = {"W": np.zeros((10, 64)), "b": np.zeros(10)}
    s = np.log(0.001 / 0.999)
    short = grader.tangent_hypergradient(zeros, s, x_train, y_train, x_val, y_val, 3.0, 1)
    assert short == pytest.approx(grader.unrolled_hypergradient_torch(zeros, s, x_train, y_train, x_val, y_val, 3.0, 1),
                                  rel=1e-10)
    by_horizon = [grader.tangent_hypergradient(zeros, s, x_train, y_train, x_val, y_val, 3.0, T)
                  for T in (10, 100, 300, 500, 1000)]
    assert short > 0 and all(value > 0 for value in by_horizon[:3]) and all(value < 0 for value in by_horizon[3:])


def test_learning_alpha_on_digits_helps_and_differs_from_every_wrong_loop():
    """The setting of test_training_loop: learning alpha ends with a clearly lower validation NLL than
    keeping it at its start, and each wrong loop (and each accepted order) ends at another s."""
    replay = functools.partial(grader.reference_run, 0, 16, 0.0)  # check_training_loop's seed 0, hidden, s0
    fixed = replay(1.0, 0.0, 40)  # its lr and steps, with hyper_lr = 0
    runs = {order: replay(1.0, 30.0, 40, order) for order in grader.ORDERS}  # and hyper_lr = 30
    runs["training loss"] = replay(1.0, 30.0, 40, s_gradient=grader.training_loss_ds)
    runs["ascent"] = replay(1.0, -30.0, 40)
    for order in grader.ORDERS:
        assert runs[order].val[-1] < fixed.val[-1] - 0.3
    finals = [fixed.s] + [run.s for run in runs.values()]
    assert min(abs(a - b) for i, a in enumerate(finals) for b in finals[i + 1:]) > 0.1
    np.testing.assert_allclose(runs["s first"].used, runs["s first"].after)


def test_reference_runs_are_the_reference_loop_computed_once_and_read_only():
    run = grader.reference_run(3, 8, 0.5, 1.0, 30.0, 3)
    assert grader.reference_run(3, 8, 0.5, 1.0, 30.0, 3, "s first") is run  # defaults and positions share it
    again = grader.reference_loop(grader.make_params(3, 64, 8, 10), 0.5, grader.digits_split(), 1.0, 30.0, 3)
    assert run.s == again.s
    for name in grader.PARAMS:
        np.testing.assert_array_equal(run.params[name], again.params[name])
    np.testing.assert_array_equal(run.val, again.val)
    with pytest.raises(ValueError, match="read-only"):
        run.val[0] = 0.0


# --- the notebook and the grader agree on the network --------------------------------------------

@functools.lru_cache(maxsize=None)
def solution_namespace(name):
    """The functions the sample variant `name` defines."""
    return namespace_of(next(v for v in VARIANTS if v.name == name))


def namespace_of(variant):
    """The functions a submission defines: its locked and solution cells, run in one namespace."""
    namespace = {}
    for cell in variant.build(ASSIGNMENT).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("solution") or meta.get("locked")) and not meta.get("grade"):
            if meta.get("grade_id") != "digits":  # the checks load their own split
                exec(compile(cell.source, meta.get("grade_id", "cell"), "exec"), namespace)
    return namespace


def test_notebook_forward_gives_the_graders_cache():
    ns = solution_namespace("correct")
    params = grader.make_params(4, 5, 6, 3)
    x, y = grader.make_batch(5, 7, 5, 3)
    ours, theirs = grader.make_cache(params, x, y, 0.2), ns["network_forward"](params, x, y, 0.2)
    assert set(theirs) <= set(ours)  # the grader's cache also names the staged softmax's steps
    for name in theirs:
        np.testing.assert_allclose(np.asarray(theirs[name], dtype=float), np.asarray(ours[name], dtype=float),
                                   rtol=1e-12, atol=1e-14, err_msg=name)


def test_references_run_inside_the_guard_which_stays_on_around_them():
    params, x_train, y_train, x_val, y_val = hypergradient_problem(0, 3)
    cache = grader.make_cache(params, x_train, y_train, 0.1)
    expected = grader.ref_alpha_hypergradient(params, 0.0, x_train, y_train, x_val, y_val, 0.5)
    leaf = torch.ones(2, requires_grad=True)
    references = (grader.ref_smoothed_nll_grad, grader.ref_network_backward, grader.make_linear_params,
                  grader.ref_unrolled_hypergradient, grader.ref_alpha_hypergradient)
    with handed_over(*references), no_autograd("the student's function"):  # as reference_pieces does
        grader.ref_smoothed_nll_grad(cache["g"], y_train, 0.1)
        grader.ref_network_backward(cache, np.ones_like(cache["g"]))
        linear = grader.make_linear_params(0, x_train.shape[1], 3)
        grader.ref_unrolled_hypergradient(linear, 0.0, x_train, y_train, x_val, y_val, 0.5, 2)
        assert grader.ref_alpha_hypergradient(params, 0.0, x_train, y_train, x_val, y_val, 0.5) == expected
        for call in (lambda: (leaf * leaf).sum().backward(), lambda: torch.autograd.grad((leaf * 2).sum(), [leaf]),
                     lambda: torch.func.grad(lambda t: (t * t).sum())(leaf.detach())):
            with pytest.raises(AutogradCalled):
                call()
    (leaf * leaf).sum().backward()  # and autograd is back afterwards
    assert leaf.grad.tolist() == [2.0, 2.0]


def test_reference_pieces_are_put_back_even_when_the_test_fails():
    def mine(*args):
        raise AssertionError("student's own")

    namespace = {"smooth_targets": mine, "alpha_hypergradient": mine, "other": 1}
    with pytest.raises(ZeroDivisionError):
        with grader.reference_pieces(grader.REFERENCES, namespace=namespace, keep=("alpha_hypergradient",)):
            assert namespace["smooth_targets"] is grader.ref_smooth_targets
            assert namespace["alpha_hypergradient"] is mine
            1 / 0
    assert namespace == {"smooth_targets": mine, "alpha_hypergradient": mine, "other": 1}


# --- the checks accept right answers ... ---------------------------------------------------------------

def run_checks(ns):
    """Every check of the notebook on a spread of cases; returns the network_backward report."""
    for K, alpha in ((3, 0.1), (2, 0.97), (10, 0.0)):
        grader.check_smooth_targets(ns["smooth_targets"], seed=K, N=5, K=K, alpha=alpha)
        for dtype in (np.float64, np.float32):
            grader.check_smoothed_nll(ns["smoothed_nll"], seed=K, N=6, K=K, alpha=alpha, dtype=dtype, namespace=ns)
            grader.check_smoothed_nll_grad(ns["smoothed_nll_grad"], seed=K, N=6, K=K, alpha=alpha, dtype=dtype,
                                           namespace=ns)
    report = grader.merged(*(
        grader.check_network_backward(ns["network_backward"], seed=K, N=N, K=K, D=D, H=H, dtype=dtype, namespace=ns)
        for K, N, D, H, dtype in ((3, 4, 5, 4, np.float64), (2, 1, 3, 6, np.float64), (10, 8, 8, 5, np.float32),
                                  (4, 5, 4, 4, np.float64))
    ))
    for K, s, dtype in ((3, -1.0, np.float64), (2, 0.0, np.float64), (10, 2.5, np.float32)):
        grader.check_alpha_hypergradient(ns["alpha_hypergradient"], seed=K, K=K, N_train=8, N_val=5, s=s, lr=0.5,
                                         dtype=dtype, namespace=ns)
    grader.check_sgd_update(ns["sgd_update"], seed=0, K=3)
    grader.check_sgd_update(ns["sgd_update"], seed=1, K=10, dtype=np.float32)
    for settings in UNROLLED_CASES:
        grader.check_unrolled_hypergradient(ns["unrolled_hypergradient"], namespace=ns, **settings)
    grader.check_training_loop(ns["train_learned_alpha"], seed=0, namespace=ns)
    return report


@pytest.mark.parametrize("name", ["correct", "written_differently"])
def test_right_answers_pass_every_check(name):
    report = run_checks(solution_namespace(name))
    assert report.fraction == 1.0, str(report)
    assert report.points(3) == 3


# --- ... and name each mistake -------------------------------------------------------------------------

def check_of(cell, ns):
    """The visible check of one graded cell, as the notebook calls it."""
    if cell == "test_smooth_targets":
        return grader.check_smooth_targets(ns["smooth_targets"], seed=0, N=4, K=3, alpha=0.1)
    if cell == "test_smoothed_nll":
        return grader.check_smoothed_nll(ns["smoothed_nll"], seed=0, N=4, K=3, alpha=0.1, namespace=ns)
    if cell == "test_smoothed_nll_grad":
        return grader.check_smoothed_nll_grad(ns["smoothed_nll_grad"], seed=0, N=4, K=3, alpha=0.1, namespace=ns)
    if cell == "test_network_backward":
        report = grader.check_network_backward(ns["network_backward"], seed=0, N=4, K=3, D=5, H=4, namespace=ns)
        if report.fraction < 1:
            raise GradientMismatch(str(report))
        return report
    if cell == "test_network_backward, square":  # the hidden case with square weight matrices
        report = grader.check_network_backward(ns["network_backward"], seed=53, N=5, K=4, D=4, H=4, namespace=ns)
        if report.fraction < 1:
            raise GradientMismatch(str(report))
        return report
    if cell == "test_manual_backward":  # the grade id the unrolled hypergradient's test kept
        return grader.check_unrolled_hypergradient(ns["unrolled_hypergradient"], seed=0, K=3, N_train=8, N_val=6,
                                                   s=-1.0, lr=0.5, steps=3, namespace=ns)
    if cell == "test_alpha_hypergradient":
        return grader.check_alpha_hypergradient(ns["alpha_hypergradient"], seed=0, K=3, N_train=8, N_val=6, s=-1.0,
                                                lr=0.5, namespace=ns)
    if cell == "test_sgd_update":
        return grader.check_sgd_update(ns["sgd_update"], seed=0, K=3)
    if cell == "test_training_loop":
        return grader.check_training_loop(ns["train_learned_alpha"], seed=0, namespace=ns)
    raise KeyError(cell)


MISTAKES = [v for v in VARIANTS if v.loses and not v.blank]


@pytest.mark.parametrize("variant", MISTAKES, ids=[v.name for v in MISTAKES])
def test_each_sample_mistake_is_named(variant):
    ns = solution_namespace(variant.name)
    for cell, phrase in variant.loses.items():
        with pytest.raises(AssertionError) as failure:
            check_of(cell, ns)
        assert phrase in str(failure.value), str(failure.value)


# More typical mistakes than the sample class grades end to end: the edit, the cell whose check must
# fail, and a phrase of the failure message.
MORE_MISTAKES = {
    "torch_convention": (
        [Replace("smooth_targets", "alpha / (num_classes - 1))", "alpha / num_classes)"),
         Replace("smooth_targets", "= 1 - alpha", "= 1 - alpha + alpha / num_classes")],
        "test_smooth_targets", "torch's label_smoothing=alpha convention"),
    "dalpha_without_true_class": (
        [Replace("smoothed_nll", "np.mean(log_p_true - mean_log_p_wrong)", "np.mean(-mean_log_p_wrong)")],
        "test_smoothed_nll_grad", "misses the true class's term"),
    "dlogits_q_minus_p": (
        [Replace("smoothed_nll", "(np.exp(logp) - smooth_targets(target, K, alpha)) / N",
                 "(smooth_targets(target, K, alpha) - np.exp(logp)) / N")],
        "test_smoothed_nll_grad", "sign flipped"),
    "loss_summed_not_averaged": (
        [Replace("smoothed_nll", "-(q * log_softmax(logits)).sum() / len(q)", "-(q * log_softmax(logits)).sum()")],
        "test_smoothed_nll", "a mean over the batch needs a 1/N"),
    "network_bias_not_summed": (
        [Replace("network_backward", "db0 = dc.sum(axis=0)", "db0 = dc")],
        "test_network_backward", "summed over the broadcast axis"),
    "network_relu_gate_from_output": (
        [Replace("network_backward", 'dc = dd * (cache["c"] > 0)', 'dc = dd * (cache["d"] >= 0)')],
        "test_network_backward", "the ReLU let the gradient through everywhere"),
    "network_dW0_transposed_square": (
        [Replace("network_backward", 'dW0 = da.T @ cache["x"]', 'dW0 = cache["x"].T @ da')],
        "test_network_backward, square", "dW0 is transposed"),
    "network_dd_with_W1_transposed_square": (
        [Replace("network_backward", 'dd = df @ cache["W1"]', 'dd = df @ cache["W1"].T')],
        "test_network_backward, square", "dd used W1^T"),
    "unrolled_dq_over_K": (
        [Replace("unrolled_hypergradient", "1.0 / (K - 1))   # dq/dalpha", "1.0 / K)   # dq/dalpha")],
        "test_manual_backward", "dq/dalpha used 1/K"),
    "unrolled_dq_sign": (
        [Replace("unrolled_hypergradient", "de = (dp - dq) / N", "de = (dp + dq) / N")],
        "test_manual_backward", "wrong sign on its q part"),
    "unrolled_tangent_without_mean": (
        [Replace("unrolled_hypergradient", "de = (dp - dq) / N", "de = dp - dq")],
        "test_manual_backward", "misses the 1/N of the mean"),
    "unrolled_tangent_climbs": (
        [Replace("unrolled_hypergradient", "dW, db = dW - lr * de.T @ x_train, db - lr * de.sum(axis=0)",
                 "dW, db = dW + lr * de.T @ x_train, db + lr * de.sum(axis=0)")],
        "test_manual_backward", "took its step uphill"),
    "unrolled_bias_tangent_frozen": (
        [Replace("unrolled_hypergradient", "dW, db = dW - lr * de.T @ x_train, db - lr * de.sum(axis=0)",
                 "dW = dW - lr * de.T @ x_train")],
        "test_manual_backward", "the bias's derivative was left at 0"),
    "unrolled_last_dot_W_only": (
        [Replace("unrolled_hypergradient", " + np.sum(e_val.sum(axis=0) * db)", "")],
        "test_manual_backward", "covers W only"),
    "unrolled_one_step_fewer": (
        [Replace("unrolled_hypergradient", "for _ in range(steps):", "for _ in range(steps - 1):")],
        "test_manual_backward", "the loop ran steps - 1 times"),
    "unrolled_val_at_start": (
        [Replace("unrolled_hypergradient", "e_val, _ = smoothed_nll_grad(x_val @ W.T + b, y_val, 0.0)",
                 'e_val, _ = smoothed_nll_grad(x_val @ params["W"].T + params["b"], y_val, 0.0)')],
        "test_manual_backward", "taken at the parameters given"),
    "unrolled_val_smoothed": (
        [Replace("unrolled_hypergradient", "e_val, _ = smoothed_nll_grad(x_val @ W.T + b, y_val, 0.0)",
                 "e_val, _ = smoothed_nll_grad(x_val @ W.T + b, y_val, alpha)")],
        "test_manual_backward", "the validation loss was smoothed"),
    "unrolled_dalpha_not_ds": (
        [Replace("unrolled_hypergradient", "return float(dval_dalpha * alpha * (1 - alpha))", "return float(dval_dalpha)")],
        "test_manual_backward", "this is dL_val/dalpha, not dL_val/ds"),
    "hypergradient_val_at_theta": (
        [Replace("alpha_hypergradient", "val = network_forward(new_params, x_val", "val = network_forward(params, x_val")],
        "test_alpha_hypergradient", "take it at the updated parameters"),
    "hypergradient_smoothed_val": (
        [Replace("alpha_hypergradient", "val = network_forward(new_params, x_val, y_val, 0.0)",
                 "val = network_forward(new_params, x_val, y_val, alpha)"),
         Replace("alpha_hypergradient", "smoothed_nll_grad(val[\"g\"], y_val, 0.0)",
                 "smoothed_nll_grad(val[\"g\"], y_val, alpha)")],
        "test_alpha_hypergradient", "the plain NLL (alpha = 0)"),
    "hypergradient_minus_dropped": (
        [Replace("alpha_hypergradient", "dval_dalpha = -lr * sum(", "dval_dalpha = lr * sum(")],
        "test_alpha_hypergradient", "mind the minus"),
    "hypergradient_mixed_over_K": (
        [Replace("alpha_hypergradient", "1.0 / (K - 1))", "1.0 / K)")],
        "test_alpha_hypergradient", "used 1/K for the wrong classes"),
    "hypergradient_mixed_without_1_over_N": (
        [Replace("alpha_hypergradient", "mixed = network_backward(train, -dq_dalpha / N)",
                 "mixed = network_backward(train, -dq_dalpha)")],
        "test_alpha_hypergradient", "which is the batch size N=8"),
    "loss_mean_over_all_entries": (
        [Replace("smoothed_nll", "-(q * log_softmax(logits)).sum() / len(q)", "-(q * log_softmax(logits)).mean()")],
        "test_smoothed_nll", "mean over all N * K entries"),
    "loss_not_smoothed": (
        [Replace("smoothed_nll", "q = smooth_targets(target, logits.shape[-1], alpha)",
                 "q = smooth_targets(target, logits.shape[-1], 0.0)")],
        "test_smoothed_nll", "the plain NLL (alpha = 0)"),
    "dalpha_mean_includes_true_class": (
        [Replace("smoothed_nll", "mean_log_p_wrong = np.where(is_target, 0.0, logp).sum(axis=1) / (K - 1)",
                 "mean_log_p_wrong = logp.mean(axis=1)")],
        "test_smoothed_nll_grad", "averages log p over all K classes"),
    "dlogits_one_hot": (
        [Replace("smoothed_nll", "(np.exp(logp) - smooth_targets(target, K, alpha)) / N",
                 "(np.exp(logp) - smooth_targets(target, K, 0.0)) / N")],
        "test_smoothed_nll_grad", "uses the one-hot target"),
    "hypergradient_sigmoid_prime_alpha": (
        [Replace("alpha_hypergradient", "dval_dalpha * alpha * (1 - alpha)", "dval_dalpha * alpha")],
        "test_alpha_hypergradient", "not alpha"),
    "hypergradient_no_lr": (
        [Replace("alpha_hypergradient", "dval_dalpha = -lr * sum(", "dval_dalpha = -sum(")],
        "test_alpha_hypergradient", "the step size is missing"),
    "hypergradient_mixed_sign": (
        [Replace("alpha_hypergradient", "mixed = network_backward(train, -dq_dalpha / N)",
                 "mixed = network_backward(train, dq_dalpha / N)")],
        "test_alpha_hypergradient", "the mixed derivative's sign"),
    "hypergradient_mixed_at_new_params": (
        [Replace("alpha_hypergradient", "mixed = network_backward(train, -dq_dalpha / N)",
                 "mixed = network_backward(network_forward(new_params, x_train, y_train, alpha), -dq_dalpha / N)")],
        "test_alpha_hypergradient", "pushed back through the network at theta'"),
    "hypergradient_val_on_training_data": (
        [Replace("alpha_hypergradient", "val = network_forward(new_params, x_val, y_val, 0.0)",
                 "val = network_forward(new_params, x_train, y_train, 0.0)"),
         Replace("alpha_hypergradient", 'smoothed_nll_grad(val["g"], y_val, 0.0)', 'smoothed_nll_grad(val["g"], y_train, 0.0)')],
        "test_alpha_hypergradient", "computed on the training data"),
    "hypergradient_is_training_dalpha": (
        [Replace("alpha_hypergradient", "return float(dval_dalpha * alpha * (1 - alpha))",
                 "return float(smoothed_nll_grad(train['g'], y_train, alpha)[1] * alpha * (1 - alpha))")],
        "test_alpha_hypergradient", "TRAINING loss's dL/dalpha"),
    "sgd_in_place_without_return": (
        [Replace("sgd_update", "return {name: params[name] - lr * grads[name] for name in params}",
                 "for name in params:\n        params[name] -= lr * grads[name]")],
        "test_sgd_update", "still `return params`"),
    "loop_returns_the_first_s": (
        [Replace("train_learned_alpha", "return params, s, history", "return params, 0.0, history")],
        "test_training_loop", "return the final s"),
    "loop_records_the_smoothed_val_loss": (
        [Replace("train_learned_alpha", 'network_forward(params, x_val, y_val, 0.0)["o"]',
                 'network_forward(params, x_val, y_val, alpha)["o"]')],
        "test_training_loop", "smoothed validation loss was recorded"),
    "loop_s_climbs": (
        [Replace("train_learned_alpha", "s = s - hyper_lr", "s = s + hyper_lr")],
        "test_training_loop", "s moved WITH the hypergradient"),
    "loop_never_moves_s": (
        [Replace("train_learned_alpha", "s = s - hyper_lr *", "_ = hyper_lr *")],
        "test_training_loop", "s never moved"),
    "loop_alpha_not_squashed": (
        [Replace("train_learned_alpha", "alpha = sigmoid(s)", "alpha = s")],
        "test_training_loop", "alpha left (0, 1)"),
    "loop_climbs_the_loss": (
        [Replace("train_learned_alpha", "params = sgd_update(params, network_backward(train, dg), lr)",
                 "params = {n: params[n] + lr * network_backward(train, dg)[n] for n in params}")],
        "test_training_loop", "adds the gradient"),
    "loop_history_before_the_step": (
        [Replace("train_learned_alpha", "        train = network_forward(params,",
                 "        before = params\n        train = network_forward(params,"),
         Replace("train_learned_alpha", 'network_forward(params, x_val, y_val, 0.0)["o"]',
                 'network_forward(before, x_val, y_val, 0.0)["o"]')],
        "test_training_loop", "recorded before the step"),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # climbing the loss overflows, as it should
@pytest.mark.parametrize("name", list(MORE_MISTAKES))
def test_more_mistakes_are_named(name):
    edits, cell, phrase = MORE_MISTAKES[name]
    ns = namespace_of(Variant(name, "the correct answer with one mistake", edits))
    with pytest.raises(AssertionError) as failure:
        check_of(cell, ns)
    assert phrase in str(failure.value), str(failure.value)


# --- a numerical gradient loses on cost ------------------------------------------------------------
# Not in the sample class: its notebook trains with the student's network_backward and
# smoothed_nll_grad on the digits, which numerical gradients would take minutes for.

NUMERICAL_BACKWARDS = NUMERICAL_GRADIENT + '''

def smoothed_nll_grad(logits, target, alpha):
    return (central_differences(lambda z: smoothed_nll(z, target, alpha), logits),
            central_differences(lambda a: smoothed_nll(logits, target, a), alpha))


def network_backward(cache, dg):
    x, W0, b0, W1, b1 = (cache[n] for n in ("x", "W0", "b0", "W1", "b1"))

    def logits(x, W0, b0, W1, b1):
        return np.maximum(x @ W0.T + b0, 0) @ W1.T + b1

    parts = dict(x=x, W0=W0, b0=b0, W1=W1, b1=b1)
    grads = {}
    for name in ("W0", "b0", "W1", "b1"):
        grads[name] = central_differences(lambda v: np.sum(dg * logits(**{**parts, name: v})), parts[name])
    grads["f"] = grads["d"] = grads["c"] = grads["a"] = None  # never reached: the cost check comes first
    return grads
'''


@pytest.mark.parametrize("check, name", [(grader.check_smoothed_nll_grad_cost, "smoothed_nll_grad"),
                                         (grader.check_network_backward_cost, "network_backward")])
def test_a_numerical_backward_loses_on_cost(check, name):
    ns = dict(solution_namespace("correct"))  # a copy: the namespace is shared between tests
    exec(NUMERICAL_BACKWARDS, ns)
    with pytest.raises(TooSlowForABackward) as failure:
        check(ns[name], namespace=ns)
    assert "perturbing the inputs" in str(failure.value)


@pytest.mark.parametrize("check, name", [(grader.check_smoothed_nll_grad_cost, "smoothed_nll_grad"),
                                         (grader.check_network_backward_cost, "network_backward")])
def test_the_masters_backward_costs_like_one(check, name):
    ns = solution_namespace("correct")
    check(ns[name], namespace=ns)
