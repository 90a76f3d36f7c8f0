"""Checks for chapter 3 (an MLP by hand). Each check builds the same computation in torch with the
student's weights, lets autograd differentiate it in float64, and compares every gradient.

Conventions (as in torch): a Linear layer holds W of shape (d_out, d_in) and b of shape (d_out,)
and computes x @ W.T + b for a batch x of shape (N, d_in); losses are means over the batch.

Every reference and every known-mistake value is computed before any student code runs, and
student code gets private copies of what it is given (a layer keeps the copy its forward received
as its own), so code that changes its inputs in place cannot corrupt a reference. All student code,
forward passes included, runs with autograd blocked.

Its modules (what the notebook and the tests call as `grader.<name>` is imported here from them):
    answers             refusing the grader's own code as an answer; describing an exception
    layers              exercises 1-3: Linear, the activations, softmax cross-entropy
    sequential          exercise 4: Sequential and sgd_step
    gradcheck           exercise 5: numerical gradient and relative error
    every_intermediate  exercise 6: every intermediate of a three-layer network
    references          the earlier exercises done right, which record what the training loop does
    training            exercise 7: the training loop on its own, and the student's own network
    network             the student's whole network against torch
    costs               each backward costs like a backward
"""
from ...table import merged
from .costs import (check_activation_cost, check_every_intermediate_cost, check_linear_cost,
                    check_softmax_cross_entropy_cost)
from .every_intermediate import check_every_intermediate
from .gradcheck import check_numerical_gradient, check_relative_error
from .layers import (ACTIVATIONS, check_activation, check_linear, check_relu, check_sigmoid,
                     check_softmax_cross_entropy, check_tanh)
from .network import CannotMirror, check_network
from .references import (REFERENCES, ReferenceLinear, ReferenceReLU, ReferenceSequential, ReferenceSigmoid,
                         ReferenceSoftmaxCrossEntropy, ReferenceTanh, TrainingRecord)
from .sequential import check_sequential
from .training import MIN_ACCURACY, TrainingFailed, accuracy, check_training, check_training_loop, digits_split

__all__ = [
    "ACTIVATIONS", "CannotMirror", "MIN_ACCURACY", "REFERENCES", "ReferenceLinear", "ReferenceReLU",
    "ReferenceSequential", "ReferenceSigmoid", "ReferenceSoftmaxCrossEntropy", "ReferenceTanh", "TrainingFailed",
    "TrainingRecord", "accuracy", "check_activation", "check_activation_cost", "check_every_intermediate_cost",
    "check_linear_cost", "check_softmax_cross_entropy_cost", "check_every_intermediate", "check_linear", "check_network",
    "check_numerical_gradient", "check_relative_error", "check_relu", "check_sequential", "check_sigmoid",
    "check_softmax_cross_entropy", "check_tanh", "check_training", "check_training_loop", "digits_split", "merged",
]
