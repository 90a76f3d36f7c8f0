"""Chapter 2 without nbgrader: its grading functions, its sample submissions, and its lecture.

* Every sample submission is graded in this process by the master's test cells (hidden tests
  included), as nbgrader would, and gets what its Variant says: full marks, or a loss whose
  message names the mistake. (tests/test_sample_grading.py does the same with real nbgrader.)
* The grading functions accept right answers in other forms and name further typical mistakes.
* The lecture's claims hold: naive forms overflow, stable forms match torch for logits of 1e4,
  the binary cross-entropy gradient and the normalisers' VJP formulas match autograd.
"""
import ast
import contextlib
import io
import numbers

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograde import AutogradCalled, GradientMismatch, NotAnArray, compare_all
from autograde.chapters import softmax_nll as grader
from autograde.reference import randn, torch_grads
from autograde.grading.course.layout import ROOT, notebook_path
from autograde.grading.demo.samples import softmax_nll as samples

ASSIGNMENT = "02_softmax_nll"
LECTURE = ROOT / "notebooks" / "02_softmax_nll.ipynb"


# --- a small in-process autograder ---------------------------------------------------------------

# The answers these tests write stand in for a student's: they use helpers of their own, never the
# checks' (a student's function that calls the checks' code is refused: autograde/off_limits.py).

def softmax_over(z, axis):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def pick(logp, target):
    return np.take_along_axis(logp, np.asarray(target)[..., None], axis=-1)[..., 0]


def cross_entropy_torch(z, target):
    K = z.shape[-1]
    return F.cross_entropy(z.reshape(-1, K), torch.as_tensor(np.asarray(target, dtype=np.int64)).reshape(-1))


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def run_cell(source, namespace):
    """Execute a cell like a notebook does; return the value of its last expression (or None)."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)
    if last is not None:
        return eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
    return None


def master_tests():
    master = nbformat.read(notebook_path(ROOT, "source", ASSIGNMENT), as_version=4)
    return {nbgrader_meta(c)["grade_id"]: (c.source, nbgrader_meta(c)["points"])
            for c in master.cells if nbgrader_meta(c).get("grade")}


def grade(notebook):
    """{test cell: (score, max score, what it printed and raised)}; plain code cells are skipped."""
    tests, namespace, grades = master_tests(), {}, {}
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta:
            continue
        source, points = tests.get(meta.get("grade_id"), (cell.source, None))
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out), np.errstate(all="ignore"):
                value = run_cell(source, namespace)
        except Exception as exc:  # a failing test cell, or a broken answer cell
            value, score = None, 0.0
            out.write(f"\n{type(exc).__name__}: {exc}")
        else:
            score = points
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                score = float(value)  # partial credit, as nbgrader reads it
        if points is not None:
            grades[meta["grade_id"]] = (score, points, out.getvalue())
    return grades


@pytest.fixture(scope="module")
def graded():
    return {variant.name: grade(variant.build(ASSIGNMENT)) for variant in samples.VARIANTS}


@pytest.mark.parametrize("variant", samples.VARIANTS, ids=lambda v: v.name)
def test_sample_gets_its_grade(variant, graded):
    grades = graded[variant.name]
    assert set(grades) == set(samples.ALL_CELLS)
    for cell, (score, points, text) in grades.items():
        if cell in variant.loses:
            assert score < points, f"{cell} kept {score}/{points}"
            assert variant.loses[cell] in text, f"{cell}: {variant.loses[cell]!r} not in\n{text}"
        else:
            assert score == points, f"{cell} got {score}/{points}:\n{text}"


def test_partial_credit_counts_the_right_intermediates(graded):
    for name, points in samples.STAGED_POINTS.items():
        assert graded[name]["test_staged"][0] == points
    assert graded["blank"]["test_staged"][0] == 0


# --- the grading functions on their own ----------------------------------------------------------

@pytest.fixture(scope="module")
def master():
    """The master's answers, defined in one namespace."""
    notebook = samples.Variant("correct", "").build(ASSIGNMENT)
    namespace = {}
    for cell in notebook.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta and not meta.get("grade"):
            exec(cell.source, namespace)
    return namespace


