"""Chapter 3's grading functions, fast and without nbgrader.

1. Every sample submission (autograde.grading.demo.samples.mlp_backprop.VARIANTS) runs the master's test cells,
   hidden tests included, in the namespace its own definition cells create: the right answers,
   however written, get every point; each mistake loses exactly the cells its variant lists, and
   the message names the cause.
2. More right answers written another way (in place, float32, other formulas, other containers),
   each a few edits of the master's, get every point of every cell.
3. More typical mistakes, each one edit of the right answer, are rejected by the grading function
   of their exercise with a message that says what is wrong.
"""

import numpy as np
import pytest

from autograde.chapters import mlp_backprop as grader
from autograde.chapters.mlp_backprop import references
from autograde.grading.demo.samples import Replace, Rewrite
from autograde.grading.demo.samples.mlp_backprop import ASSIGNMENT, NUMERICAL_BACKWARDS, VARIANTS, definitions

from sample_cells import full_marks_problems, grade_problems, master_test_cells, run_cell


@pytest.fixture(scope="module")
def test_cells():
    return master_test_cells(ASSIGNMENT)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_sample_submission_gets_its_grade(variant, test_cells):
    problems = grade_problems(variant, definitions(variant.name), test_cells)
    assert not problems, "\n\n".join(problems)


def test_numerical_layers_lose_their_points_and_the_training_test_on_cost(test_cells):
    """The sample class differentiates only Sigmoid and Tanh numerically (a notebook that trains on
    numerical Linear layers takes minutes); here Linear and softmax cross-entropy do too, and the
    training test refuses the network before it trains."""
    namespace = definitions("correct", [Rewrite("linear", NUMERICAL_BACKWARDS["linear"]),
                                        Rewrite("softmax_ce", NUMERICAL_BACKWARDS["softmax_ce"])])
    for cell in ("test_linear", "test_softmax_ce", "test_training"):
        source, points = test_cells[cell]
        score, text = run_cell(source, dict(namespace), points)
        assert score == 0 and "perturbing the inputs" in text, f"{cell}: {score}/{points}\n{text}"


# --- right answers written another way -------------------------------------------------------------

TORCH_LINEAR = """
class Linear(Layer):
    \"\"\"torch tensors inside (no autograd): parameters, stored input, gradients; numpy at the interface.\"\"\"

    def __init__(self, d_in, d_out, rng):
        bound = 1 / np.sqrt(d_in)
        self.W = torch.as_tensor(rng.uniform(-bound, bound, size=(d_out, d_in)))
        self.b = torch.as_tensor(rng.uniform(-bound, bound, size=d_out))
        self.dW = torch.zeros_like(self.W)
        self.db = torch.zeros_like(self.b)

    def forward(self, x):
        self.x = torch.as_tensor(x, dtype=self.W.dtype)
        return (self.x @ self.W.T + self.b).numpy()

    def backward(self, dy):
        dy = torch.as_tensor(dy, dtype=self.W.dtype)
        self.dW = dy.T @ self.x
        self.db = dy.sum(0)
        return (dy @ self.W).numpy()

    def parameters(self):
        return [(self.W, self.dW), (self.b, self.db)]
"""

LOOPED_SOFTMAX_CE = """
class SoftmaxCrossEntropy:
    \"\"\"scipy's log_softmax; the gradient built row by row.\"\"\"

    def forward(self, logits, target):
        from scipy.special import log_softmax
        self.log_probs = log_softmax(logits, axis=1)
        self.target = target
        return -np.mean([self.log_probs[n, t] for n, t in enumerate(target)])

    def backward(self):
        n = len(self.target)
        rows = []
        for row, t in zip(np.exp(self.log_probs), self.target):
            row = row.copy()
            row[t] -= 1
            rows.append(row / n)
        return np.stack(rows)
"""

