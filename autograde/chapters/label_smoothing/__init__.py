"""Checks for chapter 4 (label smoothing, its gradients, and a learned smoothing coefficient).

Convention, as in the notebook: for K classes, the true class gets 1 - alpha and each of the other
K - 1 classes gets alpha / (K - 1). The loss is sum_i q_i * (-log p_i), a MEAN over the batch. This
is torch's `cross_entropy(..., label_smoothing=eps)` with eps = alpha * K / (K - 1); eps <= 1 means
alpha <= (K - 1) / K, the uniform target. A larger alpha (allowed here, since alpha = sigmoid(s) can
reach it) gives each wrong class more weight than the true one.

The network is the notebook's two-layer net on a batch: rows of x are examples, W0 is (H, D) and W1
is (K, H) as in `W0 x`, logits g = relu(x W0^T + b0) W1^T + b1.

Every reference is torch autograd in float64. Every reference and known-mistake value is computed
before the student's code runs, and that code gets private copies of its inputs.

Its modules (what the notebook and the tests call as `grader.<name>` is imported here from them):
    references  the convention, the network and the notebook's functions done right, in torch
    inputs      seeded labels, logits, parameters and batches
    mistakes    the known mistakes of every exercise
    exercises   exercises 1-5
    unrolled    exercise 6: the hypergradient through T unrolled steps of a linear classifier
    training    exercise 7: learning alpha on digits, graded by replaying the loop
    costs       each backward costs like a backward
"""

from ...table import merged
from ..common import reference_pieces
from .costs import check_network_backward_cost, check_smoothed_nll_grad_cost
from .exercises import (check_alpha_hypergradient, check_network_backward, check_sgd_update, check_smooth_targets,
                        check_smoothed_nll, check_smoothed_nll_grad)
from .inputs import case, decent_logits, labels, make_batch, make_params
from .mistakes import HYPERGRADIENT_MISTAKES, dot, hypergradient_pieces
from .references import (PARAMS, REFERENCES, hypergradient_torch, logits_torch, make_cache, network_grads,
                         ref_alpha_hypergradient, ref_network_backward, ref_sgd_update, ref_smooth_targets,
                         ref_smoothed_nll, ref_smoothed_nll_grad, smoothed_nll_torch, tensors, torch_label_smoothing)
from .training import ORDERS, Run, check_training_loop, digits_split, reference_loop, reference_run, training_loss_ds
from .unrolled import (LINEAR, UNROLLED_MISTAKES, central_difference, check_unrolled_hypergradient, make_linear_params,
                       ref_unrolled_hypergradient, tangent_hypergradient, unrolled_hypergradient_torch)

__all__ = [
    "HYPERGRADIENT_MISTAKES", "LINEAR", "ORDERS", "PARAMS", "REFERENCES", "Run", "UNROLLED_MISTAKES", "case",
    "central_difference", "check_alpha_hypergradient", "check_network_backward", "check_network_backward_cost",
    "check_sgd_update",
    "check_smooth_targets", "check_smoothed_nll", "check_smoothed_nll_grad", "check_smoothed_nll_grad_cost", "check_training_loop",
    "check_unrolled_hypergradient", "decent_logits", "digits_split", "dot", "hypergradient_pieces",
    "hypergradient_torch", "labels", "logits_torch", "make_batch", "make_cache", "make_linear_params",
    "make_params", "merged", "network_grads", "ref_alpha_hypergradient", "ref_network_backward", "ref_sgd_update",
    "ref_smooth_targets", "ref_smoothed_nll", "ref_smoothed_nll_grad", "ref_unrolled_hypergradient",
    "reference_loop", "reference_pieces", "reference_run", "smoothed_nll_torch", "tangent_hypergradient", "tensors",
    "torch_label_smoothing", "training_loss_ds", "unrolled_hypergradient_torch"
]