def message_of(check, *args):
    with pytest.raises(AssertionError) as info:
        check(*args)
    return str(info.value)


Z = grader.logits(5, 4, 3)
T = grader.targets(6, (4,), 3)


def test_right_answers_in_other_forms_pass(master):
    softmax = master["softmax"]
    grader.check_softmax(lambda z: torch.as_tensor(softmax(z)), Z)            # a tensor
    grader.check_softmax(lambda z: softmax(z).astype(np.float32), Z)         # float32
    grader.check_softmax(lambda z: softmax(z).tolist(), Z)                    # a list
    grader.check_cross_entropy(lambda z, t: torch.tensor(master["cross_entropy"](z, t)), Z, T)
    grader.check_nll_loss(lambda logp, t: np.float32(master["nll_loss"](logp, t)), 0, (4, 3))
    grader.check_softmax_jacobian(lambda z: torch.as_tensor(master["softmax_jacobian"](z)), Z[0])


@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4), (1, 1, 2)])
def test_master_passes_every_check_for_any_batch_shape(master, shape):
    z, t = grader.logits(11, *shape), grader.targets(12, shape[:-1], shape[-1])
    grader.check_softmax(master["softmax"], z)
    grader.check_log_softmax(master["log_softmax"], z)
    grader.check_nll_loss(master["nll_loss"], 13, shape)
    grader.check_cross_entropy(master["cross_entropy"], z, t)
    grader.check_cross_entropy_grad(master["cross_entropy_grad"], z, t)
    grader.check_softmax_vjp(master["softmax_vjp"], 14, shape)
    grader.check_log_softmax_vjp(master["log_softmax_vjp"], 15, shape)


def test_extreme_logits_pass_the_master_and_are_extreme(master):
    for z in grader.extreme_logits(seed=3):
        assert np.abs(z).max() >= 800  # exp(800) overflows float64
        t = grader.targets(4, z.shape[:-1], z.shape[-1])
        grader.check_softmax(master["softmax"], z)
        grader.check_log_softmax(master["log_softmax"], z)
        grader.check_cross_entropy(master["cross_entropy"], z, t)
        grader.check_cross_entropy_grad(master["cross_entropy_grad"], z, t)


def naive_softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def test_overflow_and_log_of_zero_are_named(master):
    big = np.array([1000.0, 1001.0, 1002.0])
    with np.errstate(all="ignore"):
        text = message_of(grader.check_softmax, naive_softmax, big)
        assert "nan" in text and "subtract the max" in text and "1000" in text
        text = message_of(grader.check_log_softmax, lambda z: np.log(master["softmax"](z)),
                          np.array([[0.0, -800.0, 1.0]]))
        assert "-inf at index (0, 1)" in text and "underflowed to 0" in text
        text = message_of(grader.check_cross_entropy,
                          lambda z, t: master["nll_loss"](np.log(master["softmax"](z)), t),
                          np.array([[0.0, -800.0]]), np.array([1]))
        assert "inf" in text and "underflowed to 0" in text


def test_softmax_and_log_softmax_mistakes_are_named(master):
    z3 = grader.logits(7, 2, 3, 4)
    text = message_of(grader.check_softmax, lambda z: softmax_over(z, 1), z3)
    assert "softmax over axis 1" in text
    text = message_of(grader.check_softmax, lambda z: softmax_over(z, None), Z)
    assert "over the whole array" in text
    text = message_of(grader.check_log_softmax,
                      lambda z: z - np.log(np.exp(z - z.max(-1, keepdims=True)).sum(-1, keepdims=True)), Z)
    assert "subtracted inside the exp but not from z" in text
    text = message_of(grader.check_softmax, lambda z: master["softmax"](z)[..., :-1], Z)
    assert "wrong shape" in text