ALTERNATIVES = {  # name: edits of the right answer that keep it right
    "activations change dy and x in place": [
        Replace("activations", "self.x = x\n        return np.maximum(x, 0)",
                "np.maximum(x, 0, out=x)\n        self.x = x\n        return x"),
        Replace("activations", "return dy * (self.x > 0)", "dy[self.x <= 0] = 0\n        return dy"),
        Replace("activations", "return dy * self.out * (1 - self.out)", "dy *= self.out * (1 - self.out)\n        return dy"),
        Replace("activations", "self.out = np.tanh(x)\n", "self.out = np.tanh(x, out=x)\n"),
        Replace("activations", "return dy * (1 - self.out ** 2)", "dy *= 1 - self.out ** 2\n        return dy")],
    "Linear and softmax change their inputs in place": [
        Replace("linear", "return dy @ self.W", "dx = dy @ self.W\n        dy *= 0  # reuses the caller's buffer\n        return dx"),
        Replace("softmax_ce", "shifted = logits - logits.max(axis=1, keepdims=True)",
                "logits -= logits.max(axis=1, keepdims=True)\n        shifted = logits")],
    "Linear in torch": [Rewrite("linear", TORCH_LINEAR)],
    "softmax cross-entropy with scipy and loops": [Rewrite("softmax_ce", LOOPED_SOFTMAX_CE)],
    "Sequential in a tuple, sgd_step with out=": [
        Replace("sequential", "self.layers = list(layers)", "self.layers = layers"),
        Replace("sequential", "param -= lr * grad", "np.subtract(param, lr * grad, out=param)")],
    "relative error in float32 with eps added": [
        Replace("gradcheck", "a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)",
                "a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)"),
        Replace("gradcheck", "np.maximum(eps, np.abs(a) + np.abs(b))", "(np.abs(a) + np.abs(b) + eps)")],
    "manual_backward changes the cache": [
        Replace("manual_backward", "    c = cache\n", "    c = cache\n    c['probs'] = c['probs'].copy()\n"),
        Replace("manual_backward", 'dprobs = dlogprobs / c["probs"]',
                'c["probs"] **= -1\n    dprobs = dlogprobs * c["probs"]')],
    "train: decaying learning rate, last partial batch dropped, accuracy printed": [
        Replace("train", "for start in range(0, len(X), batch_size):",
                "for start in range(0, len(X) - batch_size + 1, batch_size):"),
        Replace("train", "sgd_step(model, lr)", "sgd_step(model, lr / (1 + 0.02 * epoch))"),
        Replace("train", "    return losses", "        train_accuracy = np.mean(model.forward(X).argmax(axis=1) == y)\n"
                "    return np.array(losses)")],
}


@pytest.mark.parametrize("alternative", ALTERNATIVES, ids=list(ALTERNATIVES))
def test_right_answer_written_another_way_gets_full_marks(alternative, test_cells):
    problems = full_marks_problems(definitions("correct", ALTERNATIVES[alternative]), test_cells)
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


def training_loop(ns):
    grader.check_training_loop(ns["make_model"], ns["train"], seed=0, namespace=ns)


def relative_error(ns, seed=None):
    grader.check_relative_error(ns["relative_error"], seed=seed)


def numerical_gradient(ns, shape=(3, 4)):
    grader.check_numerical_gradient(ns["numerical_gradient"], seed=0, shape=shape)


def sequential(ns):
    grader.check_sequential(ns["Sequential"], ns["sgd_step"], seed=0, n=3, d=4)


