"""Chapter 4, exercises 1 to 5: smoothed targets, the smoothed loss and its gradients, the network's
backward pass to its parameters, the update, and the one-step hypergradient of alpha (exercise 6,
the unrolled hypergradient, is in unrolled.py; exercise 7, the training loop, in training.py)."""
import numpy as np
import torch

from ...arrays import NotAnArray, as_float64
from ...check import GradientMismatch, check_gradient, check_value, tolerance_for
from ...reference import randn
from ...table import compare_all
from ..common import one_number
from .inputs import case, decent_logits, labels, make_batch, make_params
from .mistakes import (HYPERGRADIENT_MISTAKES, NLL_MEAN_OVER_ALL, NLL_NOT_SMOOTHED, SGD_PLUS, TARGET_MISTAKES,
                       hypergradient_pieces, network_backward_mistakes, nll_grad_mistakes, target_mistakes)
from .references import (NET_PART, PARAMS, call, hypergradient_torch, make_cache, network_grads,
                         ref_network_backward, ref_smooth_targets, ref_smoothed_nll, ref_smoothed_nll_grad,
                         smoothed_nll_torch)


# --- 1. smoothed targets -------------------------------------------------------------------------

def check_smooth_targets(smooth_targets, seed, N, K, alpha):
    target = labels(seed, N, K)
    expected, mistakes = ref_smooth_targets(target, K, alpha), target_mistakes(target, K, alpha)
    got = call(smooth_targets, target, K, alpha)
    try:
        check_value("smooth_targets(target, K, alpha)", got, expected, known_mistakes=mistakes)
    except GradientMismatch as exc:
        q = as_float64(got)
        rows = q.sum(axis=-1) if q.shape == expected.shape else np.ones(1)
        if not np.allclose(rows, 1) and "sums to" not in str(exc):
            worst = rows[np.argmax(np.abs(rows - 1))]
            raise GradientMismatch(f"{exc}\n  note: a row of q sums to {worst:.6g}, not 1.") from None
        raise
    print(f"smooth_targets ok ({case(N=N, K=K, alpha=alpha)})")


# --- 2. the smoothed loss and its gradients ------------------------------------------------------

def check_smoothed_nll(smoothed_nll, seed, N, K, alpha, dtype=np.float64, namespace=None):
    logits, target = decent_logits(seed, N, K)
    logits = logits.astype(dtype)
    z = torch.as_tensor(as_float64(logits))
    expected = ref_smoothed_nll(logits, target, alpha)
    mistakes = {
        description: float(smoothed_nll_torch(z, target, float(alpha), wrong_share=share, true_weight=weight))
        for description, share, weight in TARGET_MISTAKES
    }
    mistakes[NLL_MEAN_OVER_ALL] = expected / K
    mistakes[NLL_NOT_SMOOTHED] = ref_smoothed_nll(logits, target, 0.0)
    got = call(smoothed_nll, logits, target, alpha, namespace=namespace, own=("smoothed_nll",))
    check_value("smoothed_nll", one_number(got, "smoothed_nll"), expected,
                batch_size=N, known_mistakes=mistakes, **tolerance_for(dtype, got))
    print(f"smoothed_nll ok ({case(N=N, K=K, alpha=alpha, dtype=dtype)})")


def check_smoothed_nll_grad(smoothed_nll_grad, seed, N, K, alpha, dtype=np.float64, namespace=None):
    logits, target = decent_logits(seed, N, K)
    logits = logits.astype(dtype)
    expected_dlogits, expected_dalpha = ref_smoothed_nll_grad(logits, target, alpha)
    mistakes_dlogits, mistakes_dalpha = nll_grad_mistakes(logits, target, alpha)
    result = call(smoothed_nll_grad, logits, target, alpha, namespace=namespace, own=("smoothed_nll_grad",))
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise GradientMismatch(
            f"smoothed_nll_grad should return a pair (dlogits, dalpha), got {type(result).__name__}"
            f"{f' of length {len(result)}' if hasattr(result, '__len__') else ''}."
        )
    dlogits, dalpha = result
    check_gradient("dlogits", dlogits, expected_dlogits, batch_size=N, known_mistakes=mistakes_dlogits,
                   **tolerance_for(dtype, dlogits))
    check_gradient("dalpha", one_number(dalpha, "dalpha"), expected_dalpha, batch_size=N,
                   known_mistakes=mistakes_dalpha, **tolerance_for(dtype, dalpha))
    print(f"smoothed_nll_grad ok ({case(N=N, K=K, alpha=alpha, dtype=dtype)}): dalpha = {expected_dalpha:.6f}")


