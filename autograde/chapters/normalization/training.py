"""Chapter 6, exercise 6: batch norm inside PyTorch. The student's BatchNormFunction, a
torch.autograd.Function whose forward and backward call their own batchnorm_forward and
batchnorm_backward, is checked against torch's batch norm on a batch (the output, and the gradients
autograd gets through it), then trains chapter 3's digits network made deeper. The other layers'
gradients are torch autograd's: chapter 3 grades those derivations.

One mistake costs one test: where the student's batchnorm_forward or batchnorm_backward is wrong
(exercises 1 and 3 count that), the grader's, torch autograd of the forward, stand in for them here,
and the test says so. What this test grades is the Function around them, and that it trains.
"""
import time

import numpy as np
import torch

from ...arrays import as_float64
from ...check import GradientMismatch, check_gradient, check_value, tolerance_for
from ...guard import autograd_allowed, by_hand
from ...off_limits import public
from ..common import reference_pieces
from . import torch_forwards as tf
from .costs import check_cost
from .norms import check_batchnorm_backward, forward_value, grads_of, inputs, same_dtype

# Chapter 3's network with four hidden layers of 64 ReLU units, weights N(0, 0.25/fan_in), trained by
# SGD on minibatches of 64 (the last, partial one dropped: batch norm's statistics of a handful of
# examples are noise). Plain, it learns slowly at this rate; with batch norm, within the epochs.
DEPTH, WIDTH, BATCH, LR, EPOCHS = 4, 64, 64, 0.1, 3
MIN_ACCURACY = 0.9
WEIGHT_SCALE = 0.5  # of 1/sqrt(fan_in), the scale that keeps a signal its size through a layer
TIME_LIMIT = 20.0  # seconds for one training run on a laptop's CPU, the student's numpy included


class TrainingFailed(AssertionError):
    """The network did not learn with the student's batch norm; the message says what to look at."""


@public
def deep_network(normalization=None, depth=DEPTH, width=WIDTH, seed=0):
    """(parameters, forward) of the digits network: `depth` hidden layers, each Linear, then
    `normalization(h, gamma, beta)` when one is given, then ReLU; a Linear to the 10 logits."""
    generator = torch.Generator().manual_seed(seed)
    sizes = [64] + [width] * depth + [10]
    weights = [(torch.randn(n_in, n_out, generator=generator, dtype=torch.float64) * WEIGHT_SCALE / n_in ** 0.5).requires_grad_()
               for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    biases = [torch.zeros(n_out, dtype=torch.float64, requires_grad=True) for n_out in sizes[1:]]
    gammas = [torch.ones(width, dtype=torch.float64, requires_grad=True) for _ in range(depth)]
    betas = [torch.zeros(width, dtype=torch.float64, requires_grad=True) for _ in range(depth)]

    def forward(x):
        h = x
        for layer in range(depth):
            h = h @ weights[layer] + biases[layer]
            if normalization is not None:
                h = normalization(h, gammas[layer], betas[layer])
            h = torch.relu(h)
        return h @ weights[-1] + biases[-1]

    parameters = weights + biases + (gammas + betas if normalization is not None else [])
    return parameters, forward


@public
def train_deep(normalization=None, lr=LR, epochs=EPOCHS, seed=0):
    """Train deep_network(normalization) on the digits; return (the loss of every step, the test
    accuracy). The 450 held-out images are evaluated as one batch, with their own statistics."""
    from ..mlp_backprop import digits_split

    X_train, X_test, y_train, y_test = (torch.as_tensor(a) for a in digits_split())
    parameters, forward = deep_network(normalization, seed=seed)
    generator = torch.Generator().manual_seed(seed + 1)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(X_train), generator=generator)
        for start in range(0, len(order) - BATCH + 1, BATCH):
            rows = order[start:start + BATCH]
            loss = torch.nn.functional.cross_entropy(forward(X_train[rows]), y_train[rows])
            for p in parameters:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in parameters:
                    p -= lr * p.grad
            losses.append(loss.item())
    with torch.no_grad():
        accuracy = (forward(X_test).argmax(dim=1) == y_test).double().mean().item()
    return losses, accuracy


def guarded(Function):
    """A Function whose forward and backward run the student's as student code (autograd refused in
    them, their errors explained); torch's engine around them is the grader's."""
    class Guarded(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *inputs):
            return by_hand(Function.forward, ctx, *inputs)

        @staticmethod
        def backward(ctx, *grads):
            return by_hand(Function.backward, ctx, *grads)

    return Guarded


# --- the grader's batch norm, where the student's is wrong ---------------------------------------

def reference_forward(x, gamma, beta, eps=1e-5):
    arrays = {"x": x, "gamma": gamma, "beta": beta}
    y = forward_value(tf.batchnorm, {k: as_float64(v, k) for k, v in arrays.items()}, eps=eps)
    return y.astype(np.asarray(x).dtype), (arrays, eps)