def test_loss_mistakes_are_named(master):
    per_example = lambda logp, t: -np.take_along_axis(logp, t[..., None], -1)[..., 0]
    text = message_of(grader.check_nll_loss, lambda logp, t: per_example(logp, t).sum(), 1, (5, 3))
    assert "sum over the N=5 examples" in text
    text = message_of(grader.check_nll_loss, lambda logp, t: -logp[:, t].mean(), 1, (5, 3))
    assert "N x N" in text
    text = message_of(grader.check_nll_loss, lambda logp, t: -(np.eye(3)[t] * logp).mean(), 1, (5, 3))
    assert "mean over all N*K = 15 entries" in text
    grader.check_nll_loss(lambda logp, t: per_example(logp, t).mean(), 1, (5,))  # right, also for one vector
    text = message_of(grader.check_cross_entropy,
                      lambda z, t: master["nll_loss"](np.log(softmax_over(z, 0)), t), Z, T)
    assert "softmax over axis 0" in text


def test_nll_of_a_single_vector_is_right(master):
    grader.check_nll_loss(master["nll_loss"], 1, (5,))


def test_gradient_mistakes_are_named(master):
    grad = master["cross_entropy_grad"]
    text = message_of(grader.check_cross_entropy_grad, lambda z, t: grad(z, t) / 3, Z, T)
    assert "divided by N*K = 12" in text
    text = message_of(grader.check_cross_entropy_grad, lambda z, t: -grad(z, t), Z, T)
    assert "sign is flipped" in text
    text = message_of(grader.check_cross_entropy_grad, lambda z, t: grad(z, t)[..., 0], Z, T)
    assert "wrong shape" in text
    text = message_of(grader.check_cross_entropy_grad, lambda z, t: master["softmax"](z), Z, T)
    assert "both the target's direct part and the 1/N" in text
    text = message_of(grader.check_cross_entropy_grad, lambda z, t: None, Z, T)
    assert "forget to `return`" in text


def test_vjp_mistakes_are_named(master):
    softmax = master["softmax"]
    cases = [
        (grader.check_softmax_vjp, lambda z, g: softmax(z) * g, "only the diagonal"),
        (grader.check_softmax_vjp, lambda z, g: softmax(z) * (g - g.sum(-1, keepdims=True)), "the inner sum is unweighted"),
        (grader.check_softmax_vjp, lambda z, g: softmax(z) * (g - np.sum(g * softmax(z))), "whole array"),
        (grader.check_log_softmax_vjp, lambda z, g: g - softmax(z) * g, "sum over the classes is missing"),
        (grader.check_log_softmax_vjp, lambda z, g: g - np.sum(softmax(z) * g, -1, keepdims=True),
         "used where its transpose belongs"),
        (grader.check_log_softmax_vjp, lambda z, g: g - g.sum(-1, keepdims=True), "is not weighted"),
    ]
    for check, wrong, phrase in cases:
        assert phrase in message_of(check, wrong, 8, (4, 3)), phrase


def full_jacobian_vjp(z, g):
    p = softmax_over(z, -1)
    J = np.einsum("...i,ij->...ij", p, np.eye(z.shape[-1])) - p[..., :, None] * p[..., None, :]
    return np.einsum("...ij,...i->...j", J, g)


def jacobian_per_example_vjp(z, g):
    out = np.empty_like(z)
    for n in np.ndindex(z.shape[:-1]):
        p = softmax_over(z[n], -1)
        out[n] = (np.diag(p) - np.outer(p, p)).T @ g[n]
    return out


def test_a_vjp_that_builds_the_jacobian_is_caught_and_a_frugal_one_is_not(master):
    for builds_jacobians in (full_jacobian_vjp, jacobian_per_example_vjp):
        grader.check_softmax_vjp(builds_jacobians, 9, (4, 3))  # right values ...
        assert "build a Jacobian" in message_of(grader.check_no_full_jacobian, builds_jacobians, 10)
    grader.check_no_full_jacobian(master["softmax_vjp"], 10)  # ... and the frugal ones pass
    grader.check_no_full_jacobian(master["log_softmax_vjp"], 10)


