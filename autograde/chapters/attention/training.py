"""Chapter 7, exercise 5: a task that needs attention, and the training check.

The task: a sequence of LENGTH random tokens out of VOCAB; at every position i >= LAG the model must
name the token at position i - LAG. Each position's input holds its own token and its own position
only (one-hot), so a model that looks at one position at a time cannot do better than chance
(1 / VOCAB): the answer is elsewhere in the sequence, and attention has to fetch it.

The check runs the student's train() with the grader's attention and multi-head pieces in place of
the notebook's (so it grades the training loop; the pieces have tests of their own), then measures
the accuracy of the weights it returns on fresh sequences.
"""
import time

import numpy as np

from ... import confirm
from ...arrays import as_float64
from ...guard import by_hand
from ..common import reference_pieces
from .references import ALL_PIECES, reference_mha_forward

VOCAB, LENGTH, LAG, HEADS = 8, 8, 2, 2
WIDTH = VOCAB + LENGTH  # D: a one-hot token, then a one-hot position
MIN_ACCURACY = 0.9
TIME_LIMIT = 20.0  # seconds for one training run


class TrainingFailed(AssertionError):
    """The trained model does not solve the task; the message says what to look at."""


def copy_task(rng, n):  # the notebook's task cell holds the same function, for the student's code to call
    """(x, targets): x (n, LENGTH, WIDTH) float64 one-hot features; targets (n, LENGTH - LAG) integer
    tokens, the token LAG positions back of each position from LAG on."""
    tokens = rng.integers(0, VOCAB, size=(n, LENGTH))
    x = np.concatenate([np.eye(VOCAB)[tokens], np.broadcast_to(np.eye(LENGTH), (n, LENGTH, LENGTH))], axis=-1)
    return x, tokens[:, :LENGTH - LAG]


def logits_of(y):
    """The model reads its answer from the first VOCAB features of y, at the positions from LAG on."""
    return y[:, LAG:, :VOCAB]


def accuracy(params, seed=12345, n=500):
    x, targets = copy_task(np.random.default_rng(seed), n)
    y = reference_mha_forward(x, *params, HEADS, True)
    return float(np.mean(logits_of(y).argmax(axis=-1) == targets))


def check_training(train, seed, namespace=None, min_accuracy=MIN_ACCURACY):
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with reference_pieces(ALL_PIECES, train, namespace=namespace):
        result = by_hand(train, rng)
    seconds = time.perf_counter() - start
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TrainingFailed("train(rng) should return (params, losses): params = (Wq, Wk, Wv, Wo), and the "
                             "loss of every step.")
    params, losses = result
    try:
        params = [as_float64(p, "a weight train() returned") for p in params]
    except TypeError:
        params = []
    if len(params) != 4 or any(p.shape != (WIDTH, WIDTH) for p in params):
        raise TrainingFailed(f"train(rng) should return params = (Wq, Wk, Wv, Wo), four ({WIDTH}, {WIDTH}) arrays.")
    losses = as_float64(losses, "the losses train() returned").reshape(-1)
    result = accuracy(params)
    problems = []
    finite = losses[:int(np.argmin(np.isfinite(losses)))] if not np.all(np.isfinite(losses)) else losses
    if not losses.size:
        problems.append("train() returned no losses: return the loss of every step.")
    elif finite.size < losses.size:
        grew = finite.size > 1 and finite[-1] > finite[0]
        problems.append("the loss " + ("grew until it " if grew else "") + "became NaN or inf: does each step move "
                        "the weights against their gradient, and is the step small enough?")
    elif losses[-1] >= losses[0]:
        problems.append("the loss did not go down: does each step move the weights against their gradient?")
    if seconds > TIME_LIMIT:
        raise TrainingFailed(f"training took {seconds:.1f} s; keep it under {TIME_LIMIT:.0f} s (fewer steps or a "
                             "larger learning rate).")
    if not result >= min_accuracy:
        raise TrainingFailed("\n  ".join([
            f"accuracy {result:.3f} on fresh sequences after {seconds:.1f} s of training; needed {min_accuracy} "
            f"(chance is {1 / VOCAB:.3f}).", *problems,
            "(This test runs your train() with the grader's attention and mha functions in place of yours.)"]))
    confirm.passed("the accuracy of the model train() returned", False)  # the cell ends with its ✓ line
    print(f"seed {seed}: accuracy {result:.3f} on fresh sequences (needed {min_accuracy}), trained in "
          f"{seconds:.1f} s with the grader's attention and mha functions in place of yours")
