"""Chapter 5's grading functions, fast and without nbgrader. (Every sample submission,
autograde.grading.demo.samples.autograd_engine.VARIANTS, is graded through nbgrader by
tests/end_to_end/test_grading_05_autograd_engine.py: run here as well, in-process, it cost 15 s
of the suite's 4 minutes for nothing more.)

1. Typical mistakes, each one edit of the right answer, are rejected by the check of their
   exercise (and only by it) with a message that says what is wrong.
2. The grader's pieces: its reference engine agrees with torch, the deep chain really is deep, the
   graphs it draws are what they claim.
"""

import numpy as np
import pytest

from autograde.chapters import autograd_engine as grader
from autograde.chapters.autograd_engine import engine, graphs
from autograde.off_limits import handed_over
from autograde.grading.demo.samples import NUMERICAL_GRADIENT, Replace, Rewrite
from autograde.grading.demo.samples.autograd_engine import definitions


def fails_with(phrase, check, *args, **kwargs):
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    assert phrase in str(info.value), str(info.value)
    return str(info.value)


@pytest.fixture(scope="module")
def right():
    return definitions("correct")


# --- more mistakes, each caught by its own exercise's check ------------------------------------------

def test_a_step_without_the_upstream_gradient_is_named():
    ns = definitions(edits=[Replace("value", "self.grad += out.data * out.grad", "self.grad += out.data")])
    fails_with("multiplied by the upstream gradient", grader.check_value_ops, ns["Value"], seed=3)
    grader.check_value_graphs(ns["Value"], seed=3)  # exp is left out of the graphs there


def test_a_product_that_takes_its_own_factor_is_named():
    ns = definitions(edits=[Replace("value", "self.grad += other.data * out.grad",
                                    "self.grad += self.data * out.grad")])
    fails_with("local derivative comes from b", grader.check_value_ops, ns["Value"], seed=4)


def test_subtraction_with_the_wrong_sign_is_named():
    ns = definitions(edits=[Replace("value", "return self + (-as_value(other))", "return self + as_value(other)")])
    message = fails_with("is wrong", grader.check_value_ops, ns["Value"], seed=5)
    assert ".data" in message  # the forward value is already wrong, and that is reported first


def test_backward_in_creation_order_is_named():
    ns = definitions(edits=[Replace("value", "for node in reversed(topological_order(self)):",
                                    "for node in topological_order(self):")])
    fails_with("wrong order", grader.check_value_ops, ns["Value"], seed=6)
    fails_with("wrong order", grader.check_value_graphs, ns["Value"], seed=6)


def test_an_order_with_the_root_first_is_named(right):
    def root_first(root):
        return right["topological_order"](root)[::-1]

    fails_with("reversed", grader.check_topological_order, right["Value"], root_first, seed=7)