# --- 3. the network's backward pass -------------------------------------------------------------

def check_network_backward(network_backward, seed, N, K, D=5, H=4, dtype=np.float64, namespace=None):
    """A Report over the eight gradients network_backward returns for a random upstream dg on the
    logits; row names carry the case, so that several cases can be merged for partial credit."""
    params = make_params(seed, D, H, K, dtype)
    x, y = make_batch(seed + 1, N, D, K, dtype)
    cache = make_cache(params, x, y, 0.1, dtype)
    dg = randn(seed + 7, N, K).astype(dtype)  # any upstream gradient on the logits
    expected = ref_network_backward(cache, dg)
    mistakes = network_backward_mistakes(cache, dg, expected)
    got = call(network_backward, cache, dg, namespace=namespace, own=("network_backward",))
    if not isinstance(got, dict):
        raise NotAnArray(f"network_backward should return a dict of gradients keyed by name, got {type(got).__name__}.")
    label = f"  [{case(N=N, D=D, H=H, K=K, dtype=dtype)}]"
    return compare_all({n + label: got[n] for n in NET_PART if n in got},
                       {n + label: expected[n] for n in NET_PART}, batch_size=N,
                       known_mistakes={n + label: m for n, m in mistakes.items()}, **tolerance_for(dtype))


# --- 4. the update -------------------------------------------------------------------------------

def check_sgd_update(sgd_update, seed, K, N=16, D=6, H=5, alpha=0.1, lr=0.05, dtype=np.float64):
    params = make_params(seed, D, H, K, dtype)
    x, y = make_batch(seed + 1, N, D, K, dtype)
    cache = make_cache(params, x, y, alpha)
    grads = network_grads(cache)
    loss_before = cache["o"]
    expected = {n: as_float64(params[n]) - lr * grads[n] for n in PARAMS}
    plus = {n: as_float64(params[n]) + lr * grads[n] for n in PARAMS}
    new = call(sgd_update, params, {n: grads[n].astype(dtype) for n in grads}, lr)
    if not isinstance(new, dict) or any(n not in new for n in PARAMS):
        hint = " (updating in place is fine, but still `return params`)" if new is None else ""
        raise GradientMismatch(
            f"sgd_update should return a dict with every parameter ({', '.join(PARAMS)}), got "
            f"{type(new).__name__}{'' if not isinstance(new, dict) else ' with keys ' + ', '.join(map(str, new))}"
            f"{hint}."
        )
    for name in PARAMS:
        check_value(f"sgd_update(...)['{name}']", new[name], expected[name], known_mistakes={SGD_PLUS: plus[name]},
                    **tolerance_for(dtype))
    loss_after = make_cache({n: as_float64(new[n], n) for n in PARAMS}, x, y, alpha)["o"]
    print(f"sgd_update ok ({case(K=K, N=N, lr=lr, dtype=dtype)}): loss before the step {loss_before:.6f}, "
          f"after {loss_after:.6f}")


# --- 5. the hypergradient of alpha -----------------------------------------------------------------

def check_alpha_hypergradient(alpha_hypergradient, seed, K, N_train, N_val, s, lr, D=6, H=5,
                              dtype=np.float64, namespace=None):
    params = make_params(seed, D, H, K, dtype)
    x_train, y_train = make_batch(seed + 1, N_train, D, K, dtype)
    x_val, y_val = make_batch(seed + 2, N_val, D, K, dtype)
    args = (x_train, y_train, x_val, y_val, lr)
    expected = hypergradient_torch(params, s, *args)
    pieces = hypergradient_pieces(params, s, *args)
    mistakes = {text: mistake(pieces, lr) for text, mistake in HYPERGRADIENT_MISTAKES.items()}
    got = call(alpha_hypergradient, params, s, *args, namespace=namespace, own=("alpha_hypergradient",))
    settings = case(K=K, N_train=N_train, N_val=N_val, s=s, lr=lr, dtype=dtype)
    check_hypergradient("alpha_hypergradient", got, expected, settings, dtype, N_train, mistakes)


def check_hypergradient(name, got, expected, settings, dtype, batch_size, known_mistakes):
    """A hypergradient, one number, against its reference; a failure ends with the case's settings."""
    try:
        check_gradient(name, one_number(got, name), expected, batch_size=batch_size, known_mistakes=known_mistakes,
                       **tolerance_for(dtype, got))
    except GradientMismatch as exc:
        raise GradientMismatch(f"{exc}\n  case: {settings}") from None
    print(f"{name} ok ({settings}): {expected:.6g}")
