"""Chapter 6, exercises 1, 3, 4 and 5: batch norm's forward and its backward in one expression,
layer norm and RMSNorm, each against torch autograd of the forward computation in float64, with
their classic slips named (every known mistake is autograd of a forward with that slip)."""
import functools

import numpy as np
import torch

from ...arrays import as_float64
from ...check import HIGH_PRECISION, GradientMismatch, check_gradient, check_value, is_close, tolerance_for
from ...guard import by_hand_on_copies
from ...reference import randn, torch_grads
from . import torch_forwards as tf

BIASED = ("the variance was divided by N - 1 (unbiased): normalization divides by the number of values "
          "it averages over, as torch does in training.")
EPS_MISSING = ("eps is missing: it belongs inside the square root, added to the variance; without it a "
               "constant feature divides by zero.")
NO_EPS = ("a non-finite value where one feature is constant: its variance is 0, and only eps inside the "
          "square root keeps the division finite.")


def inputs(seed, shape, dtype=np.float64, scale=1.0, constant_feature=False, with_beta=True):
    """x (shape), gamma and beta (the last axis), dy: float64 references, `dtype` for the student."""
    x = randn(seed, *shape, scale=scale) + scale * 0.5
    if constant_feature:
        x[..., 0] = 3.0 * scale
    D = shape[-1]
    arrays = dict(x=x, gamma=1.0 + randn(seed + 1, D, scale=0.3))
    if with_beta:
        arrays["beta"] = randn(seed + 2, D, scale=0.5)
    arrays = {name: value.astype(dtype).astype(np.float64) for name, value in arrays.items()}
    return arrays, randn(seed + 3, *shape)


def forward_value(fn, arrays, **kw):
    with torch.no_grad():
        return fn(**{k: torch.as_tensor(v) for k, v in arrays.items()}, **kw).numpy()


def grads_of(fn, arrays, dy, **kw):
    return torch_grads(functools.partial(fn, **kw), arrays, upstream=dy)


def same_dtype(name, got, like):
    """A gradient keeps its variable's dtype (float32 in, float32 out)."""
    dtype = getattr(got, "dtype", None)
    if dtype is not None and str(dtype).split(".")[-1] != np.dtype(like).name:
        raise GradientMismatch(f"{name} is {str(dtype).split('.')[-1]} while its variable is "
                               f"{np.dtype(like).name}: a gradient has the dtype of its variable.", cause="shape")


def sum_hint(name, got, param_shape, x_shape):
    """dgamma or dbeta of x's shape: the per-example contributions were not added up."""
    shape = np.shape(as_float64(got, name))
    if shape != tuple(param_shape) and shape == tuple(x_shape)[-len(shape):] and len(shape) > 1:
        raise GradientMismatch(
            f"{name} has shape {shape}, not {tuple(param_shape)}: gamma and beta are shared by every row, "
            "a broadcast in the forward pass; what does a broadcast become in the backward pass?",
            cause="shape")


def run_forward(forward, arrays, dtype, eps):
    args = [arrays[k].astype(dtype) for k in arrays]
    out = by_hand_on_copies(forward, *args, eps)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise GradientMismatch(f"{forward.__name__} should return (y, cache), got {type(out).__name__}.")
    return out


def check_forward(what, forward, reference, seed, shape, dtype=np.float64, eps=1e-5, scale=1.0,
                  constant_feature=False, mistakes=None, with_beta=True):
    arrays, _ = inputs(seed, shape, dtype, scale, constant_feature, with_beta)
    expected = forward_value(reference, arrays, eps=eps)
    known = {description: forward_value(reference, arrays, eps=eps, **slip)
             for description, slip in (mistakes or {}).items()}
    if not constant_feature:
        known[EPS_MISSING] = forward_value(reference, arrays, eps=0.0)
    y, _ = run_forward(forward, arrays, dtype, eps)
    if not np.all(np.isfinite(as_float64(y, "y"))):
        raise GradientMismatch(f"{what}(x) on x of shape {shape}: " + (NO_EPS if constant_feature else
                               "a non-finite value in y."), cause="specific")
    same_dtype("y", y, dtype)
    check_value(f"{what}(x) on shape {shape}", y, expected, known_mistakes=known, **tolerance_for(dtype, y))


