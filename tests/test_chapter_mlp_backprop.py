"""Chapter 3's grading functions, fast and without nbgrader.

1. Every sample submission (autograde.samples.mlp_backprop.VARIANTS) runs the master's test cells,
   hidden tests included, in the namespace its own definition cells create: the right answers,
   however written, get every point; each mistake loses exactly the cells its variant lists, and
   the message names the cause.
2. More typical mistakes, each one edit of the right answer, are rejected by the grading function
   of their exercise with a message that says what is wrong.
"""
import ast
import contextlib
import io

import nbformat
import numpy as np
import pytest

from autograde.chapters import mlp_backprop as grader
from autograde.course import ROOT, notebook_path
from autograde.samples import Replace
from autograde.samples.mlp_backprop import ASSIGNMENT, VARIANTS, definitions


@pytest.fixture(scope="module")
def test_cells():
    """{grade id: (source with hidden tests, points)} from the master notebook."""
    nb = nbformat.read(notebook_path(ROOT, "source", ASSIGNMENT), as_version=4)
    cells = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            cells[meta["grade_id"]] = (cell.source, float(meta["points"]))
    return cells


def run_cell(source, namespace, points):
    """Run a test cell as nbgrader scores it: (score, what it printed and raised)."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(tree, "<test cell>", "exec"), namespace)
            value = eval(compile(ast.Expression(last.value), "<test cell>", "eval"), namespace) if last else None
    except Exception as exc:
        return 0.0, f"{out.getvalue()}{type(exc).__name__}: {exc}"
    score = min(float(value), points) if isinstance(value, (int, float)) else points
    return score, out.getvalue()


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_sample_submission_gets_its_grade(variant, test_cells):
    namespace = definitions(variant.name)
    problems = []
    for cell, (source, points) in test_cells.items():
        score, text = run_cell(source, dict(namespace), points)
        if cell in variant.loses:
            if not score < points:
                problems.append(f"{cell} kept {score}/{points}, should lose points")
            elif variant.loses[cell] not in text:
                problems.append(f"{cell} message lacks {variant.loses[cell]!r}:\n{text}")
        elif score != points:
            problems.append(f"{cell} got {score}/{points}:\n{text}")
    assert not problems, "\n\n".join(problems)


# --- more typical mistakes, one edit of the right answer each ---------------------------------------

def linear(ns, **shape):
    grader.check_linear(ns["Linear"], seed=3, **shape)


SQUARE = dict(n=4, d_in=4, d_out=4)
TALL = dict(n=4, d_in=3, d_out=5)


def every_intermediate(ns):
    report = grader.check_every_intermediate(ns["forward_three_layer"], ns["manual_backward"],
                                             seed=5, N=6, D=4, H1=5, H2=3, K=4, lam=0.05)
    if report.fraction < 1:
        raise AssertionError(str(report))


def training(ns):
    grader.check_training(ns["make_model"], ns["train"], ns["SoftmaxCrossEntropy"], seed=0)


MISTAKES = {  # id: (edits of the right answer, the check that must reject it, phrase of its message)
    "dW accumulated over calls": (
        [Replace("linear", "self.dW = dy.T @ self.x", "self.dW += dy.T @ self.x")],
        lambda ns: linear(ns, **TALL), "not add to it"),
    "dW transposed, square layer": (
        [Replace("linear", "self.dW = dy.T @ self.x", "self.dW = self.x.T @ dy")],
        lambda ns: linear(ns, **SQUARE), "transposed"),
    "dx with W^T, square layer": (
        [Replace("linear", "return dy @ self.W", "return dy @ self.W.T")],
        lambda ns: linear(ns, **SQUARE), "dx used W^T"),
    "db averaged": (
        [Replace("linear", "self.db = dy.sum(axis=0)", "self.db = dy.mean(axis=0)")],
        lambda ns: linear(ns, **TALL), "a mean where a sum belongs"),
    "ReLU mask from dy": (
        [Replace("activations", "return dy * (self.x > 0)", "return dy * (dy > 0)")],
        lambda ns: grader.check_relu(ns["ReLU"], seed=2, shape=(3, 4)), "sign of dy"),
    "ReLU input kept on the class": (
        [Replace("activations", "self.x = x\n        return np.maximum(x, 0)", "ReLU.x = x\n        return np.maximum(x, 0)")],
        lambda ns: grader.check_relu(ns["ReLU"], seed=2, shape=(3, 4)), "another layer"),
    "sigmoid without (1 - s)": (
        [Replace("activations", "return dy * self.out * (1 - self.out)", "return dy * self.out")],
        lambda ns: grader.check_sigmoid(ns["Sigmoid"], seed=2, shape=(3, 4)), "(1 - s) is missing"),
    "tanh derivative at the input": (
        [Replace("activations", "self.out = np.tanh(x)\n", "self.out = np.tanh(x)\n        self.x = x\n"),
         Replace("activations", "return dy * (1 - self.out ** 2)", "return dy * (1 - self.x ** 2)")],
        lambda ns: grader.check_tanh(ns["Tanh"], seed=2, shape=(3, 4)), "uses the input"),
    "tanh without the square": (
        [Replace("activations", "return dy * (1 - self.out ** 2)", "return dy * (1 - self.out)")],
        lambda ns: grader.check_tanh(ns["Tanh"], seed=2, shape=(3, 4)), "square is missing"),
    "softmax without the max shift": (
        [Replace("softmax_ce", "shifted = logits - logits.max(axis=1, keepdims=True)", "shifted = logits")],
        lambda ns: grader.check_softmax_cross_entropy(ns["SoftmaxCrossEntropy"], seed=1, n=3, k=4, scale=1000.0),
        "subtract the max"),
    "cross-entropy summed": (
        [Replace("softmax_ce", "target].mean()", "target].sum()")],
        lambda ns: grader.check_softmax_cross_entropy(ns["SoftmaxCrossEntropy"], seed=0, n=5, k=4),
        "summed over the batch"),
    "one-hot not subtracted": (
        [Replace("softmax_ce", "        dlogits[np.arange(n), self.target] -= 1\n", "")],
        lambda ns: grader.check_softmax_cross_entropy(ns["SoftmaxCrossEntropy"], seed=0, n=5, k=4), "one-hot"),
    "Sequential.backward in forward order": (
        [Replace("sequential", "for layer in reversed(self.layers):", "for layer in self.layers:")],
        lambda ns: grader.check_sequential(ns["Sequential"], ns["sgd_step"], seed=0, n=3, d=4), "forward order"),
    "Sequential.forward in reverse order": (
        [Replace("sequential", "for layer in self.layers:\n            x = layer.forward(x)",
                 "for layer in reversed(self.layers):\n            x = layer.forward(x)")],
        lambda ns: grader.check_sequential(ns["Sequential"], ns["sgd_step"], seed=0, n=3, d=4), "reverse order"),
    "sgd_step rebinds a local name": (
        [Replace("sequential", "param -= lr * grad", "param = param - lr * grad")],
        lambda ns: grader.check_sequential(ns["Sequential"], ns["sgd_step"], seed=0, n=3, d=4), "in place"),
    "sgd_step goes uphill": (
        [Replace("sequential", "param -= lr * grad", "param += lr * grad")],
        lambda ns: grader.check_sequential(ns["Sequential"], ns["sgd_step"], seed=0, n=3, d=4), "uphill"),
    "numerical gradient one-sided": (
        [Replace("gradcheck", "x[index] = original - h\n", "x[index] = original\n"),
         Replace("gradcheck", "(f_plus - f_minus) / (2 * h)", "(f_plus - f_minus) / h")],
        lambda ns: grader.check_numerical_gradient(ns["numerical_gradient"], seed=0, shape=(3, 4)), "one-sided"),
    "numerical gradient ignores h": (
        [Replace("gradcheck", "def numerical_gradient(f, x, h=1e-5):", "def numerical_gradient(f, x, h=1e-5):\n    h = 1e-5")],
        lambda ns: grader.check_numerical_gradient(ns["numerical_gradient"], seed=0, shape=(3, 4)), "h argument"),
    "numerical gradient leaves x nudged": (
        [Replace("gradcheck", "        x[index] = original\n", "")],
        lambda ns: grader.check_numerical_gradient(ns["numerical_gradient"], seed=0, shape=(3, 4)), "changed x"),
    "relative error averaged": (
        [Replace("gradcheck", "return float(np.max(", "return float(np.mean(")],
        lambda ns: grader.check_relative_error(ns["relative_error"]), "averaged"),
    "absolute error": (
        [Replace("gradcheck", "np.abs(a - b) / np.maximum(eps, np.abs(a) + np.abs(b))", "np.abs(a - b)")],
        lambda ns: grader.check_relative_error(ns["relative_error"]), "absolute error"),
    "relative error 0/0": (
        [Replace("gradcheck", "np.maximum(eps, np.abs(a) + np.abs(b))", "(np.abs(a) + np.abs(b))")],
        lambda ns: grader.check_relative_error(ns["relative_error"]), "NaN"),
    "counts: the row-sum path dropped": (
        [Replace("manual_backward", "    dcounts += dcounts_sum", "    pass")], every_intermediate, "counts_sum"),
    "ReLU gate missing in manual_backward": (
        [Replace("manual_backward", 'dh1 * (c["h1_preact"] > 0)', "dh1")], every_intermediate, "ReLU gate"),
    "sigmoid factor missing in manual_backward": (
        [Replace("manual_backward", 'c["h2"] * (1 - c["h2"]) * dh2', 'c["h2"] * dh2')],
        every_intermediate, "(1 - h2) is missing"),
    "penalty gradient lam W": (
        [Replace("manual_backward", '+ 2 * c["lam"] * c["W1"]', '+ c["lam"] * c["W1"]')],
        every_intermediate, "d(lam * sum w**2)/dw = 2 lam w"),
    "every log-probability in the loss": (
        [Replace("manual_backward", 'dlogprobs[np.arange(N), c["y"]] = -1.0 / N', "dlogprobs[:] = -1.0 / N")],
        every_intermediate, "only the target class"),
    "training: sgd_step rebinds": (
        [Replace("sequential", "param -= lr * grad", "param = param - lr * grad")],
        training, "no parameter changed"),
    "training: Sequential.backward in forward order": (
        [Replace("sequential", "for layer in reversed(self.layers):", "for layer in self.layers:")],
        training, "Sequential.forward and .backward"),
    "training: far too little of it": (
        [Replace("train", "epochs, batch_size, lr = 20, 32, 0.1", "epochs, batch_size, lr = 1, 32, 0.001")],
        training, "the training loop"),
    "training: ReLU passes negatives and the network does not learn": (
        [Replace("activations", "return dy * (self.x > 0)", "return dy"),
         Replace("train", "epochs, batch_size, lr = 20, 32, 0.1", "epochs, batch_size, lr = 1, 32, 0.01")],
        training, "layer 1 (ReLU): dx returned by backward"),
}


@pytest.mark.parametrize("mistake", MISTAKES, ids=list(MISTAKES))
def test_mistake_is_named(mistake):
    edits, check, phrase = MISTAKES[mistake]
    namespace = definitions("correct", edits)
    with pytest.raises(AssertionError) as failure:
        with np.errstate(all="ignore"):
            check(namespace)
    assert phrase in str(failure.value), str(failure.value)


# --- the network-level check and the data ------------------------------------------------------------

@pytest.mark.parametrize("variant", ["correct", "written_differently"])
def test_network_check_accepts_every_activation(variant):
    ns = definitions(variant)
    rng = np.random.default_rng(0)
    model = ns["Sequential"](ns["Linear"](5, 7, rng), ns["ReLU"](), ns["Linear"](7, 6, rng), ns["Tanh"](),
                             ns["Linear"](6, 4, rng), ns["Sigmoid"](), ns["Linear"](4, 3, rng))
    X, y = rng.normal(size=(9, 5)), rng.integers(0, 3, size=9)
    grader.check_network(model, ns["SoftmaxCrossEntropy"](), X, y)


def test_digits_split_is_fixed_and_standardised():
    X_train, X_test, y_train, y_test = grader.digits_split()
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert np.bincount(y_test).min() >= 40  # stratified: every digit is well represented
    assert np.allclose(X_train.mean(axis=0), 0) and X_train.std(axis=0).max() < 1
    again = grader.digits_split()
    assert all(np.array_equal(a, b) for a, b in zip((X_train, X_test, y_train, y_test), again))
    X_train[:] = 0  # callers get copies
    assert not np.array_equal(grader.digits_split()[0], X_train)
