"""Backprop Lab's grading library: the checks the notebooks' tests call.

    from autograde import check_gradient, compare_all, by_hand, torch_grads
"""
from .arrays import NotAnArray, as_float64
from .check import GradientMismatch, check_gradient, check_value, is_close
from .guard import AutogradCalled, by_hand, no_autograd
from .numeric import numerical_gradient, relative_error
from .table import Report, compare_all

__all__ = [
    "AutogradCalled", "GradientMismatch", "NotAnArray", "Report", "as_float64", "by_hand",
    "check_gradient", "check_value", "compare_all", "is_close", "no_autograd",
    "numerical_gradient", "relative_error",
]
