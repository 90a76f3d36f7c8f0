"""Checks for chapter 7 (attention by hand). Each check builds the same computation in torch (float64,
torch.nn.functional.scaled_dot_product_attention for attention), lets autograd differentiate it, and
compares the student's arrays with it: the shape first, then the values within a tolerance.

Conventions: q (..., T, d), k (..., S, d), v (..., S, dv); leading axes are batch (and head) axes;
scores q kᵀ / sqrt(d); causal=True (T == S) lets position i look at j <= i only; lse (..., T) is the
log-sum-exp of each row of the masked, scaled scores. Multi-head: x (B, T, D), each W (D, D), heads
take slices of D of size D / heads.

Every reference and every known slip is computed before any student code runs; student code gets
private copies of its inputs and runs with autograd blocked (autograde.guard).

Its modules:
    references  the forward computations in torch; the grader's versions of the graded functions
    mistakes    the classic slips, each computed with torch
    exercises   exercises 1-4: attention forward and backward, multi-head forward and backward, costs
    training    exercise 5: the copy task and the training check
"""
from .exercises import (check_attention_backward, check_attention_backward_cost, check_attention_forward,
                        check_mha_backward, check_mha_backward_cost, check_mha_forward)
from .references import ALL_PIECES, ATTENTION_PIECES, attention_weights
from .training import (HEADS, LAG, LENGTH, MIN_ACCURACY, VOCAB, WIDTH, TrainingFailed, accuracy, copy_task,
                       logits_of, check_training)

__all__ = [
    "ALL_PIECES", "ATTENTION_PIECES", "HEADS", "LAG", "LENGTH", "MIN_ACCURACY", "TrainingFailed", "VOCAB",
    "WIDTH", "accuracy", "attention_weights", "check_attention_backward", "check_attention_backward_cost",
    "check_attention_forward", "check_mha_backward", "check_mha_backward_cost", "check_mha_forward",
    "check_training", "copy_task", "logits_of",
]
