"""Chapter 3, exercise 7: training on digits, graded twice. check_training_loop runs the student's
`train` with the reference pieces in place of their earlier exercises (so an earlier mistake is not
counted again) and watches every step; check_training checks the student's own network against
torch, then trains it."""
import time
from unittest.mock import patch

import numpy as np

from ...arrays import NotAnArray, as_float64
from ...guard import by_hand
from ...wire import given
from .. import digits
from ..common import reference_pieces
from . import references
from .answers import describe, reject_grader_code
from .costs import check_network_cost
from .network import CannotMirror, check_network
from .references import REFERENCES, ReferenceLinear, TrainingRecord

MIN_ACCURACY = 0.93
COST_ROWS = 128  # a batch on which perturbing every input would take thousands of forward passes


def digits_split():
    """X_train (1347, 64), X_test (450, 64), y_train, y_test: standardised with the training
    statistics; new arrays each call."""
    X_train, X_test, y_train, y_test = digits.stratified_split(*digits.images_and_labels(), test_size=0.25)
    mean = X_train.mean(axis=0)
    scale = X_train.std(axis=0) + 1.0  # + 1 grey level: pixels that are always blank stay finite
    return (X_train - mean) / scale, (X_test - mean) / scale, y_train, y_test


def accuracy(model, X, y):
    """Share of rows whose largest logit is the target class."""
    return float(np.mean(np.argmax(as_float64(model.forward(X), "model.forward(X)"), axis=1) == y))


class TrainingFailed(AssertionError):
    """The training did not do what it should; the message says what to look at."""


# --- 7a. the training loop on its own, with the reference pieces ---------------------------------

def check_training_loop(make_model, train, seed, namespace=None, min_accuracy=MIN_ACCURACY):
    """The student's make_model and train, with the reference layers, loss, Sequential and sgd_step:
    every step must be forward, loss, backward, one step down this batch's gradient; the rows must be
    reshuffled every epoch; train must return every step's loss; the test accuracy must reach min_accuracy."""
    reject_grader_code(train, "train")
    X_train, X_test, y_train, y_test = digits_split()
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    with reference_pieces(REFERENCES, make_model, train, namespace=namespace), \
            patch.object(references, "_record", TrainingRecord()) as record:
        try:
            model = by_hand(make_model, rng)
        except Exception as exc:
            raise TrainingFailed(f"make_model(rng) raised {describe(exc)}\n  {WITH_REFERENCES}") from None
        try:
            losses = call_train(train, model, X_train, y_train, rng)
            for layer in linear_layers(model):
                layer.took_step()  # the step after the last backward pass
            result = by_hand(accuracy, model, X_test, y_test)
        except Exception as exc:
            raise TrainingFailed(f"train() raised {describe(exc)}\n  {WITH_REFERENCES}") from None
    seconds = time.perf_counter() - start
    if not linear_layers(model):
        print("(make_model used none of the grader's layers, so only the accuracy says how train() did)")
    else:
        problems = record.problems + step_size_problems(model) + shuffling_problems(record, X_train)
        problems += loss_problems(losses, record)
        if problems:  # the first is the cause; what follows from it would only distract
            raise TrainingFailed(f"your training loop is wrong: {problems[0]}\n  {WITH_REFERENCES}")
    if not result >= min_accuracy:
        raise TrainingFailed(
            f"test accuracy {result:.3f} after {seconds:.1f} s of training; needed {min_accuracy}, and every "
            f"step was right, so train longer or with a larger learning rate.\n  {WITH_REFERENCES}")
    print(f"seed {seed}: your train() with the grader's layers: test accuracy {result:.3f} "
          f"(needed {min_accuracy}), trained in {seconds:.1f} s")


WITH_REFERENCES = ("(This test runs your make_model and train with the grader's Linear, activations, "
                   "SoftmaxCrossEntropy, Sequential and sgd_step, so it is about your training loop alone.)")


def call_train(train, model, X, y, rng):
    """train(model, X, y, rng) with autograd blocked, on copies of the data (the model and rng are its to change)."""
    return by_hand(train, model, given(X), given(y), rng)


def linear_layers(model):
    return [layer for layer in getattr(model, "layers", []) if isinstance(layer, ReferenceLinear)]


def step_size_problems(model):
    """Every layer must have taken the same step size at each step (one lr for the whole model)."""
    rates = [layer.learning_rates for layer in linear_layers(model)]
    if len(rates) < 2 or len({len(r) for r in rates}) != 1:
        return []
    rates = np.array(rates)
    if np.all(np.isclose(rates, rates[:1], rtol=1e-3)):
        return []
    return ["the layers took steps of different sizes: one sgd_step(model, lr) moves every parameter with the same lr."]


