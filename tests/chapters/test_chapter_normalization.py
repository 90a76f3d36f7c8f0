"""Chapter 6's grading functions, fast and without nbgrader: every sample submission
(autograde.grading.demo.samples.normalization.VARIANTS) runs the master's test cells, hidden tests
included, in the namespace its definition cells create; right answers however written get every
point, each mistake loses exactly the cells its variant lists with a message that names it. Then
more slips, each one edit of the right answer, named by their own check, and the grader's torch
forwards agree with torch's own layers."""
import pytest
import torch

from autograde.chapters import normalization as grader
from autograde.chapters.normalization import torch_forwards
from autograde.check import GradientMismatch
from autograde.grading.demo.samples import Replace
from autograde.grading.demo.samples.normalization import ASSIGNMENT, VARIANTS, definitions

from sample_cells import grade_problems, master_test_cells


@pytest.fixture(scope="module")
def test_cells():
    return master_test_cells(ASSIGNMENT)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_sample_submission_gets_its_grade(variant, test_cells):
    problems = grade_problems(variant, definitions(variant.name), test_cells)
    assert not problems, "\n\n".join(problems)


def test_grader_forwards_match_torch_layers():
    x = torch.randn(7, 5, dtype=torch.float64)
    gamma, beta = torch.rand(5, dtype=torch.float64) + 0.5, torch.randn(5, dtype=torch.float64)
    bn = torch.nn.functional.batch_norm(x, None, None, gamma, beta, training=True, eps=1e-5)
    ln = torch.nn.functional.layer_norm(x, (5,), gamma, beta, eps=1e-5)
    assert torch.allclose(torch_forwards.batchnorm(x, gamma, beta), bn)
    assert torch.allclose(torch_forwards.layernorm(x, gamma, beta), ln)
    steps = torch_forwards.steps(x, gamma, beta, 1e-5)
    assert torch.allclose(steps["y"], bn)
    rms = x / torch.sqrt((x ** 2).mean(-1, keepdim=True) + 1e-6) * gamma
    assert torch.allclose(torch_forwards.rmsnorm(x, gamma), rms)


SLIPS = [
    ("batchnorm_backward", "z * (dz * z).mean(axis=0)", "z * (dz * z).sum(axis=0) / (len(z) - 1)", "check_batchnorm_backward",
     dict(seed=3, N=8, D=3), "N - 1"),
    ("layernorm", "dz - dz.mean(axis=-1, keepdims=True) - z", "dz - z", "check_layernorm_backward",
     dict(seed=3, shape=(4, 6)), "path through the mean"),
    ("layernorm", " - z * (dz * z).mean(axis=-1, keepdims=True))", ")", "check_layernorm_backward",
     dict(seed=3, shape=(4, 6)), "path through the variance"),
]


@pytest.mark.parametrize("cell, old, new, check, kwargs, phrase", SLIPS, ids=lambda v: str(v)[:30])
def test_more_slips_are_named(cell, old, new, check, kwargs, phrase):
    ns = definitions("correct", [Replace(cell, old, new)])
    name = check.replace("check_", "")
    forward = ns[name.replace("backward", "forward")]
    with pytest.raises(GradientMismatch, match=phrase):
        getattr(grader, check)(forward, ns[name], **kwargs)
