"""Checks for chapter 2 (softmax, log-softmax, NLL, cross-entropy and their gradients).

Conventions, as in the notebook: the class axis is the LAST axis, of length K; every axis before
it is the batch, of any shape ((), (N,), (B, T), ...). N is the number of examples, the product of
the batch shape, and the losses are MEANS over them (torch's reduction="mean"). Targets are
integers in [0, K) with the batch shape. Every reference is torch in float64.

Every reference and every known-mistake value is computed before any student code runs, and
student code gets copies of its inputs and runs with autograd blocked (chapter 1's `call`),
forward passes included. Exercises 1 and 2 ask the student to write softmax, log-softmax, NLL
and cross-entropy, so there the library versions are blocked as well.

Its modules (what the notebook and the tests call as `grader.<name>` is imported here from them):
    inputs            seeded logits and targets, extreme logits
    references        torch float64 references
    mistakes          the known mistakes, in numpy
    checking          running student code and judging its answer
    softmax_and_loss  exercises 1-3
    jacobians         exercises 4-5
    staged            exercise 6
    costs             each backward costs like a backward
"""
from ...table import every_case
from .costs import check_cross_entropy_grad_cost, check_staged_cost, check_vjp_cost
from .checking import FLOAT32_FLOOR, LibraryCalled, no_library, run
from .inputs import examples, extreme_logits, logits, targets, vjp_inputs
from .jacobians import check_log_softmax_vjp, check_no_full_jacobian, check_softmax_jacobian, check_softmax_vjp
from .mistakes import onehot, pick, softmax_over
from .references import (cross_entropy_grad_reference, cross_entropy_reference, cross_entropy_torch,
                         log_softmax_reference, nll_reference, softmax_reference)
from .softmax_and_loss import (check_cross_entropy, check_cross_entropy_grad, check_log_softmax, check_nll_loss,
                               check_softmax)
from .staged import STAGES, check_staged

__all__ = [
    "FLOAT32_FLOOR", "LibraryCalled", "STAGES", "check_cross_entropy", "check_cross_entropy_grad", "check_cross_entropy_grad_cost",
    "check_log_softmax", "check_log_softmax_vjp", "check_nll_loss", "check_no_full_jacobian", "check_softmax",
    "check_softmax_jacobian", "check_softmax_vjp", "check_staged", "check_staged_cost", "check_vjp_cost", "cross_entropy_grad_reference",
    "cross_entropy_reference", "cross_entropy_torch", "every_case", "examples", "extreme_logits",
    "log_softmax_reference", "logits", "nll_reference", "no_library", "onehot", "pick", "run", "softmax_over",
    "softmax_reference", "targets", "vjp_inputs",
]
