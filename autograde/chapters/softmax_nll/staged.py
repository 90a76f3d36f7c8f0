"""Chapter 2, exercise 6: every intermediate of the staged softmax cross-entropy, one row (and one
point) each."""
from ...check import check_value
from ...reference import retained_grads
from ...table import compare_all
from .checking import run
from .inputs import logits, targets
from .mistakes import staged_mistakes
from .references import staged_torch

STAGES = ("picked", "l", "k", "j", "h", "z")  # the gradients a student returns, output to input


def check_staged(staged_forward, staged_backward, seed, N, K):
    """Returns a Report (one row per intermediate); prints nothing and raises only if the
    locked forward pass was changed or the backward pass called autograd."""
    z, y = logits(seed, N, K, scale=2.0), targets(seed + 1, (N,), K)
    values, grads = retained_grads(staged_torch, dict(z=z, y=y))
    expected = {name: grads[name] for name in STAGES}
    mistakes = staged_mistakes(values, grads, y)
    forward = run(staged_forward, z, y)
    for name in ("h", "j", "k", "l", "picked", "loss"):
        check_value(f"staged_forward(z, y)[{name!r}] (the given forward pass, do not change it)",
                    forward[name], values[name])
    got = run(staged_backward, forward, y)
    return compare_all(got, expected, batch_size=N, known_mistakes=mistakes)
