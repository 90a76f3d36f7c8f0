"""Backprop Lab's checking library: what the notebooks' tests call, inside the student's kernel.

    from autograde import check_gradient, numerical_gradient, relative_error, compare_all

The names load on first use, so `python -m autograde` (the instructor's command line, in
autograde.grading) starts without importing numpy or torch.
"""
import importlib

_HOMES = {
    "NotAnArray": "arrays", "as_float64": "arrays",
    "GradientMismatch": "check", "check_gradient": "check", "check_value": "check", "is_close": "check",
    "AutogradCalled": "guard", "by_hand": "guard", "no_autograd": "guard",
    "numerical_gradient": "numeric", "relative_error": "numeric",
    "Report": "table", "compare_all": "table",
}
__all__ = sorted(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'autograde' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
