"""Chapter 4, exercise 6: learning alpha on digits, graded by replaying the loop.

A reference loop (torch) that learns s with the hypergradient must end at the same s and parameters,
so a loop that lowers alpha some other way (the training loss's own dalpha, a fixed small alpha)
does not pass.
"""
import functools
from dataclasses import dataclass

import numpy as np
import torch

from ...arrays import as_float64
from ...check import GradientMismatch, check_value
from .. import digits
from ..common import one_number
from .inputs import case, make_params
from .mistakes import SGD_PLUS
from .references import (PARAMS, call, hypergradient_torch, logits_torch, ref_smoothed_nll_grad, sigmoid,
                         smoothed_nll_torch, tensors, with_autograd)


def digits_split():
    """The notebook's fixed split of load_digits: 300 training and 300 validation images
    (x_train, y_train, x_val, y_val), new arrays each call."""
    x, y = digits.images_and_labels()
    x_train, x_val, y_train, y_val = digits.stratified_split(x / 16.0, y, train_size=300, test_size=300)
    return x_train, y_train, x_val, y_val


def val_nll(params, x_val, y_val):
    with torch.no_grad():
        return float(smoothed_nll_torch(logits_torch(tensors(params), torch.as_tensor(x_val)), y_val, 0.0))


@with_autograd
def train_step(params, alpha, x_train, y_train, lr):
    """One full-batch gradient step on the smoothed training loss (torch autograd)."""
    theta = tensors(params, grad=True)
    loss = smoothed_nll_torch(logits_torch(theta, torch.as_tensor(as_float64(x_train))), y_train, alpha)
    grads = torch.autograd.grad(loss, list(theta.values()))
    return {n: as_float64(params[n]) - lr * g.numpy() for n, g in zip(PARAMS, grads)}


def training_loss_ds(params, s, x_train, y_train, x_val, y_val, lr):
    """A wrong 'hypergradient': d L_train / ds, the training loss's own pull on alpha."""
    alpha = float(sigmoid(s))
    with torch.no_grad():
        logits = logits_torch(tensors(params), torch.as_tensor(as_float64(x_train))).numpy()
    return ref_smoothed_nll_grad(logits, y_train, alpha)[1] * alpha * (1 - alpha)


# The orders of the two updates of an iteration that learn alpha correctly.
ORDERS = ("s first", "hypergradient first", "step first")


@dataclass(frozen=True)
class Run:
    """Where a loop ended (s, params) and what it went through, step by step."""
    s: float
    params: dict
    used: np.ndarray      # the alpha of each step's parameter update
    after: np.ndarray     # sigmoid(s) at the end of each iteration
    val: np.ndarray       # the plain validation NLL after each step
    val_smoothed: np.ndarray


def reference_loop(params, s, data, lr, hyper_lr, steps, order="s first", s_gradient=hypergradient_torch):
    """The notebook's train_learned_alpha in torch: per iteration one update of s by
    `s_gradient` and one gradient step on the parameters, in the given order."""
    x_train, y_train, x_val, y_val = data
    theta = {n: as_float64(params[n]) for n in PARAMS}
    s = float(s)

    def ds(theta, s):
        return s_gradient(theta, s, x_train, y_train, x_val, y_val, lr) if hyper_lr else 0.0

    used, after, val, val_smoothed = [], [], [], []
    for _ in range(steps):
        if order == "s first":
            s -= hyper_lr * ds(theta, s)
        elif order == "hypergradient first":
            pending = ds(theta, s)
        alpha = float(sigmoid(s))
        theta = train_step(theta, alpha, x_train, y_train, lr)
        if order == "hypergradient first":
            s -= hyper_lr * pending
        elif order == "step first":
            s -= hyper_lr * ds(theta, s)
        used.append(alpha)
        after.append(float(sigmoid(s)))
        val.append(val_nll(theta, x_val, y_val))
        with torch.no_grad():
            logits = logits_torch(tensors(theta), torch.as_tensor(x_val))
            val_smoothed.append(float(smoothed_nll_torch(logits, y_val, alpha)))
    return Run(s, theta, *(np.array(v) for v in (used, after, val, val_smoothed)))


def start_params(seed, hidden):
    """The parameters check_training_loop starts from: 8x8 pixels in, `hidden` units, 10 digits out."""
    return make_params(seed, 64, hidden, 10)


def reference_run(seed, hidden, s0, lr, hyper_lr, steps, order="s first", s_gradient=hypergradient_torch):
    """reference_loop on the digits split from start_params(seed, hidden), computed once per setting:
    a notebook's checks and the tests replay the same runs again and again. The Run is shared, so
    its arrays are read-only."""
    return _reference_run(seed, hidden, s0, lr, hyper_lr, steps, order, s_gradient)


