"""Central differences and relative error: how a student checks a gradient without autograd.

The relative error |a - b| / max(eps, |a| + |b|) is scale-free: ~1e-7 or less is right for a smooth
function in float64; around 1e-4 deserves a closer look; 1e-2 or more is wrong. Near a kink (ReLU at 0,
max) the difference quotient straddles two slopes and can report a large error for a correct
gradient: pick inputs away from the kink before blaming the backward pass.
"""
import numpy as np


def numerical_gradient(f, x, h=1e-5):
    """d f(x) / dx by central differences, for a scalar-valued f and a float array x.

    Each entry of x is nudged in place by +h and -h and then restored, so x is unchanged after.
    """
    x = np.asarray(x)
    if x.dtype != np.float64:
        raise TypeError(
            f"x must be a float64 array, got dtype {x.dtype}: in lower precision a nudge of h is "
            "swamped by rounding error. Convert first, e.g. x = x.astype(np.float64)."
        )
    grad = np.zeros_like(x, dtype=np.float64)
    for index in np.ndindex(x.shape):
        original = x[index]
        x[index] = original + h
        f_plus = float(f(x))
        x[index] = original - h
        f_minus = float(f(x))
        x[index] = original
        grad[index] = (f_plus - f_minus) / (2 * h)
    return grad


def relative_error(a, b, eps=1e-12):
    """Largest entrywise |a - b| / max(eps, |a| + |b|); 0 when both are zero."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(eps, np.abs(a) + np.abs(b)), initial=0.0))