STEP = "            model.backward(loss_fn.backward())\n            sgd_step(model, lr)"


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
        lambda ns: grader.check_sigmoid(ns["Sigmoid"], seed=2, shape=(3, 4)), "a factor of sigmoid's derivative is missing"),
    "tanh derivative at the input": (
        [Replace("activations", "self.out = np.tanh(x)\n", "self.out = np.tanh(x)\n        self.x = x\n"),
         Replace("activations", "return dy * (1 - self.out ** 2)", "return dy * (1 - self.x ** 2)")],
        lambda ns: grader.check_tanh(ns["Tanh"], seed=2, shape=(3, 4)), "evaluated at the input"),
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
        lambda ns: grader.check_softmax_cross_entropy(ns["SoftmaxCrossEntropy"], seed=0, n=5, k=4), "the target's direct part is missing"),
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
        every_intermediate, "a factor of sigmoid's local gradient is missing"),
    "penalty gradient lam W": (
        [Replace("manual_backward", '+ 2 * c["lam"] * c["W1"]', '+ c["lam"] * c["W1"]')],
        every_intermediate, "half what it should be"),
    "every log-probability in the loss": (
        [Replace("manual_backward", 'dlogprobs[np.arange(N), c["y"]] = -1.0 / N', "dlogprobs[:] = -1.0 / N")],
        every_intermediate, "only the target class"),
    "training: sgd_step rebinds": (
        [Replace("sequential", "param -= lr * grad", "param = param - lr * grad")],
        training, "no parameter changed"),
    "training: Sequential.backward in forward order": (
        [Replace("sequential", "for layer in reversed(self.layers):", "for layer in self.layers:")],
        training, "what joins them"),
    "training: Sequential.parameters skips the last layer": (
        [Replace("sequential", "for layer in self.layers:\n            yield from", "for layer in self.layers[:-1]:\n            yield from")],
        training, "model.parameters() gave 2"),
    "training: far too little of it": (
        [Replace("train", "epochs, batch_size, lr = 20, 32, 0.1", "epochs, batch_size, lr = 1, 32, 0.001")],
        training, "the training loop"),
    "training: a ReLU that passes negatives still learns, but its gradient is wrong": (
        [Replace("activations", "return dy * (self.x > 0)", "return dy")],
        training, "layer 1 (ReLU): dx returned by backward"),
    "training: a backward pass twice too large still learns, but its gradient is wrong": (
        [Replace("linear", "return dy @ self.W", "return 2 * dy @ self.W")],
        training, "a factor of 2"),
    # the training loop on its own (the grader's layers in place of the student's)
    "loop: too little training": (
        [Replace("train", "epochs, batch_size, lr = 20, 32, 0.1", "epochs, batch_size, lr = 1, 32, 0.001")],
        training_loop, "train longer"),
    "loop: sgd_step before backward": (
        [Replace("train", STEP, "            sgd_step(model, lr)\n            model.backward(loss_fn.backward())")],
        training_loop, "changed between a forward pass and its backward pass"),
    "loop: no sgd_step": (
        [Replace("train", STEP, "            model.backward(loss_fn.backward())")],
        training_loop, "not followed by a step"),
    "loop: uphill": (
        [Replace("train", "sgd_step(model, lr)", "sgd_step(model, -lr)")],
        training_loop, "uphill"),
    "loop: its own update, weights only": (
        [Replace("train", "sgd_step(model, lr)",
                 "for param, grad in list(model.parameters())[::2]:\n                param -= lr * grad")],
        training_loop, "did not move every parameter"),
    "loop: sign of the gradient": (
        [Replace("train", "sgd_step(model, lr)",
                 "for param, grad in model.parameters():\n                param -= 0.01 * np.sign(grad)")],
        training_loop, "did not move every parameter"),
    "loop: the last layer gets a larger step": (
        [Replace("train", "sgd_step(model, lr)",
                 "sgd_step(model, lr)\n            model.layers[-1].W -= lr * model.layers[-1].dW")],
        training_loop, "did not move every parameter"),
    "loop: not shuffled": (
        [Replace("train", "order = rng.permutation(len(X))", "order = np.arange(len(X))")],
        training_loop, "original order"),
    "loop: shuffled once": (
        [Replace("train", "    for epoch in range(epochs):\n        order = rng.permutation(len(X))",
                 "    order = rng.permutation(len(X))\n    for epoch in range(epochs):")],
        training_loop, "same order"),
    "loop: a loss per epoch": (
        [Replace("train", "    losses = []\n", "    losses, epoch_losses = [], []\n"),
         Replace("train", "            losses.append(loss_fn.forward(", "            epoch_losses.append(loss_fn.forward("),
         Replace("train", "    return losses", "        losses.append(np.mean(epoch_losses))\n    return losses")],
        training_loop, "losses for"),
    "loop: no return": (
        [Replace("train", "    return losses", "    pass")], training_loop, "got None"),
    # more single-exercise slips
    "Linear input kept on the class": (
        [Replace("linear", "self.x = x\n", "Linear.x = x\n")], lambda ns: linear(ns, **TALL), "another Linear layer"),
    "dW averaged over the batch": (
        [Replace("linear", "self.dW = dy.T @ self.x", "self.dW = dy.T @ self.x / len(dy)")],
        lambda ns: linear(ns, **TALL), "1/N too many"),
    "ReLU gradient 1 at 0": (
        [Replace("activations", "return dy * (self.x > 0)", "return dy * (self.x >= 0)")],
        lambda ns: grader.check_relu(ns["ReLU"], seed=2, shape=(3, 4)), "exactly 0"),
    "sgd_step updates the first pair only": (
        [Replace("sequential", "for param, grad in model.parameters():\n        param -= lr * grad",
                 "param, grad = next(iter(model.parameters()))\n    param -= lr * grad")],
        sequential, "second (parameter, gradient) pair"),
    "numerical gradient nudges a copy": (
        [Replace("gradcheck", "    grad = np.zeros(x.shape)\n", "    grad = np.zeros(x.shape)\n    x = x.copy()\n")],
        numerical_gradient, "a copy of x was nudged"),
    "numerical gradient imported from autograde": (
        [Replace("gradcheck", "def relative_error(", "from autograde import numerical_gradient\n\n\ndef relative_error(")],
        numerical_gradient, "grader's own code"),
    "relative error of the largest entries": (
        [Replace("gradcheck", "return float(np.max(np.abs(a - b) / np.maximum(eps, np.abs(a) + np.abs(b))))",
                 "return float(np.max(np.abs(a - b)) / max(eps, np.max(np.abs(a) + np.abs(b))))")],
        relative_error, "divided by the largest magnitude"),
    "relative error of norms": (
        [Replace("gradcheck", "return float(np.max(np.abs(a - b) / np.maximum(eps, np.abs(a) + np.abs(b))))",
                 "return float(np.linalg.norm(a - b) / max(eps, np.linalg.norm(a) + np.linalg.norm(b)))")],
        relative_error, "norm of the difference"),
    "ReLU's local gradient by autograd in forward": (
        [Replace("activations", "self.x = x\n        return np.maximum(x, 0)",
                 "t = torch.tensor(x, requires_grad=True)\n        self.x = x\n"
                 "        self.local = torch.autograd.grad(torch.relu(t).sum(), t)[0].numpy()\n"
                 "        return np.maximum(x, 0)")],
        lambda ns: grader.check_relu(ns["ReLU"], seed=2, shape=(3, 4)), "called torch autograd"),
    "tanh's local gradient by forward-mode autograd": (
        [Replace("activations", "self.out = np.tanh(x)\n",
                 "self.out = np.tanh(x)\n        torch.func.jvp(torch.tanh, (torch.tensor(x),), (torch.ones(x.shape),))\n")],
        lambda ns: grader.check_tanh(ns["Tanh"], seed=2, shape=(3, 4)), "called torch autograd"),
    "own network of the grader's layers": (
        [Replace("train", "return Sequential(Linear(64, 32, rng), ReLU(), Linear(32, 10, rng))",
                 "return Sequential(grader.ReferenceLinear(64, 32, rng), ReLU(), Linear(32, 10, rng))")],
        training, "grader's own code"),
    "manual_backward keyed dX": (
        [Replace("manual_backward", "W1=dW1, b1=db1, X=dX)", "W1=dW1, b1=db1, dX=dX)")],
        every_intermediate, "key each gradient by the variable's own name"),
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