def test_autograd_in_a_vjp_is_caught():
    def vjp(z, g):
        t = torch.tensor(z, requires_grad=True)
        torch.softmax(t, -1).backward(torch.as_tensor(g))
        return t.grad
    with pytest.raises(AutogradCalled, match="called torch autograd"):
        grader.check_softmax_vjp(vjp, 1, (4, 3))


def test_jacobian_mistakes_are_named_with_the_row_sums(master):
    z = grader.logits(12, 5)
    text = message_of(grader.check_softmax_jacobian, lambda z: np.diag(softmax_over(z, -1)), z)
    assert "only the numerator's term" in text and "rows sum to" in text
    text = message_of(grader.check_softmax_jacobian,
                      lambda z: np.diag(softmax_over(z, -1)) - softmax_over(z, -1) ** 2, z)
    assert "a vector broadcast across the rows" in text
    text = message_of(grader.check_softmax_jacobian, lambda z: -master["softmax_jacobian"](z), z)
    assert "sign is flipped" in text


def staged_variant(master, **changes):
    """The master's staged_backward with some gradients replaced by f(right gradients, values)."""
    def backward(v, y):
        grads = master["staged_backward"](v, y)
        for name, change in changes.items():
            grads[name] = change(grads, v)
        return grads
    return backward


def test_staged_gives_one_point_per_right_intermediate(master):
    forward = master["staged_forward"]
    report = grader.check_staged(forward, master["staged_backward"], 0, 4, 3)
    assert report.points(6) == 6
    wrong_dz = staged_variant(master, z=lambda g, v: g["h"])  # forgot the local derivative h
    report = grader.check_staged(forward, wrong_dz, 0, 4, 3)
    assert report.points(6) == 5 and "the local derivative of h = exp(z) is missing" in str(report)
    missing = staged_variant(master, j=lambda g, v: g["j"][:, 0])  # dj without keepdims
    report = grader.check_staged(forward, missing, 0, 4, 3)
    assert report.points(6) == 5 and "wrong shape" in str(report)


def test_staged_refuses_autograd_and_a_changed_forward(master):
    def by_autograd(v, y):
        z = torch.tensor(v["z"], requires_grad=True)
        F.cross_entropy(z, torch.as_tensor(y)).backward()
        return {"z": z.grad}
    with pytest.raises(AutogradCalled):
        grader.check_staged(master["staged_forward"], by_autograd, 0, 4, 3)

    def changed_forward(z, y):
        values = master["staged_forward"](z, y)
        return {**values, "loss": values["picked"].sum()}
    with pytest.raises(GradientMismatch, match="do not change it"):
        grader.check_staged(changed_forward, master["staged_backward"], 0, 4, 3)


def test_every_case_keeps_a_stage_only_if_it_is_right_everywhere(master):
    forward, right = master["staged_forward"], master["staged_backward"]
    only_when_n_is_1 = staged_variant(master, picked=lambda g, v: np.ones(len(g["picked"])))
    reports = [grader.check_staged(forward, only_when_n_is_1, 0, 1, 3),
               grader.check_staged(forward, only_when_n_is_1, 1, 4, 3)]
    assert reports[0].points(6) == 6 and reports[1].points(6) == 5
    assert grader.every_case(reports).points(6) == 5
    assert grader.every_case([grader.check_staged(forward, right, 2, 3, 2)]).points(6) == 6


def test_a_wrong_answer_of_the_wrong_type_is_explained():
    with pytest.raises(NotAnArray, match="expected numbers"):
        grader.check_softmax(lambda z: "probabilities", Z)