def test_an_order_that_repeats_a_shared_node_is_named(right):
    def repeats(root):
        order, stack = [], [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            else:
                stack.append((node, True))
                stack.extend((x, False) for x in node.inputs)
        return order

    fails_with("more than once", grader.check_topological_order, right["Value"], repeats, seed=8)


def test_an_order_with_a_node_the_root_does_not_use_is_named():
    ns = definitions()
    made = []

    class Recording(ns["Value"]):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    ns["Value"] = Recording  # the operators make their results through this name too

    def with_strays(root):
        order = ns["topological_order"](root)
        return [node for node in made if all(node is not other for other in order)] + order

    fails_with("does not depend on it", grader.check_topological_order, Recording, with_strays, seed=9)


def test_a_recursive_backward_is_named():
    ns = definitions(edits=[Replace(
        "value", "        self.grad = 1.0\n        for node in reversed(topological_order(self)):\n"
                 "            node.backward_step()",
        "        self.grad = 1.0\n        self._propagate()\n\n    def _propagate(self):\n"
        "        self.backward_step()\n        for x in set(self.inputs):\n            x._propagate()")])
    fails_with("reverse topological order", grader.check_value_graphs, ns["Value"], seed=10)
    fails_with("RecursionError on a chain", grader.check_deep_graph, ns["Value"], ns["topological_order"], seed=10)


def test_unbroadcast_without_keepdims_is_named():
    ns = definitions(edits=[Rewrite("unbroadcast", """
def unbroadcast(grad, shape):
    grad = np.asarray(grad)
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    axes = tuple(i for i, size in enumerate(shape) if size == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes) if axes else grad
""")])
    fails_with("keepdims=True", grader.check_unbroadcast, ns["unbroadcast"], seed=11)


def test_a_mean_without_its_division_in_backward_is_named():
    ns = definitions(edits=[Replace(
        "tensor",
        "        count = self.data.size // self.data.sum(axis=axis).size  # entries per output entry\n"
        "        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)",
        "        out = Tensor(self.data.mean(axis=axis, keepdims=keepdims), (self,))\n\n"
        "        def backward_step():  # the step of sum: the division forgotten\n"
        "            grad = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)\n"
        "            self.grad += np.broadcast_to(grad, self.shape)\n\n"
        "        out.backward_step = backward_step\n"
        "        return out")])
    fails_with("divides by the number of entries", grader.check_tensor_reductions, ns["Tensor"], seed=12, namespace=ns)


def test_log_softmax_that_forgets_the_normaliser_is_named():
    ns = definitions(edits=[Replace("tensor", "softmax * out.grad.sum(axis=axis, keepdims=True)", "0")])
    fails_with("passed through unchanged", grader.check_log_softmax, ns["Tensor"], seed=13, namespace=ns)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # exp overflows: that is the mistake
def test_log_softmax_without_the_max_is_named():
    ns = definitions(edits=[Replace("tensor", "shifted = self.data - self.data.max(axis=axis, keepdims=True)",
                                    "shifted = self.data")])
    fails_with("subtract the max", grader.check_log_softmax, ns["Tensor"], seed=14, namespace=ns)


def test_tensor_grad_overwritten_is_named_in_the_graphs_test_only():
    ns = definitions(edits=[Replace("tensor", "other.grad += unbroadcast(out.grad, other.shape)",
                                    "other.grad = unbroadcast(out.grad, other.shape)")])
    grader.check_tensor_elementwise(ns["Tensor"], seed=15, full=(2, 3), namespace=ns)
    fails_with("accumulate into .grad with `+=`", grader.check_tensor_graphs, ns["Tensor"], seed=15, namespace=ns)


def test_a_transposed_matrix_product_gradient_is_named():
    ns = definitions(edits=[Replace("tensor", "other.grad += self.data.T @ out.grad",
                                    "other.grad += (self.data.T @ out.grad).T")])
    fails_with("transposed", grader.check_tensor_reductions, ns["Tensor"], seed=16, shape=(3, 3), namespace=ns)


NUMERICAL_STEPS = [  # * and @ find their local gradients by perturbing their inputs
    Replace("tensor", "self.grad += unbroadcast(other.data * out.grad, self.shape)",
            "self.grad += central_differences(lambda a: np.sum(out.grad * (a * other.data)), self.data)"),
    Replace("tensor", "other.grad += unbroadcast(self.data * out.grad, other.shape)",
            "other.grad += central_differences(lambda b: np.sum(out.grad * (self.data * b)), other.data)"),
    Replace("tensor", "self.grad += out.grad @ other.data.T",
            "self.grad += central_differences(lambda a: np.sum(out.grad * (a @ other.data)), self.data)"),
    Replace("tensor", "other.grad += self.data.T @ out.grad",
            "other.grad += central_differences(lambda b: np.sum(out.grad * (self.data @ b)), other.data)"),
]


def test_an_engine_that_differentiates_numerically_passes_the_values_and_loses_on_cost(right):
    ns = definitions(edits=NUMERICAL_STEPS)
    exec(NUMERICAL_GRADIENT, ns)
    grader.check_tensor_elementwise(ns["Tensor"], seed=17, full=(2, 3), namespace=ns)
    grader.check_tensor_reductions(ns["Tensor"], seed=17, shape=(3, 4), namespace=ns)
    for graph in ("elementwise", "matmul"):
        fails_with("perturbing the inputs", grader.check_tensor_cost, ns["Tensor"], graph, namespace=ns)
        grader.check_tensor_cost(right["Tensor"], graph, namespace=right)


def test_training_with_a_summed_loss_is_named():
    ns = definitions(edits=[Replace("train_mlp", ".sum() / len(rows)", ".sum()")])
    fails_with("a mean over the batch", grader.check_train_mlp, ns["train_mlp"], ns["Tensor"], seed=0, namespace=ns)


def test_training_without_zeroing_the_gradients_fails():
    ns = definitions(edits=[Replace("train_mlp", "p.grad = np.zeros_like(p.data)", "pass")])
    fails_with("test accuracy", grader.check_train_mlp, ns["train_mlp"], ns["Tensor"], seed=0, namespace=ns)


def test_training_that_never_calls_backward_is_named(right):
    def train_mlp(x_train, y_train, hidden=32, epochs=20, lr=0.1, seed=0):
        from sklearn.linear_model import LogisticRegression  # not the engine at all

        model = LogisticRegression(max_iter=200).fit(x_train, y_train)
        eye = np.eye(hidden, x_train.shape[1])
        return [eye, np.zeros(hidden), model.coef_ @ eye.T, model.intercept_]

    fails_with("never called backward()", grader.check_train_mlp, train_mlp, right["Tensor"], seed=0)


def test_grader_code_is_not_an_answer():
    fails_with("the grader's own code", grader.check_tensor_graphs, engine.Tensor, seed=0)


# --- the grader's own pieces -------------------------------------------------------------------------------

def test_the_reference_engine_agrees_with_torch():
    Tensor = type("Tensor", (engine.Tensor,), {})  # a class of this module: the checks refuse the grader's own
    with handed_over(engine.Tensor, engine.unbroadcast):  # ... and a student's code may not use it either
        grader.check_tensor_elementwise(Tensor, seed=17, full=(2, 1, 3))
        grader.check_tensor_reductions(Tensor, seed=17, shape=(2, 5))
        grader.check_log_softmax(Tensor, seed=17)
        grader.check_tensor_graphs(Tensor, seed=17)
        grader.check_unbroadcast(lambda grad, shape: engine.unbroadcast(grad, shape), seed=17, full=(3, 1, 2, 4))


def test_the_deep_chain_is_five_thousand_operations_deep(right):
    lengths = []

    def recording(root):
        order = right["topological_order"](root)
        lengths.append(len(order))
        return order

    grader.check_deep_graph(right["Value"], recording, seed=18)
    assert lengths and lengths[0] > 5_000 + 2_500  # x, 2,500 leaves w, 5,000 operations (and the numbers)


def test_random_graphs_are_what_they_claim():
    rng = np.random.default_rng(0)
    tree = graphs.random_graph(rng, 12, list(graphs.OPS), tree=True)
    assert all(tree.uses(i) <= 1 for i in range(len(tree)))
    dag = graphs.random_graph(rng, 30, list(graphs.OPS), tree=False, dangling=True)
    assert any(dag.uses(i) >= 2 for i in range(len(dag)))
    assert len(dag) - 1 not in dag.ancestors()  # the dangling node
    values, grads = dag.reference()
    assert all(np.isfinite(values)) and all(np.isfinite(grads)) and grads[-1] == 0.0


def test_float32_answers_get_the_float32_tolerance():
    ns = definitions("written_differently_scalar")
    assert ns["Value"](1.0).data.dtype == np.float32
    for seed in range(5):
        grader.check_value_graphs(ns["Value"], seed=seed)
        grader.check_value_ops(ns["Value"], seed=seed)


def test_a_graph_test_with_nothing_left_to_test_fails_and_says_what_to_fix(right, monkeypatch):
    """No silent points: when every graph needs an operation that is wrong on its own, the test fails."""
    from autograde.chapters.autograd_engine import training

    monkeypatch.setattr(training, "working", lambda Tensor, rng, n, m: {"exp"})  # every other operation broken
    fails_with("Fix `*` first", grader.check_tensor_graphs, right["Tensor"], seed=19, namespace=right)