def network_of_every_kind(ns, rng):
    return ns["Sequential"](ns["Linear"](5, 7, rng), ns["ReLU"](), ns["Linear"](7, 6, rng), ns["Tanh"](),
                            ns["Linear"](6, 4, rng), ns["Sigmoid"](), ns["Linear"](4, 3, rng))


def network_batch(rng):
    return rng.normal(size=(9, 5)), rng.integers(0, 3, size=9).astype(np.int32)  # int32 targets too


@pytest.mark.parametrize("variant", ["correct", "written_differently"])
def test_network_check_accepts_every_activation(variant):
    ns = definitions(variant)
    rng = np.random.default_rng(0)
    model = network_of_every_kind(ns, rng)
    grader.check_network(model, ns["SoftmaxCrossEntropy"](), *network_batch(rng))  # returns without raising


WRONG_NETWORKS = {  # id: (edits of the right answer, phrases of the message, which names the layer at fault)
    "ReLU passes negatives": (
        [Replace("activations", "return dy * (self.x > 0)", "return dy")],
        ["layer 1 (ReLU): dx returned by backward", "the gradient passes where the input was negative"]),
    "tanh without the square": (
        [Replace("activations", "return dy * (1 - self.out ** 2)", "return dy * (1 - self.out)")],
        ["layer 3 (Tanh): dx returned by backward", "a square is missing"]),
    "db averaged": (
        [Replace("linear", "self.db = dy.sum(axis=0)", "self.db = dy.mean(axis=0)")],
        ["layer 6 (Linear).db", "1/N too many"]),
    "Sequential.backward in forward order": (
        [Replace("sequential", "for layer in reversed(self.layers):", "for layer in self.layers:")],
        ["what joins them"]),
}