# --- the lecture's claims ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lecture():
    """The lecture's namespace after running all its code cells (quietly, plots to nowhere)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace = {}
    notebook = nbformat.read(LECTURE, as_version=4)
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in notebook.cells:
            if cell.cell_type == "code":
                exec(cell.source, namespace)
    plt.close("all")
    return namespace


def test_lecture_exp_overflow_thresholds():
    with np.errstate(over="ignore"):
        assert np.isfinite(np.exp(709.78)) and np.isinf(np.exp(709.79))
        assert np.isfinite(np.exp(np.float32(88.72))) and np.isinf(np.exp(np.float32(88.73)))


def test_lecture_naive_forms_fail_and_stable_forms_match_torch_for_logits_of_1e4(lecture):
    cases = grader.extreme_logits(seed=17) + [np.array([[1e4, 1e4 - 3.0, 0.0]]), np.array([-800.0, 3.0])]
    for t in cases:
        with np.errstate(all="ignore"):
            underflows = (t < -745).any()  # sigmoid(t) == 0.0 in float64 below about -745
            assert np.isfinite(lecture["log_sigmoid_naive"](t)).all() != underflows
        tt = torch.tensor(t)
        np.testing.assert_allclose(lecture["log_sigmoid_stable"](t), F.logsigmoid(tt).numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lecture["softplus_stable"](t), F.softplus(tt).numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(lecture["sigmoid_stable"](t), torch.sigmoid(tt).numpy(), rtol=1e-12, atol=1e-300)


def test_lecture_bce_by_hand_matches_torch_and_the_two_class_cross_entropy(lecture):
    z = grader.logits(19, 7, scale=30.0)
    y = grader.targets(20, (7,), 2)
    expected = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(y, dtype=torch.float64)).item()
    assert abs(lecture["bce_stable"](z, y) - expected) < 1e-12
    two_class = torch.stack([torch.zeros(7), torch.tensor(z)], dim=-1)
    assert abs(F.cross_entropy(two_class, torch.tensor(y)).item() - expected) < 1e-12


def test_lecture_softmax_is_shift_invariant_and_temperature_goes_from_argmax_to_uniform(lecture):
    softmax = lecture["probabilities"]
    z = grader.logits(18, 6)
    np.testing.assert_allclose(softmax(z + 123.4), softmax(z), rtol=1e-12)
    np.testing.assert_allclose(softmax(z / 1e-3), np.eye(6)[np.argmax(z)], atol=1e-12)
    np.testing.assert_allclose(softmax(z / 1e6), np.full(6, 1 / 6), rtol=1e-4)


@pytest.mark.parametrize("N", [1, 4, 9])
def test_lecture_staged_bce_gradients_match_autograd(lecture, N):
    from autograde.reference import retained_grads

    z = grader.logits(N, N, scale=2.0)
    y = grader.targets(N + 1, (N,), 2)
    values, grads = retained_grads(lecture["staged_bce_forward"], dict(z=z, y=y))
    by_hand = lecture["staged_bce_backward"](values, y)
    report = compare_all(by_hand, {name: grads[name] for name in by_hand})
    assert report.fraction == 1, str(report)
    np.testing.assert_allclose(grads["z"], (1 / (1 + np.exp(-z)) - y) / N, atol=1e-15)


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 2, 6), (4, 1, 1, 3)])
def test_lecture_gradient_and_vjp_formulas_match_autograd(lecture, shape):
    z = grader.logits(len(shape), *shape)
    y = grader.targets(sum(shape), shape, 2).astype(np.float64)
    g = randn(3, *shape)
    zt, yt, gt = torch.tensor(z), torch.tensor(y), torch.tensor(g)
    bce = torch_grads(lambda z: F.binary_cross_entropy_with_logits(z, yt), dict(z=z))["z"]
    np.testing.assert_allclose(lecture["bce_grad_formula"](zt, yt).numpy(), bce, atol=1e-15)
    x = z + np.sign(z)  # away from 0, where the normalisation is undefined
    expected = torch_grads(lambda x: x / x.norm(dim=-1, keepdim=True), dict(x=x), upstream=g)["x"]
    np.testing.assert_allclose(lecture["l2_normalize_vjp"](torch.tensor(x), gt).numpy(), expected, atol=1e-13)


def test_lecture_peak_normalisation_vjp_is_j_transpose_g_and_differs_from_j_g(lecture):
    x = np.abs(randn(21, 6)) + 0.1
    g = randn(22, 6)
    expected = torch_grads(lambda x: x / x.max(), dict(x=x), upstream=g)["x"]
    got = lecture["peak_normalize_vjp"](torch.tensor(x), torch.tensor(g)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-14)
    J = torch.autograd.functional.jacobian(lambda t: t / t.max(), torch.tensor(x)).numpy()
    assert not np.allclose(J @ g, expected)


def test_lecture_l2_normalisation_jacobian_is_symmetric_with_x_in_its_null_space():
    for K in (2, 5, 11):
        x = torch.tensor(grader.logits(K, K))
        u, r = x / x.norm(), x.norm()
        J = (torch.eye(K) - torch.outer(u, u)) / r
        assert torch.allclose(J, torch.autograd.functional.jacobian(lambda t: t / t.norm(), x), atol=1e-15)
        assert torch.allclose(J, J.T) and torch.allclose(J @ x, torch.zeros(K), atol=1e-14)


def test_lecture_loss_of_one_moving_logit(lecture):
    """For target 1: slope in (-1, 0); linear with slope -1 far to the left; loss and slope vanish far right."""
    ts = np.linspace(-40, 40, 801)
    loss = lecture["softplus_stable"](-ts)
    slope = lecture["sigmoid_stable"](ts) - 1
    plotted = np.abs(ts) <= 8  # further out, sigma(t) - 1 rounds to exactly -1 or 0 in float64
    assert np.all((slope[plotted] > -1) & (slope[plotted] < 0))
    np.testing.assert_allclose(np.gradient(loss, ts)[1:-1], slope[1:-1], atol=5e-3)
    assert abs(loss[0] - 40) < 1e-12
    assert 0 <= loss[-1] < np.exp(-38) and abs(slope[-1]) < np.exp(-38)


def test_the_assignments_softmax_jacobian_is_symmetric_with_rows_summing_to_zero():
    for K in (2, 5, 11):
        z = torch.tensor(grader.logits(K, K))
        p = torch.softmax(z, -1)
        J = torch.diag(p) - torch.outer(p, p)
        assert torch.allclose(J, torch.autograd.functional.jacobian(lambda t: torch.softmax(t, -1), z), atol=1e-15)
        assert torch.allclose(J, J.T) and torch.allclose(J.sum(1), torch.zeros(K), atol=1e-15)


# --- after review: inputs, guards, tolerances, further mistakes ----------------------------------

def softmax_in_place(z):
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z


def test_functions_that_change_their_inputs_in_place_pass(master):
    grader.check_softmax(softmax_in_place, Z)
    grader.check_log_softmax(lambda z: np.log(softmax_in_place(z)), Z)

    def vjp_in_place(z, g):
        p = softmax_in_place(z)
        g -= np.sum(g * p, axis=-1, keepdims=True)
        g *= p
        return g
    grader.check_softmax_vjp(vjp_in_place, 3, (2, 3, 4))

    def grad_in_place(z, t):
        p = softmax_in_place(z)
        p[np.arange(len(t)), t] -= 1
        t[:] = 0  # spoils the targets: the grader's own copy must not notice
        p /= len(p)
        return p
    grader.check_cross_entropy_grad(grad_in_place, Z, T)

    def backward_in_place(v, y):
        grads = master["staged_backward"](v, y)
        v["h"] *= 0  # the forward values are the student's copy
        return grads
    assert grader.check_staged(master["staged_forward"], backward_in_place, 0, 4, 3).points(6) == 6


def test_forward_functions_run_with_autograd_blocked():
    def softmax_by_autograd(z):
        t = torch.tensor(z, requires_grad=True)
        torch.logsumexp(t, dim=-1).sum().backward()
        return t.grad
    with pytest.raises(AutogradCalled):
        grader.check_softmax(softmax_by_autograd, Z)

    def log_softmax_by_func(z):
        t = torch.as_tensor(z)
        return torch.log(torch.func.grad(lambda t: torch.logsumexp(t, dim=-1).sum())(t))
    with pytest.raises(AutogradCalled):
        grader.check_log_softmax(log_softmax_by_func, Z)


def test_library_versions_are_refused_where_the_point_is_to_write_them(master):
    import scipy.special

    refused = [
        (grader.check_softmax, (lambda z: torch.softmax(torch.as_tensor(z), -1), Z), "torch.softmax"),
        (grader.check_softmax, (lambda z: torch.as_tensor(z).softmax(-1), Z), "Tensor.softmax"),
        (grader.check_softmax, (lambda z: torch.nn.Softmax(dim=-1)(torch.as_tensor(z)), Z), "F.softmax"),
        (grader.check_softmax, (lambda z: scipy.special.softmax(z, axis=-1), Z), "scipy.special.softmax"),
        (grader.check_log_softmax, (lambda z: F.log_softmax(torch.as_tensor(z), -1), Z), "F.log_softmax"),
        (grader.check_nll_loss, (lambda lp, t: F.nll_loss(torch.as_tensor(lp), torch.as_tensor(t)), 0, (4, 3)),
         "F.nll_loss"),
        (grader.check_cross_entropy, (lambda z, t: cross_entropy_torch(torch.as_tensor(z), t), Z, T),
         "F.cross_entropy"),
    ]
    originals = (torch.softmax, torch.Tensor.softmax, F.softmax, F.cross_entropy, scipy.special.softmax)
    for check, args, api in refused:
        with pytest.raises(grader.LibraryCalled, match=f"called {api}"):
            check(*args)
    assert originals == (torch.softmax, torch.Tensor.softmax, F.softmax, F.cross_entropy, scipy.special.softmax)
    # logsumexp is allowed, and from exercise 3 on a library softmax is too
    grader.check_log_softmax(lambda z: z - scipy.special.logsumexp(z, axis=-1, keepdims=True), Z)
    grader.check_cross_entropy(
        lambda z, t: np.mean(torch.logsumexp(torch.as_tensor(z), -1).numpy() - pick(z, t)), Z, T)
    grader.check_cross_entropy_grad(
        lambda z, t: (torch.softmax(torch.as_tensor(z), -1).numpy() - np.eye(3)[t]) / len(z), Z, T)


def test_a_loss_is_one_number_in_any_container(master):
    right = lambda z, t: -pick(master["log_softmax"](z), t).mean()  # noqa: E731
    grader.check_cross_entropy(lambda z, t: np.reshape(right(z, t), (1,)), Z, T)
    grader.check_cross_entropy(lambda z, t: np.reshape(right(z, t), (1, 1)), Z, T)
    grader.check_cross_entropy(lambda z, t: torch.tensor([right(z, t)]), Z, T)
    grader.check_cross_entropy(lambda z, t: np.float32(right(z, t)), Z, T)
    grader.check_nll_loss(lambda lp, t: [-pick(lp, t).mean()], 0, (2, 3, 4))
    text = message_of(grader.check_nll_loss, lambda lp, t: -pick(lp, t), 0, (2, 3, 4))
    assert "N = 6 per-example losses" in text and "take their mean" in text
    text = message_of(grader.check_cross_entropy, lambda z, t: -master["log_softmax"](z), Z, T)
    assert "expected one number, got shape (4, 3)" in text


def float32_cross_entropy(z, t):
    z = np.asarray(z, dtype=np.float32)
    m = z.max(axis=-1, keepdims=True)
    return float(np.mean(m[..., 0] + np.log(np.exp(z - m).sum(axis=-1)) - pick(z, t)))


def test_float32_answers_pass_even_as_python_floats_and_float64_ones_are_held_tighter(master):
    for z in grader.extreme_logits(seed=5) + [Z]:
        t = grader.targets(6, z.shape[:-1], z.shape[-1])
        grader.check_cross_entropy(float32_cross_entropy, z, t)  # float32 arithmetic, a Python float
        grader.check_cross_entropy_grad(
            lambda z, t: master["cross_entropy_grad"](z.astype(np.float32), t).astype(np.float32), z, t)
    off = lambda z: master["softmax"](z) * (1 + 2e-4)  # noqa: E731
    grader.check_softmax(lambda z: off(z).astype(np.float32), Z)
    assert "precision was lost" in message_of(grader.check_softmax, off, Z)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the wrong forms overflow
def test_unstable_forms_are_told_apart(master):
    def global_max(z):
        e = np.exp(z - z.max())
        return e / e.sum(axis=-1, keepdims=True)
    for z in grader.extreme_logits(seed=5)[1:]:
        text = message_of(grader.check_softmax, global_max, z)
        assert "max of the whole array" in text and "subtract the max first" not in text
        text = message_of(grader.check_softmax, naive_softmax, z)
        assert "subtract the max first" in text and "whole array" not in text
    for z in (np.array([1000.0, 1001.0, 1002.0]), np.array([-800.0, -799.5, -801.0])):
        jacobian = lambda z: np.diag(naive_softmax(z)) - np.outer(naive_softmax(z), naive_softmax(z))  # noqa: E731
        assert "subtract the max first" in message_of(grader.check_softmax_jacobian, jacobian, z)
        grader.check_softmax_jacobian(master["softmax_jacobian"], z)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the wrong forms overflow
def test_vjps_are_checked_on_huge_logits(master):
    def naive_vjp(z, g):
        p = naive_softmax(z)
        return p * (g - np.sum(g * p, axis=-1, keepdims=True))
    grader.check_softmax_vjp(naive_vjp, 1, (4, 3))  # small logits cannot tell ...
    assert "subtract the max first" in message_of(grader.check_softmax_vjp, naive_vjp, 1, (4, 3), True)
    for shape in [(3, 4), (2, 3, 5), (6,)]:  # ... huge ones can; the master passes them
        grader.check_softmax_vjp(master["softmax_vjp"], 2, shape, True)
        grader.check_log_softmax_vjp(master["log_softmax_vjp"], 2, shape, True)


def test_divisors_other_than_n_are_named(master):
    z3, t3 = grader.logits(7, 2, 3, 4), grader.targets(8, (2, 3), 4)
    grad = lambda d: lambda z, t: (softmax_over(z, -1) - np.eye(z.shape[-1])[t]) / d(z)  # noqa: E731
    assert "divided by K = 3" in message_of(grader.check_cross_entropy_grad, grad(lambda z: 3), Z, T)
    assert "divided by z.shape[0] = 2" in message_of(grader.check_cross_entropy_grad, grad(len), z3, t3)
    text = message_of(grader.check_cross_entropy_grad, grad(len), grader.logits(9, 5), np.array(2))
    assert "a single vector is one example" in text
    text = message_of(grader.check_cross_entropy,
                      lambda z, t: -pick(master["log_softmax"](z), t).sum() / len(z), z3, t3)
    assert "divided by z.shape[0] = 2" in text
    text = message_of(grader.check_cross_entropy,
                      lambda z, t: np.mean(z.max(-1) - pick(z, t)), Z, T)
    assert "log(sum(exp(z - m))) term is missing" in text


def test_a_missing_keepdims_is_explained(master):
    def no_keepdims(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1)
    text = message_of(grader.check_softmax, no_keepdims, grader.logits(1, 7, 5))
    assert "could not be broadcast" in text and "keepdims=True" in text
    assert "called with z: numpy float64 array of shape (7, 5)" in text  # what the library adds
    assert text.count("likely cause:") == 1  # the chapter's own cause, not the library's as well
    text = message_of(grader.check_softmax, no_keepdims, grader.logits(1, 4, 4))  # square: no error
    assert "without keepdims=True" in text and "sums over the last axis are" in text
    torch_no_keepdims = lambda z, g: torch.as_tensor(g) - torch.as_tensor(z).sum(-1)  # noqa: E731
    assert "keepdims=True" in message_of(grader.check_log_softmax_vjp, torch_no_keepdims, 1, (3, 5))


def test_staged_names_an_n_by_n_block(master):
    def block(v, y):
        grads = master["staged_backward"](v, y)
        grads["l"] = np.zeros_like(v["l"])
        grads["l"][:, y] = grads["picked"]
        return grads
    report = grader.check_staged(master["staged_forward"], block, 0, 4, 3)
    assert report.points(6) < 6 and "an N x N block" in str(report)
