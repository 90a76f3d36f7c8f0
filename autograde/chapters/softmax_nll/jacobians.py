"""Chapter 2, exercises 4 and 5: the vector-Jacobian products of softmax and log-softmax (without
building a Jacobian), and the softmax Jacobian of one vector."""
import tracemalloc

import numpy as np
import torch

from ...arrays import as_float64
from ...check import GradientMismatch, Mistake
from ...reference import randn
from .checking import FLOAT32_FLOOR, compare, for_inputs, run
from .inputs import logits, vjp_inputs
from .mistakes import softmax_over, unstable_softmaxes, wrong_axis
from .references import softmax_jacobian_reference, vjp_reference


# --- 4. vector-Jacobian products ------------------------------------------------------------------

def softmax_vjp_from(p, g):
    """J^T g for softmax over the last axis, from its output p, as torch's autograd computes it (its
    backward kernel takes the output, so a wrong p gives what a wrong softmax inside a VJP leads to)."""
    return torch.ops.aten._softmax_backward_data(_tensor(g), _tensor(p), -1, torch.float64).numpy()


def _tensor(array):
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


# Each classic slip of a VJP is the exact VJP, by autograd, of a forward computation that makes the
# matching change (a denominator held constant, a sum over the wrong set), as chapters 6 and 7 name
# theirs: no wrong formula, one edit away from the right one, is written out here.

def _lse(z):
    return torch.logsumexp(z, dim=-1, keepdim=True)


def _softmax_held(z):
    """Softmax's value with its denominator held constant: only the diagonal of the Jacobian."""
    return torch.exp(z - _lse(z).detach())


SOFTMAX_SLIPS = {
    "p * g uses only the diagonal part of the Jacobian: each p_i also depends on every other z_j, "
    "through the sum in softmax's denominator, and that coupling term is missing.": _softmax_held,
    "the inner sum is unweighted: in the coupling term each g_j is weighted by how strongly the "
    "denominator carries z_j, which is not 1 for every class.": lambda z: _softmax_held(z) - _lse(z),
    "sum(g * p) was taken over the whole array; take it per example, over the last axis "
    "(axis=-1, keepdims=True).":
        lambda z: _softmax_held(z) - _softmax_held(z).detach() * (_softmax_held(z).detach() * z).sum(),
}


def slips_of(slips, z, g):
    """{description: the VJP of each slipped forward at z with upstream g}, by autograd."""
    return {description: vjp_reference(lambda t, dim: forward(t), z, g) for description, forward in slips.items()}


def softmax_vjp_mistakes(z, g):
    return slips_of(SOFTMAX_SLIPS, z, g)


def log_softmax_vjp_from(p, g):
    """J^T g for log-softmax over the last axis, from the probabilities p, as torch's autograd
    computes it from its output log p."""
    with np.errstate(divide="ignore", invalid="ignore"):  # p = 0 is log p = -inf, which the kernel takes
        log_p = np.log(np.asarray(p, dtype=np.float64))
    return torch.ops.aten._log_softmax_backward_data(_tensor(g), _tensor(log_p), -1, torch.float64).numpy()


LOG_SOFTMAX_SLIPS = {
    "the sum over the classes is missing: every output log p_i depends on every z_j through the "
    "log of the normaliser, so the gradient of z_j collects the upstream gradients of all K "
    "outputs (over the last axis).": lambda z: z - _softmax_held(z),
    "the summed upstream gradient is not weighted: how much the log of the normaliser moves with "
    "z_j is not 1 (differentiate log sum_k exp(z_k) by z_j).": lambda z: z - z.sum(dim=-1, keepdim=True),
    "sum(g) was taken over the whole array; take it per example, over the last axis "
    "(axis=-1, keepdims=True).": lambda z: z - _lse(z).sum(),
}
TRANSPOSED = ("this is the Jacobian times g, the Jacobian used where its transpose belongs: a VJP multiplies "
              "g by the Jacobian from the other side (a sum over the outputs i). The Jacobian of log-softmax "
              "is not symmetric (softmax's is), so the two differ whenever an example's logits are not all "
              "equal.")


def log_softmax_vjp_mistakes(z, g):
    mistakes = slips_of(LOG_SOFTMAX_SLIPS, z, g)
    # the Jacobian's other side: the VJP of a forward whose normaliser moves with each z_j by p_i
    transposed = vjp_reference(lambda t, dim: t - torch.softmax(t, dim=-1).detach() * t.sum(dim=-1, keepdim=True), z, g)
    mistakes[TRANSPOSED] = Mistake(transposed, "transposed")
    return mistakes