@pytest.mark.parametrize("wrong", WRONG_NETWORKS, ids=list(WRONG_NETWORKS))
def test_network_check_names_the_layer_at_fault(wrong):
    edits, phrases = WRONG_NETWORKS[wrong]
    ns = definitions("correct", edits)
    rng = np.random.default_rng(0)
    model = network_of_every_kind(ns, rng)
    with pytest.raises(AssertionError) as failure:
        grader.check_network(model, ns["SoftmaxCrossEntropy"](), *network_batch(rng))
    for phrase in phrases:
        assert phrase in str(failure.value), str(failure.value)


def test_network_check_says_when_it_cannot_mirror_a_layer():
    class Dropout:
        def forward(self, x):
            return x

    ns = definitions("correct")
    model = ns["Sequential"](ns["Linear"](5, 3, np.random.default_rng(0)), Dropout())
    with pytest.raises(grader.CannotMirror, match="Dropout has no torch twin"):
        grader.check_network(model, ns["SoftmaxCrossEntropy"](), *network_batch(np.random.default_rng(1)))


def test_digits_split_is_fixed_and_standardised():
    X_train, X_test, y_train, y_test = grader.digits_split()
    assert X_train.shape == (1347, 64) and X_test.shape == (450, 64)
    assert np.bincount(y_test).min() >= 40  # stratified: every digit is well represented
    assert np.allclose(X_train.mean(axis=0), 0) and X_train.std(axis=0).max() < 1
    again = grader.digits_split()
    assert all(np.array_equal(a, b) for a, b in zip((X_train, X_test, y_train, y_test), again))
    X_train[:] = 0  # callers get copies
    assert not np.array_equal(grader.digits_split()[0], X_train)


def test_reference_pieces_agree_with_torch():
    """The pieces check_training_loop swaps in must be right themselves (named like the notebook's
    classes, so that check_network knows which torch function each one mirrors)."""
    rng = np.random.default_rng(1)
    named = {name: type(name, (getattr(grader, f"Reference{name}"),), {}) for name in ("ReLU", "Sigmoid", "Tanh")}
    model = grader.ReferenceSequential(
        grader.ReferenceLinear(5, 6, rng), named["ReLU"](), grader.ReferenceLinear(6, 4, rng), named["Tanh"](),
        grader.ReferenceLinear(4, 4, rng), named["Sigmoid"](), grader.ReferenceLinear(4, 3, rng))
    X, y = rng.normal(size=(7, 5)), rng.integers(0, 3, size=7)
    grader.check_network(model, grader.ReferenceSoftmaxCrossEntropy(), X, y)  # raises at the first wrong piece


def test_training_loop_check_puts_the_students_pieces_back():
    ns = definitions("correct", [Replace("train", "    return losses", "    raise RuntimeError('late')")])
    mine = {name: ns[name] for name in grader.REFERENCES}
    with pytest.raises(grader.TrainingFailed, match="late"):
        grader.check_training_loop(ns["make_model"], ns["train"], seed=0, namespace=dict(ns))
    assert all(ns[name] is piece for name, piece in mine.items())
    assert references._record is None  # the record of that check is gone too