@functools.lru_cache(maxsize=32)
def _reference_run(seed, hidden, s0, lr, hyper_lr, steps, order, s_gradient):
    # every argument is passed positionally, so that equal settings always share one cache entry
    from threadpoolctl import threadpool_limits  # one BLAS thread: these matrices are tiny

    data = digits_split()
    with threadpool_limits(1):
        run = reference_loop(start_params(seed, hidden), s0, data, lr, hyper_lr, steps, order, s_gradient)
    for array in (run.used, run.after, run.val, run.val_smoothed, *run.params.values()):
        array.flags.writeable = False
    return run


def read_result(result, steps, run):
    """(params, s, alphas, val_nlls) from what train_learned_alpha returned, or a clear error."""
    if not isinstance(result, (tuple, list)) or len(result) != 3:
        raise GradientMismatch(f"train_learned_alpha should return (params, s, history) {run}; got "
                               f"{type(result).__name__}.")
    params, s, history = result
    if not isinstance(params, dict) or any(n not in params for n in PARAMS):
        raise GradientMismatch(f"train_learned_alpha should return the trained parameters as a dict with "
                               f"{', '.join(PARAMS)} {run}; got {type(params).__name__}.")
    params = {n: as_float64(params[n], f"params['{n}']") for n in PARAMS}
    s = float(one_number(s, "the returned s"))
    if not isinstance(history, dict) or not {"alpha", "val_nll"} <= set(history):
        raise GradientMismatch(f'the history should be a dict with lists "alpha" and "val_nll" {run}.')
    alphas, losses = (as_float64(history[k], f'history["{k}"]').reshape(-1) for k in ("alpha", "val_nll"))
    for key, values in (("alpha", alphas), ("val_nll", losses)):
        if values.size != steps:
            raise GradientMismatch(f'history["{key}"] has {values.size} entries {run}; expected one per step ({steps}).')
    outside = ~((alphas > 0) & (alphas < 1))
    if outside.any():
        first = int(np.argmax(outside))
        raise GradientMismatch(
            f"alpha left (0, 1) {run}: history['alpha'][{first}] = {alphas[first]:.4g}. Learn s and use "
            f"alpha = sigmoid(s), which is always strictly between 0 and 1."
        )
    return params, s, alphas, losses


def same_run(params, s, run):
    return bool(np.isclose(s, run.s, rtol=1e-3, atol=1e-3)) and all(
        np.allclose(params[n], run.params[n], rtol=1e-3, atol=1e-4) for n in PARAMS)


S_NEVER_MOVED = ("s never moved (alpha stayed at sigmoid(s0)): update it every step, "
                 "s = s - hyper_lr * alpha_hypergradient(params, s, ...).")
S_ASCENT = ("s moved WITH the hypergradient: s = s - hyper_lr * dL_val/ds moves against it "
            "(gradient descent on the validation loss).")
S_TRAINING_LOSS = (
    "s was moved by the TRAINING loss's dalpha (times sigmoid'(s)). That pull always lowers alpha, whatever "
    "happens on held-out data; learn s with alpha_hypergradient, the derivative of the validation loss "
    "after the step."
)
VAL_BEFORE = "the validation NLL was recorded before the step; record it after each parameter update."
VAL_SMOOTHED = "the smoothed validation loss was recorded; record the plain NLL (alpha = 0) on the validation set."


