"""Checks for chapter 6 (normalization layers by hand). Every reference and every known mistake is
torch autograd of a forward computation in float64 (torch_forwards); student code runs with
autograd blocked, on private copies of its inputs.

    torch_forwards      batch norm, layer norm, RMSNorm in torch, with the classic slips as options
    norms               exercises 1, 3, 4, 5: forwards and one-expression backwards
    every_intermediate  exercise 2: batch norm's backward through every intermediate (partial credit)
    costs               each backward costs like a backward
    training            exercise 6: batch norm as a torch.autograd.Function, training a deeper network
"""
from ...table import merged
from .costs import check_batchnorm_cost, check_every_intermediate_cost, check_layernorm_cost, check_rmsnorm_cost
from .every_intermediate import INTERMEDIATES, check_every_intermediate
from .training import check_batchnorm_in_training, train_deep
from .norms import (check_batchnorm_backward, check_batchnorm_forward, check_layernorm_backward,
                    check_layernorm_forward, check_rmsnorm_backward, check_rmsnorm_forward)

__all__ = ["INTERMEDIATES", "check_batchnorm_backward", "check_batchnorm_cost", "check_batchnorm_forward",
           "check_batchnorm_in_training", "check_every_intermediate", "check_every_intermediate_cost", "check_layernorm_backward",
           "check_layernorm_cost", "check_layernorm_forward", "check_rmsnorm_backward", "check_rmsnorm_cost",
           "check_rmsnorm_forward", "merged", "train_deep"]
