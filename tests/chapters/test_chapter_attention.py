"""Chapter 7's grading functions, fast and without nbgrader.

1. Every sample submission (autograde.grading.demo.samples.attention.VARIANTS) runs the master's test
   cells, hidden tests included, in the namespace its own definition cells create: the right answers,
   however written, get every point; each mistake loses exactly the cells its variant lists, and the
   message names the cause.
2. More right answers written another way (one edit of the master's each) get every point.
3. More typical mistakes, one edit of the right answer each, are rejected by the check of their
   exercise with a message that names them, and no message states a gradient.
4. The grader's own pieces agree with the master's numpy solution, and each named slip's value,
   computed with torch in autograde/chapters/attention/mistakes.py, is what the slip's code gives.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

from autograde.chapters import attention as grader
from autograde.chapters.attention import mistakes, references
from autograde.chapters.attention.exercises import attention_inputs, mha_inputs
from autograde.check import GradientMismatch
from autograde.cost import TooSlowForABackward
from autograde.grading.demo.samples import Replace
from autograde.grading.demo.samples.attention import ASSIGNMENT, VARIANTS, definitions

from sample_cells import full_marks_problems, grade_problems, master_test_cells

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "end_to_end"))
from test_no_answers_in_text import FORBIDDEN, compile_pattern, normalise  # noqa: E402


@pytest.fixture(scope="module")
def test_cells():
    return master_test_cells(ASSIGNMENT)


@pytest.fixture(scope="module")
def correct():
    return definitions("correct")


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_sample_submission_gets_its_grade(variant, test_cells):
    with np.errstate(all="ignore"):
        problems = grade_problems(variant, definitions(variant.name), test_cells)
    assert not problems, "\n\n".join(problems)


# --- right answers written another way -------------------------------------------------------------

ALTERNATIVES = {
    "forward with scipy's logsumexp and a finite mask": [
        Replace("attention_forward", "    top = scores.max(axis=-1, keepdims=True)  # every exponent <= 0: no overflow\n"
                "    e = np.exp(scores - top)\n    total = e.sum(axis=-1, keepdims=True)\n"
                "    out = (e / total) @ v\n    lse = (top + np.log(total))[..., 0]",
                "    from scipy.special import logsumexp\n    lse = logsumexp(scores, axis=-1)\n"
                "    out = np.exp(scores - lse[..., None]) @ v"),
        Replace("attention_forward", "scores, -np.inf)", "scores, -1e30)")],
    "backward with the row term from P and dP (the plain way), in place": [
        Replace("attention_backward", "row = (dout * out).sum(axis=-1, keepdims=True)",
                "row = (dp * p).sum(axis=-1, keepdims=True)"),
        Replace("attention_backward", "ds = p * (dp - row) * scale", "dp -= row\n    dp *= p * scale\n    ds = dp")],
    "backward that changes its inputs in place": [
        Replace("attention_backward", "dk = np.swapaxes(ds, -1, -2) @ q",
                "dk = np.swapaxes(ds, -1, -2) @ q\n    q *= 0\n    out *= 0")],
    "heads split with einsum-free moveaxis": [
        Replace("mha", "return a.reshape(B, T, heads, D // heads).transpose(0, 2, 1, 3)",
                "return np.moveaxis(a.reshape(B, T, heads, D // heads), 2, 1)"),
        Replace("mha", "return a.transpose(0, 2, 1, 3).reshape(B, T, H * dh)",
                "return np.moveaxis(a, 1, 2).reshape(B, T, H * dh)")],
}


@pytest.mark.parametrize("alternative", ALTERNATIVES, ids=list(ALTERNATIVES))
def test_right_answer_written_another_way_gets_full_marks(alternative, test_cells):
    # the training runs with the grader's pieces: these edits cannot reach it
    problems = full_marks_problems(definitions("correct", ALTERNATIVES[alternative]), test_cells,
                                   skip={"test_training"})
    assert not problems, "\n\n".join(problems)


# --- more typical mistakes, one edit of the right answer each ---------------------------------------

def forward(ns, **case):
    grader.check_attention_forward(ns["attention_forward"], seed=3, **case)


def backward(ns, **case):
    grader.check_attention_backward(ns["attention_backward"], seed=3, **case)


def mha_forward(ns, **case):
    grader.check_mha_forward(ns["mha_forward"], seed=3, namespace=ns, **case)


def mha_backward(ns, **case):
    grader.check_mha_backward(ns["mha_backward"], seed=3, namespace=ns, **case)


MISTAKES = {  # name: (edits, check, case, phrase)
    "forward without 1/sqrt(d)": (
        [Replace("attention_forward", "/ np.sqrt(d)", "")], forward, {}, "not divided by sqrt(d)"),
    "forward without the mask": (
        [Replace("attention_forward", "if causal:", "if False:")], forward, dict(causal=True),
        "causal mask was not applied"),
    "softmax over the wrong axis": (
        [Replace("attention_forward", "top = scores.max(axis=-1, keepdims=True)", "top = scores.max(axis=-2, keepdims=True)"),
         Replace("attention_forward", "total = e.sum(axis=-1, keepdims=True)", "total = e.sum(axis=-2, keepdims=True)")],
        forward, {}, "wrong axis"),
    "lse of the unscaled scores": (
        [Replace("attention_forward", "lse = (top + np.log(total))[..., 0]",
                 "lse = np.log(np.exp(scores * np.sqrt(d)).sum(axis=-1))")], forward, {}, "before the division"),
    "dq transposed": (
        [Replace("attention_backward", "dq = ds @ k", "dq = np.swapaxes(ds, -1, -2) @ k")], backward, {},
        "dq looks transposed"),
    "dv transposed": (
        [Replace("attention_backward", "dv = np.swapaxes(p, -1, -2) @ dout", "dv = p @ dout")], backward,
        dict(dv=4), "dv looks transposed"),
    "mha scaled by sqrt(D)": (
        [Replace("mha", "out, _ = attention_forward(q, k, v, causal)",
                 "out, _ = attention_forward(q / np.sqrt(heads), k, v, causal)")], mha_forward, {}, "sqrt(D)"),
    "mha without the mask": (
        [Replace("mha", "out, _ = attention_forward(q, k, v, causal)", "out, _ = attention_forward(q, k, v)")],
        mha_forward, {}, "causal mask"),
    "dx only through q": (
        [Replace("mha", "dx = dx + dproj @ W.T", "dx = dx + dproj @ W.T if W is Wq else dx")], mha_backward, {},
        "path through k and v"),
    "dWo transposed": (
        [Replace("mha", 'dWo = np.einsum("btd,bte->de", concat, dy)', 'dWo = np.einsum("btd,bte->ed", concat, dy)')],
        mha_backward, {}, "transposed"),
}


@pytest.mark.parametrize("name", MISTAKES, ids=list(MISTAKES))
def test_typical_mistake_is_named(name):
    edits, check, case, phrase = MISTAKES[name]
    ns = definitions("correct", edits)
    with pytest.raises(GradientMismatch) as failure:
        check(ns, **case)
    if phrase:
        assert phrase in str(failure.value), str(failure.value)
    text = normalise(str(failure.value))
    stated = [p for exercise in FORBIDDEN[ASSIGNMENT].values() for p in exercise if compile_pattern(p).search(text)]
    assert not stated, (stated, str(failure.value))


def test_a_function_that_returns_one_array_is_told_what_to_return(correct):
    with pytest.raises(GradientMismatch, match=r"should return a tuple \(out, lse\)"):
        grader.check_attention_forward(lambda q, k, v, causal=False: correct["attention_forward"](q, k, v, causal)[0],
                                       seed=0)


def test_a_training_that_returns_nothing_fails(correct):
    with pytest.raises(grader.TrainingFailed, match="should return"):
        grader.check_training(lambda rng, seconds=15.0: None, seed=0)


def test_an_untrained_model_fails_the_threshold():
    def lazy(rng, seconds=15.0):
        return [rng.normal(size=(grader.WIDTH, grader.WIDTH)) for _ in range(4)], [2.0, 2.0]
    with pytest.raises(grader.TrainingFailed, match="accuracy"):
        grader.check_training(lazy, seed=0)


def test_the_notebooks_task_is_the_graders(correct):
    mine = correct["copy_task"](np.random.default_rng(4), 5)
    theirs = grader.copy_task(np.random.default_rng(4), 5)
    for a, b in zip(mine, theirs):
        np.testing.assert_array_equal(a, b)
    y = np.random.default_rng(5).normal(size=(3, grader.LENGTH, grader.WIDTH))
    np.testing.assert_array_equal(correct["logits_of"](y), grader.logits_of(y))


def test_a_numerical_backward_is_too_slow(correct):
    numerical = definitions("numerical_gradient")
    with pytest.raises(TooSlowForABackward, match="perturbing the inputs"):
        grader.check_attention_backward_cost(correct["attention_forward"], numerical["attention_backward"])


# --- the grader's own pieces, and the slips' values -------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
def test_reference_pieces_agree_with_the_master(correct, causal):
    q, k, v, dout = attention_inputs(5, (2, 3), 6, 6, 4, 3, np.float64)
    out, lse = references.reference_attention_forward(q, k, v, causal)
    mine = correct["attention_forward"](q, k, v, causal)
    np.testing.assert_allclose(out, mine[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lse, mine[1], rtol=1e-10, atol=1e-12)
    for ref, own in zip(references.reference_attention_backward(q, k, v, out, lse, dout, causal),
                        correct["attention_backward"](q, k, v, out, lse, dout, causal)):
        np.testing.assert_allclose(ref, own, rtol=1e-9, atol=1e-12)
    x, W, dy = mha_inputs(6, 2, 5, 12, np.float64)
    np.testing.assert_allclose(references.reference_mha_forward(x, *W, 3, causal),
                               correct["mha_forward"](x, *W, 3, causal), rtol=1e-10, atol=1e-12)
    for ref, own in zip(references.reference_mha_backward(x, *W, 3, dy, causal),
                        correct["mha_backward"](x, *W, 3, dy, causal)):
        np.testing.assert_allclose(ref, own, rtol=1e-9, atol=1e-12)


def slip_values(edits, q, k, v, dout, causal):
    ns = definitions("correct", edits)
    out, lse = references.reference_attention_forward(q, k, v, causal)
    with np.errstate(all="ignore"):
        return dict(zip(("dq", "dk", "dv"), ns["attention_backward"](q, k, v, out, lse, dout, causal)))


def variant_edits(name):
    return next(v.edits for v in VARIANTS if v.name == name)


@pytest.mark.parametrize("variant, description", [
    ("no_scale_in_backward", mistakes.NO_SCALE_BACKWARD), ("no_row_term", mistakes.NO_ROW_TERM),
    ("mask_leak", mistakes.MASK_LEAK), ("dk_transposed", mistakes.DK_TRANSPOSED)])
def test_each_slip_value_is_what_the_slip_computes(variant, description):
    q, k, v, dout = attention_inputs(7, (2,), 5, 5, 4, 3, np.float64)
    ref = {name: grad for name, grad in zip("qkv", references.reference_attention_backward(
        q, k, v, None, None, dout, True))}
    ref["out"] = references.reference_attention_forward(q, k, v, True)[0]
    known = mistakes.attention_backward_mistakes(q, k, v, dout, True, ref)
    got = slip_values(variant_edits(variant), q, k, v, dout, True)
    matched = [name for name in ("dq", "dk", "dv") if description in known[name]]
    assert matched
    for name in matched:
        np.testing.assert_allclose(got[name], known[name][description].value, rtol=1e-9, atol=1e-12)