def check_training_loop(train_learned_alpha, seed, hidden=16, steps=40, s0=0.0, lr=1.0, hyper_lr=30.0,
                        namespace=None):
    """Learn s on the fixed digits split, twice: with hyper_lr = 0 the loop must be plain gradient
    descent; with hyper_lr > 0, s, the parameters and the history must follow a reference loop that
    updates s with the hypergradient (in any of the ORDERS)."""
    from threadpoolctl import threadpool_limits  # one BLAS thread: these matrices are tiny

    data = digits_split()
    params = start_params(seed, hidden)
    settings = case(hidden=hidden, steps=steps, s0=s0, lr=lr, hyper_lr=hyper_lr)
    alpha0 = float(sigmoid(s0))
    own = ("train_learned_alpha",)
    replay = functools.partial(reference_run, seed, hidden, s0)  # replay(lr, hyper_lr, steps, ...)
    fixed_ref = replay(lr, 0.0, steps)
    learned_ref = replay(lr, hyper_lr, steps)
    with threadpool_limits(1):
        fixed = call(train_learned_alpha, params, s0, *data, lr, 0.0, steps, namespace=namespace, own=own)
        learned = call(train_learned_alpha, params, s0, *data, lr, hyper_lr, steps, namespace=namespace, own=own)

        # hyper_lr = 0: plain gradient descent on the smoothed training loss with alpha = sigmoid(s0)
        fixed_params, _, fixed_alphas, _ = read_result(fixed, steps, "with hyper_lr = 0")
        if not np.allclose(fixed_alphas, alpha0, rtol=1e-6):
            raise GradientMismatch(f'with hyper_lr = 0 alpha must stay at sigmoid(s0) = {alpha0:.4g}; history["alpha"] '
                                   f"runs from {fixed_alphas[0]:.4g} to {fixed_alphas[-1]:.4g}.")
        uphill = None
        for name in PARAMS:
            if uphill is None and not np.allclose(fixed_params[name], fixed_ref.params[name], rtol=1e-3):
                uphill = replay(-lr, 0.0, steps).params  # only to name the mistake
            mistake = {SGD_PLUS: uphill[name]} if uphill is not None else {}
            try:
                check_value(f"params['{name}'] after {steps} steps with hyper_lr = 0", fixed_params[name],
                            fixed_ref.params[name], rtol=1e-3, atol=1e-4, known_mistakes=mistake)
            except GradientMismatch as exc:
                raise GradientMismatch(
                    f"{exc}\n  With hyper_lr = 0, s never moves, so the loop must be plain gradient descent "
                    f"on the smoothed training loss with alpha = sigmoid(s0) = {alpha0:.4g} ({settings})."
                ) from None

        # hyper_lr > 0: s and the parameters follow the reference, in one of the orders
        new_params, s, alphas, losses = read_result(learned, steps, f"with hyper_lr = {hyper_lr:g}")
        run = learned_ref
        for order in ORDERS[1:]:  # each other order costs a run: try it only when the ones before do not fit
            if not same_run(new_params, s, run):
                run = replay(lr, hyper_lr, steps, order)
        if not same_run(new_params, s, run):
            raise GradientMismatch(loop_message(new_params, s, learned_ref, fixed_ref, replay, lr, hyper_lr, steps,
                                                settings))

    try:
        if not (np.allclose(alphas, run.used, rtol=1e-3) or np.allclose(alphas, run.after, rtol=1e-3)):
            check_value('history["alpha"]', alphas, run.used, rtol=1e-3)
        check_value('history["val_nll"]', losses, run.val, rtol=1e-3,
                    known_mistakes={VAL_BEFORE: np.r_[val_nll(params, *data[2:]), run.val[:-1]],
                                    VAL_SMOOTHED: run.val_smoothed})
    except GradientMismatch as exc:
        raise GradientMismatch(
            f"{exc}\n  s and the parameters are right; the history should hold, for each step, the alpha it "
            f"trained with and the plain validation NLL after it ({settings})."
        ) from None
    print(f"train_learned_alpha ok ({settings}): alpha {alpha0:.3g} -> {run.used[-1]:.3g}; validation NLL after "
          f"{steps} steps {run.val[-1]:.4f} with alpha learned, {fixed_ref.val[-1]:.4f} with alpha fixed")


def loop_message(got_params, got_s, ref, fixed_ref, replay, lr, hyper_lr, steps, settings):
    """Why a loop with hyper_lr > 0 ended elsewhere than the reference: a named mistake if one fits.
    replay(lr, hyper_lr, steps, order, s_gradient): a reference run from the same start."""
    header = (f"after {steps} steps with hyper_lr = {hyper_lr:g}, s = {got_s:.6g} (alpha = {sigmoid(got_s):.4g}); "
              f"the reference loop ends at s = {ref.s:.6g} (alpha = {sigmoid(ref.s):.4g})")
    if all(np.allclose(got_params[n], ref.params[n], rtol=1e-3, atol=1e-4) for n in PARAMS):
        return (f"{header}.\n  likely cause: the parameters are right, so s was learned; return the final s, "
                f"after the last update ({settings})")
    worst = max(PARAMS, key=lambda n: float(np.max(np.abs(got_params[n] - ref.params[n]))))
    diff = float(np.max(np.abs(got_params[worst] - ref.params[worst])))
    header += f", and params['{worst}'] differs from it by up to {diff:.3g}."
    candidates = (
        (S_NEVER_MOVED, lambda: fixed_ref),
        (S_TRAINING_LOSS, lambda: replay(lr, hyper_lr, steps, s_gradient=training_loss_ds)),
        (S_ASCENT, lambda: replay(lr, -hyper_lr, steps)),
    )
    for description, run in candidates:
        if same_run(got_params, got_s, run()):
            return f"{header}\n  likely cause: {description} ({settings})"
    return (
        f"{header}\n  Each iteration: s = s - hyper_lr * alpha_hypergradient(params, s, ...) at the current "
        "parameters, then one gradient step on the smoothed training loss with alpha = sigmoid(s) "
        f"(the two in the other order are accepted too). ({settings})"
    )