def check_vjp(name, vjp, seed, shape, extreme, function, vjp_from, mistakes_of):
    """The student's `vjp` of torch's `function` against autograd. vjp_from(p, g): the VJP from the
    probabilities, which also gives what a wrong softmax inside it leads to; mistakes_of(z, g): the
    typical slips, as VJPs of slipped forwards."""
    z, g = vjp_inputs(seed, shape, extreme)
    expected = vjp_reference(function, z, g)
    mistakes = mistakes_of(z, g)
    mistakes.update(wrong_axis("softmax", z, lambda q: vjp_from(q, g)))
    unstable = [(cause, vjp_from(q, g)) for cause, q in unstable_softmaxes(z)]
    with for_inputs(z=z, g=g):
        got = run(vjp, z, g)
        compare(f"{name}(z, g)", got, expected, z, unstable=unstable, known_mistakes=mistakes,
                floor=FLOAT32_FLOOR * np.max(np.abs(g)))


def check_softmax_vjp(softmax_vjp, seed, shape, extreme=False):
    check_vjp("softmax_vjp", softmax_vjp, seed, shape, extreme, torch.softmax, softmax_vjp_from,
              softmax_vjp_mistakes)


def check_log_softmax_vjp(log_softmax_vjp, seed, shape, extreme=False):
    check_vjp("log_softmax_vjp", log_softmax_vjp, seed, shape, extreme, torch.log_softmax, log_softmax_vjp_from,
              log_softmax_vjp_mistakes)


def check_no_full_jacobian(vjp, seed, N=8, K=1024):
    """A VJP must not build a Jacobian, not even one K x K per example; numpy allocations are
    measured with tracemalloc. K >> N so that one example's Jacobian (K*K numbers) dwarfs
    everything a VJP needs (a few arrays of N*K).

    Torch allocations are invisible to tracemalloc, so this can only ever let a solution through,
    never fail a frugal one.
    """
    z, g = logits(seed, N, K), randn(seed + 1, N, K)
    one_jacobian = K * K * 8
    limit = 16 * z.nbytes  # the copies of z and g, p, g * p, the result, ... with room to spare
    already = tracemalloc.is_tracing()
    if already:
        tracemalloc.reset_peak()
    else:
        tracemalloc.start()
    try:
        run(vjp, z, g)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not already:
            tracemalloc.stop()
    if peak > limit:
        raise GradientMismatch(
            f"{getattr(vjp, '__name__', 'the VJP')}(z, g) allocated {peak / 2**20:.1f} MB for z of shape "
            f"({N}, {K}) ({z.nbytes / 2**20:.2f} MB): it seems to build a Jacobian, K*K numbers "
            f"({one_jacobian / 2**20:.0f} MB) per example. Use its structure instead: a VJP needs only "
            "a few arrays of the shape of z."
        )


# --- 5. the softmax Jacobian of one vector ---------------------------------------------------------

def check_softmax_jacobian(softmax_jacobian, z):
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 1:
        raise ValueError("softmax_jacobian is checked on single vectors")
    expected = softmax_jacobian_reference(z)
    p = softmax_over(z, -1)
    mistakes = {
        "only the numerator's term, on the diagonal: every p_i also depends on every z_j through the "
        "denominator (the quotient rule), on and off the diagonal; that term is missing.": np.diag(p),
        "only the denominator's term: the numerator exp(z_i) depends on z_i too, which adds to the "
        "diagonal (the quotient rule has two terms).": -np.outer(p, p),
        "the second term is a vector broadcast across the rows: it must be a K x K matrix with its own "
        "entry for each pair (i, j).": np.diag(p) - p * p,
        "only the diagonal is there: off the diagonal, p_i still depends on z_j through the "
        "denominator.": np.diag(p * (1 - p)),
    }
    unstable = [(cause, np.diag(q) - np.outer(q, q)) for cause, q in unstable_softmaxes(z)]
    name = "softmax_jacobian(z)"
    with for_inputs(z=z):
        got = run(softmax_jacobian, z)
        try:
            compare(name, got, expected, z, unstable=unstable, known_mistakes=mistakes, floor=FLOAT32_FLOOR)
        except GradientMismatch as exc:
            raise GradientMismatch(f"{exc}{_row_sum_note(as_float64(got, name), expected)}") from None


def _row_sum_note(got, expected):
    if got.shape != expected.shape or np.allclose(got.sum(axis=1), 0, atol=1e-8):
        return ""
    return (
        f"\n  Its rows sum to {np.array2string(got.sum(axis=1), precision=4)}, not 0: softmax(z + c) = "
        "softmax(z) for every constant c, so moving all logits together changes nothing, J @ 1 = 0."
    )
