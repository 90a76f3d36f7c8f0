"""The inputs of chapter 4's checks, from a seed: labels, logits of a model that is some good, the
network's parameters and a batch; and how a test case is named in messages."""
import numpy as np

from ...reference import randn


def labels(seed, N, K):
    """N integer labels in [0, K), every class present when N >= K."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, K, size=N)
    if N >= K:
        y[:K] = rng.permutation(K)
    return y


def decent_logits(seed, N, K, scale=1.5, margin=2.0):
    """Logits of a model that is some good: the true class gets a head start of `margin`."""
    y = labels(seed, N, K)
    return randn(seed + 1, N, K, scale=scale) + margin * np.eye(K)[y], y


def make_params(seed, D, H, K, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = dict(
        W0=rng.standard_normal((H, D)) / np.sqrt(D), b0=0.1 * rng.standard_normal(H),
        W1=rng.standard_normal((K, H)) / np.sqrt(H), b1=0.1 * rng.standard_normal(K),
    )
    return {n: v.astype(dtype) for n, v in params.items()}


def make_batch(seed, N, D, K, dtype=np.float64):
    return randn(seed, N, D).astype(dtype), labels(seed + 1, N, K)


def case(**settings):
    """The settings of a test case, for messages: K=3, alpha=0.1, dtype=float32."""
    def show(value):
        if isinstance(value, (float, np.floating)):
            return f"{float(value):.4g}"
        return getattr(value, "__name__", value)
    return ", ".join(f"{k}={show(v)}" for k, v in settings.items())