def reference_backward(dy, cache):
    arrays, eps = cache
    with autograd_allowed(), torch.enable_grad():  # a Function's backward runs with grad mode off
        grads = grads_of(tf.batchnorm, {k: as_float64(v, k) for k, v in arrays.items()}, as_float64(dy, "dy"),
                         eps=eps)
    return tuple(grads[k].astype(np.asarray(arrays[k]).dtype) for k in ("x", "gamma", "beta"))


REFERENCES = {"batchnorm_forward": reference_forward, "batchnorm_backward": reference_backward}


def own_pieces_work(namespace):
    """Whether the notebook's batchnorm_forward and batchnorm_backward pass a test of their own, the
    cost of a backward included (a numerical one would make the training run for minutes)."""
    forward, backward = namespace.get("batchnorm_forward"), namespace.get("batchnorm_backward")
    try:
        check_batchnorm_backward(forward, backward, seed=61, N=16, D=5)
        check_cost("batchnorm_backward", forward, backward, shape=(BATCH, WIDTH))
    except Exception:  # noqa: BLE001 (any failure of theirs, blank included, is the earlier tests' to count)
        return False
    return True


# --- the checks -----------------------------------------------------------------------------------

SWAPPED = ("dgamma and dbeta were returned in each other's place: backward returns one gradient per input of "
           "forward, in the same order.")


def check_batchnorm_function(Function, seed, N, D, dtype=np.float64):
    """Function.apply(x, gamma, beta) against torch's batch norm: y, then dx, dgamma and dbeta as
    autograd gets them through the Function's backward."""
    arrays, dy = inputs(seed, (N, D), dtype)
    expected = forward_value(tf.batchnorm, arrays)
    grads = grads_of(tf.batchnorm, arrays, dy)
    leaves = {k: torch.tensor(v.astype(dtype), requires_grad=True) for k, v in arrays.items()}
    y = guarded(Function).apply(*leaves.values())
    if not isinstance(y, torch.Tensor):
        raise GradientMismatch(f"BatchNormFunction.forward returned {type(y).__name__}: a Function's forward "
                               "returns a torch tensor (torch.from_numpy turns an array into one).", cause="shape")
    same_dtype("y", y.detach(), dtype)
    check_value(f"BatchNormFunction.apply(x, gamma, beta) on shape {(N, D)}", y.detach().numpy(), expected,
                **tolerance_for(dtype, y.detach().numpy()))
    y.backward(torch.as_tensor(dy.astype(dtype)))
    swapped = {"gamma": {SWAPPED: grads["beta"]}, "beta": {SWAPPED: grads["gamma"]}}
    for name, leaf in leaves.items():
        if leaf.grad is None:
            raise GradientMismatch(f"no gradient reached {name}: BatchNormFunction.backward returns one gradient "
                                   "per input of forward (x, gamma, beta), in that order.", cause="specific")
        same_dtype(f"d{name}", leaf.grad, dtype)
        check_gradient(f"d{name} through BatchNormFunction on shape {(N, D)}", leaf.grad.numpy(), grads[name],
                       known_mistakes=swapped.get(name), batch_size=N, **tolerance_for(dtype, leaf.grad.numpy()))


def check_batchnorm_in_training(Function, seed=0, namespace=None, min_accuracy=MIN_ACCURACY,
                                time_limit=TIME_LIMIT):
    """The Function on a batch, in float64 and float32, then the deep network trained with it: a
    test accuracy of at least min_accuracy, within time_limit seconds."""
    namespace = namespace if namespace is not None else Function.forward.__globals__
    own = own_pieces_work(namespace)
    if not own:
        print("Your batchnorm_forward or batchnorm_backward does not pass its own tests (exercises 1 and 3 count "
              "that), so this test runs your BatchNormFunction around the grader's batch norm.")
    with reference_pieces({} if own else REFERENCES, Function, namespace=namespace):
        check_batchnorm_function(Function, seed, N=16, D=5)
        check_batchnorm_function(Function, seed + 1, N=8, D=3, dtype=np.float32)
        start = time.perf_counter()
        losses, accuracy = train_deep(guarded(Function).apply, seed=seed)
        seconds = time.perf_counter() - start
    if not np.all(np.isfinite(losses)):
        raise TrainingFailed("the loss became NaN or inf while training with your BatchNormFunction.")
    if seconds > time_limit:
        raise TrainingFailed(f"training with your BatchNormFunction took {seconds:.1f} s; it must finish within "
                             f"{time_limit:.0f} s (each step calls it {DEPTH} times forward and backward).")
    if not accuracy >= min_accuracy:
        raise TrainingFailed(f"test accuracy {accuracy:.3f} after training with your BatchNormFunction; needed "
                             f"{min_accuracy}.")
    print(f"seed {seed}: test accuracy {accuracy:.3f} with your BatchNormFunction (needed {min_accuracy}), "
          f"{len(losses)} steps in {seconds:.1f} s")
