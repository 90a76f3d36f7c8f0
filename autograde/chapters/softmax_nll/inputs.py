"""The inputs of chapter 2's checks: random logits and targets from a seed, logits far outside exp's
range, and the logits and upstream gradients of the vector-Jacobian products."""
import numpy as np

from ...reference import randn


def logits(seed, *shape, scale=3.0):
    """Random logits of the given shape (classes on the last axis)."""
    return randn(seed, *shape, scale=scale)


def targets(seed, batch_shape, K):
    """Random integer targets in [0, K) with the batch shape (a 0-d array for one example)."""
    return np.asarray(np.random.default_rng(seed).integers(0, K, size=tuple(batch_shape)), dtype=np.int64)


def extreme_logits(seed):
    """Logits far outside exp's range (|z| up to 1e4): a naive softmax gives nan or -inf here.

    All are integers, exact in float32 too, so a float32 answer is judged on its arithmetic and
    not on rounding its input (near 1e4 a float32 step is 1e-3, which moves a probability ~1e-3).
    """
    return [
        np.array([1000.0, 1001.0, 1002.0]),
        np.array([[1e4, 0.0, -1e4], [-1e4, -1e4 + 1.0, -1e4 + 2.0]]),
        np.array([[-800.0, 0.0, 800.0], [0.0, -800.0, -1.0]]),
        np.round(randn(seed, 2, 3, 4, scale=1e4)),
    ]


def examples(z):
    """N, the number of examples in a batch of logits (1 for a single vector)."""
    return int(np.prod(np.shape(z)[:-1], dtype=np.int64))


def vjp_inputs(seed, shape, extreme=False):
    """Logits and an upstream gradient.

    extreme: integer logits of size ~1000, beyond exp's range, and the examples thousands apart
    (as in extreme_logits), so that one max for the whole array leaves some with all exps 0.
    """
    if not extreme:
        return logits(seed, *shape), randn(seed + 1, *shape)
    N = examples(np.empty(shape))
    apart = 2000.0 * (np.arange(N) - N // 2)
    z = np.round(logits(seed, *shape, scale=1e3)) + apart.reshape(shape[:-1] + (1,))
    return z, randn(seed + 1, *shape)