def shuffling_problems(record, X):
    """The batches must visit the rows in a random order, and in a new one every epoch."""
    row_of = {_row_key(row): i for i, row in enumerate(X)}
    try:
        order = np.concatenate([[row_of[_row_key(row)] for row in batch] for batch in record.batches])
    except (KeyError, ValueError):  # rows the data never had (a transformed X): nothing to compare
        return []
    first_epoch = order[:len(X)]
    if len(first_epoch) > 10 and np.mean(np.diff(first_epoch) > 0) > 0.99:
        return ["the rows were visited in their original order: shuffle them every epoch "
                "(order = rng.permutation(len(X)))."]
    head = order[:10]
    for start in np.flatnonzero(order[1:] == head[0]) + 1:
        if np.array_equal(order[start:start + len(head)], head):  # the first epoch's start comes round again
            if len(order) >= 2 * start and np.array_equal(order[start:2 * start], order[:start]):
                return ["every epoch visited the rows in the same order: draw a new permutation at the "
                        "start of each epoch."]
            break
    return []


def _row_key(row):
    return np.asarray(row, dtype=np.float32).tobytes()  # float32: a train() that converts X still matches


def loss_problems(losses, record):
    """train must return the loss of every step, in order."""
    steps = len(record.batches) or len(record.losses)
    try:
        losses = as_float64(losses, "the losses train() returned").reshape(-1)
    except NotAnArray as exc:
        return [f"{exc} train() should return the list of the loss of every step."]
    if losses.shape != (steps,):
        return [f"train() returned {losses.size} losses for {steps} steps: return the loss of every step "
                "(every mini-batch), in order."]
    seen = record.losses
    if len(seen) == steps and not np.allclose(losses, seen, rtol=1e-4, atol=1e-6):
        return ["the losses train() returned are not the mini-batch losses of its steps: append each "
                "batch's loss from SoftmaxCrossEntropy.forward."]
    return []


# --- 7b. the student's own network -------------------------------------------------------------------

def check_training(make_model, train, SoftmaxCrossEntropy, seed, min_accuracy=MIN_ACCURACY, rows=16):
    """The student's own network: first its gradients on one batch against the same network in torch,
    then trained with the student's train(); it must reach min_accuracy on the held-out test set."""
    X_train, X_test, y_train, y_test = digits_split()
    try:
        model = by_hand(make_model, np.random.default_rng(seed))
        for piece in [type(model), SoftmaxCrossEntropy, *map(type, getattr(model, "layers", []))]:
            reject_grader_code(piece, f"your network's {piece.__name__}")
        check_network(model, by_hand(SoftmaxCrossEntropy), X_train[:rows], y_train[:rows])
        note = ("Your network's gradients agree with torch's on a batch, so look at sgd_step and at the "
                "training loop (the test of train() above).")
    except CannotMirror as exc:
        note = f"(no gradient check of your network: {exc})"
    except Exception as exc:
        raise TrainingFailed(
            f"Before training, your network (make_model(rng)) was checked against the same network in torch, "
            f"on a batch of {rows} rows. It says:\n{describe(exc)}") from None
    try:
        check_network_cost(model, by_hand(SoftmaxCrossEntropy), X_train[:COST_ROWS], y_train[:COST_ROWS])
    except Exception as exc:
        raise TrainingFailed(f"Before training, your network's backward pass was timed against its forward "
                             f"pass on {COST_ROWS} rows. It says:\n{describe(exc)}") from None
    rng = np.random.default_rng(seed)
    start = time.perf_counter()
    try:
        model = by_hand(make_model, rng)
        before = parameter_copies(model)
        losses = call_train(train, model, X_train, y_train, rng)
        result = by_hand(accuracy, model, X_test, y_test)
    except Exception as exc:
        raise TrainingFailed(f"training your network raised {describe(exc)}") from None
    seconds = time.perf_counter() - start
    if not result >= min_accuracy:
        hints = [f"test accuracy {result:.3f} after {seconds:.1f} s of training; needed {min_accuracy}."]
        hints += training_symptoms(model, before, losses)
        hints.append(f"  {note}")
        raise TrainingFailed("\n".join(hints))
    print(f"seed {seed}: your network: test accuracy {result:.3f} (needed {min_accuracy}), trained in {seconds:.1f} s")


def parameter_copies(model):
    try:
        return [as_float64(param).copy() for param, _ in model.parameters()]
    except Exception:
        return None


def training_symptoms(model, before, losses):
    symptoms = []
    after = parameter_copies(model)
    if before is not None and after is not None and all(np.array_equal(a, b) for a, b in zip(before, after)):
        symptoms.append("  no parameter changed during training: does sgd_step update the arrays in place "
                        "(`param -= lr * grad`)?")
    try:
        losses = as_float64(losses, "the losses train() returned").reshape(-1)
    except AssertionError:
        return symptoms
    if losses.size and not np.all(np.isfinite(losses)):
        first = int(np.argmin(np.isfinite(losses)))
        symptoms.append(f"  the loss became NaN or inf at step {first}: the steps are too large "
                        "(learning rate, or a gradient N times too large).")
    return symptoms