def check_backward(what, forward, backward, reference, names, seed, shape, dtype=np.float64, eps=1e-5,
                   scale=1.0, constant_feature=False, mistakes=None, with_beta=True):
    """The student's backward on the cache of the student's forward; the forward's value is checked
    first (its own test names its mistakes: here it only has to be right for the cache to be)."""
    arrays, dy = inputs(seed, shape, dtype, scale, constant_feature, with_beta)
    expected = forward_value(reference, arrays, eps=eps)
    grads = grads_of(reference, arrays, dy, eps=eps)
    known = {}
    for description, slip in (mistakes or {}).items():
        for key, value in grads_of(reference, arrays, dy, eps=eps, **slip).items():
            known.setdefault(key, {})[description] = value
    y, cache = run_forward(forward, arrays, dtype, eps)
    tol = tolerance_for(dtype, y) or dict(zip(("rtol", "atol"), HIGH_PRECISION))
    if not is_close(as_float64(y, "y"), expected, tol["rtol"], tol["atol"]).all():
        raise GradientMismatch(f"{what}: the forward pass gives a wrong y on shape {shape}, so its cache cannot "
                               "be right; fix the forward first (its own test says what is wrong).")
    got = by_hand_on_copies(backward, dy.astype(dtype), cache)
    if not (isinstance(got, tuple) and len(got) == len(names)):
        raise GradientMismatch(f"{what} should return a tuple ({', '.join(names)}).")
    for name, value, key in zip(names, got, arrays):
        if name != "dx":
            sum_hint(name, value, arrays[key].shape, shape)
        same_dtype(name, value, dtype)
        check_gradient(f"{name} on shape {shape}" + (f", x scaled by {scale:g}" if scale != 1 else ""),
                       value, grads[key], known_mistakes=known.get(key), batch_size=shape[0],
                       **tolerance_for(dtype, value))


# --- the named slips, as forwards for autograd --------------------------------------------------

MEAN_FORGOTTEN = dict(through_mean=False)
VAR_FORGOTTEN = dict(through_var=False)

BACKWARD_SLIPS = {
    "the path through the mean did not reach dx: the mean depends on every x_i of its group, so each "
    "x_i gets a share of the mean's gradient.": MEAN_FORGOTTEN,
    "the path through the variance did not reach dx: 1/sqrt(var + eps) depends on every x_i of its group "
    "too; treat it as a function of x, not a constant.": VAR_FORGOTTEN,
    "the variance's slope was taken as the one of an N - 1 (unbiased) variance; the forward divides by "
    "N.": dict(unbiased_slope=True),
}


def check_batchnorm_forward(forward, seed, N, D, dtype=np.float64, **kw):
    check_forward("batchnorm_forward", forward, tf.batchnorm, seed, (N, D), dtype,
                  mistakes={BIASED: dict(unbiased_value=True)}, **kw)


def check_batchnorm_backward(forward, backward, seed, N, D, dtype=np.float64, **kw):
    check_backward("batchnorm_backward", forward, backward, tf.batchnorm, ("dx", "dgamma", "dbeta"), seed,
                   (N, D), dtype, mistakes=BACKWARD_SLIPS, **kw)


WRONG_AXIS = ("the statistics were taken over the batch (axis 0): layer norm normalizes each example over "
              "its own features, the last axis.")


def check_layernorm_forward(forward, seed, shape, dtype=np.float64, **kw):
    arrays, _ = inputs(seed, shape, dtype)
    wrong_axis = {}
    if len(shape) >= 2:
        with torch.no_grad():
            wrong_axis = {WRONG_AXIS: tf.normalize(*(torch.as_tensor(a) for a in arrays.values()), 1e-5, 0).numpy()}
    expected = forward_value(tf.layernorm, arrays)
    known = {BIASED: forward_value(tf.layernorm, arrays, unbiased_value=True), **wrong_axis}
    y, _ = run_forward(forward, arrays, dtype, 1e-5)
    same_dtype("y", y, dtype)
    check_value(f"layernorm_forward(x) on shape {shape}", y, expected, known_mistakes=known,
                **tolerance_for(dtype, y))
    if kw.get("constant_feature"):
        check_forward("layernorm_forward", forward, tf.layernorm, seed, shape, dtype, constant_feature=True)


def check_layernorm_backward(forward, backward, seed, shape, dtype=np.float64, **kw):
    check_backward("layernorm_backward", forward, backward, tf.layernorm, ("dx", "dgamma", "dbeta"), seed,
                   shape, dtype, mistakes=BACKWARD_SLIPS, **kw)


RMS_SLIPS = {
    "the path through the root mean square did not reach dx: it depends on every feature of the row, so "
    "each x_i gets a share of its gradient too.": dict(through_rms=False),
}


def check_rmsnorm_forward(forward, seed, shape, dtype=np.float64, **kw):
    check_forward("rmsnorm_forward", forward, tf.rmsnorm, seed, shape, dtype, eps=1e-6, with_beta=False,
                  mistakes={"the squares were summed, not averaged, over the last axis.": dict(no_mean=True)}, **kw)


def check_rmsnorm_backward(forward, backward, seed, shape, dtype=np.float64, **kw):
    check_backward("rmsnorm_backward", forward, backward, tf.rmsnorm, ("dx", "dgamma"), seed, shape, dtype,
                   eps=1e-6, with_beta=False, mistakes=RMS_SLIPS, **kw)
