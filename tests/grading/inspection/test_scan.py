"""The static scan (autograde/grading/inspection/scan.py): autograd calls and patches found in a
submission's source, honest code left alone."""

import pytest

from autograde.grading.inspection import scan
from autograde.grading.course.layout import available_assignments
from autograde.grading.demo.samples import variants
from autograde.grading.demo.samples.bad_inputs import solution_cells

ASSIGNMENTS = available_assignments()
SETUP_NAMES = {"np", "plt", "torch", "grader", "check_gradient"}


def codes(source, protected=SETUP_NAMES):
    return {code for code, _, _ in scan.scan_source(source, protected)}


@pytest.mark.parametrize("source", [
    "def backward(x):\n    x.sum().backward()\n    return x.grad",
    "import torch\ng = torch.autograd.grad(y, x)",
    "from torch.autograd import grad",
    "from torch.func import vjp",
    "t = torch.tensor(x, requires_grad=True)",
    "x.requires_grad = True",
    "x.requires_grad_()",
])
def test_scan_finds_autograd(source):
    assert codes(source) == {"A"}


@pytest.mark.parametrize("source", [
    "np.allclose = lambda *a, **k: True",
    "import numpy as nump\nnump.testing.assert_allclose = print",
    "import autograde.check\nautograde.check.is_close = None",
    "setattr(torch.Tensor, 'backward', lambda self: None)",
    "grader = None",
    "def check_gradient(*args, **kwargs):\n    pass",
    "import sys\nsys.modules['autograde'] = None",
    "get_ipython().events.register('post_run_cell', erase_errors)",
    "shell = get_ipython()\nshell.set_custom_exc((Exception,), quiet)",
    "get_ipython().input_transformers_cleanup.append(wrap_in_try)",
    "import base64\nexec(base64.b64decode(hidden))",
    "vars(grader).update(check_tape=lambda *a, **k: None)",
    "import importlib\nsetattr(importlib.import_module('autograde.' + 'chapters'), 'check', print)",
])
def test_scan_finds_patches(source):
    assert "P" in codes(source)


def test_own_backward_methods_are_not_autograd():
    source = "def train(model, x):\n    model.backward(x)"
    assert codes(source) == {"A"}
    assert scan.scan_source(source, own_functions={"backward"}) == []


def test_a_function_with_its_own_backward_is_not_autograd_but_autograd_inside_it_is():
    own = ("class BN(torch.autograd.Function):\n    @staticmethod\n    def backward(ctx, dy):\n"
           "        return torch.from_numpy(batchnorm_backward(dy.numpy(), ctx.cache))")
    assert codes(own) == set()
    assert codes(own.replace("torch.from_numpy(batchnorm_backward(dy.numpy(), ctx.cache))",
                             "torch.autograd.grad(ctx.y, ctx.x, dy)")) == {"A"}


def test_scan_finds_grading_files_and_ignores_honest_code():
    assert codes('open("../../gradebook.db", "wb")') == {"W"}
    honest = "def f(x):\n    y = np.tanh(x) @ x.T\n    return torch.as_tensor(y).sum(axis=0)\n%timeit f(1)"
    assert codes(honest) == set()
    assert codes("def f(:\n") == set()  # unparsable code: the tests will say so when it runs


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_scan_passes_every_honest_sample_answer(assignment):
    """No false alarm on the chapters' sample answers (correct, written differently, mistakes);
    a sample that calls autograd, or the checks' own code, on purpose must be found."""
    for variant in variants(assignment):
        nb = variant.build(assignment)
        code = [c for c in nb.cells if c.cell_type == "code"]
        protected = set().union(*(scan.bound_names(c.source) for c in code
                                  if c.metadata.get("nbgrader", {}).get("locked")))
        own = set().union(*(scan.defined_functions(c.source) for c in code))
        found = set()
        for cell in solution_cells(nb):
            found |= {letter for letter, _, _ in scan.scan_source(cell.source, protected, own, solution=True)}
        expected = {"A"} if "autograd" in variant.name else {"C"} if variant.name.startswith("checks_") else set()
        assert found == expected, (variant.name, found)


@pytest.mark.parametrize("source, what", [
    ("def softmax_vjp(z, g):\n    return grader.softmax_vjp_from(grader.softmax_over(z, -1), g)\n", "uses grader."),
    ("from autograde.chapters.mlp_backprop.references import ReferenceLinear\nclass Linear(ReferenceLinear):\n    pass\n",
     "imports autograde.chapters.mlp_backprop.references.ReferenceLinear"),
    ("import autograde.reference as r\ndef f(x):\n    return r.torch_grads(g, dict(x=x))\n", "imports autograde.reference"),
    ("from autograde.guard import autograd_allowed\n", "imports autograde.guard.autograd_allowed"),
])
def test_scan_finds_answers_that_use_the_checks(source, what):
    findings = scan.scan_source(source, solution=True)
    assert any(code == "C" and what in message for code, _, message in findings), findings
    assert not any(code == "C" for code, _, _ in scan.scan_source(source, solution=False))


def test_public_tools_are_no_finding():
    source = "from autograde import check_gradient, numerical_gradient, relative_error\n" \
             "check_gradient('dx', dx, numerical_gradient(f, x))\n"
    assert scan.scan_source(source, solution=True) == []
