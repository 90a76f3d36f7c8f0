"""Chapter 3's earlier exercises done right, for grading the training loop on its own.

While check_training_loop runs, these stand in for the student's classes of the same names, so that
`train` (and the `make_model` that feeds it) is graded on its own; they also record every step into
the TrainingRecord of the running check, so that the check can see what the loop did. Their
gradients are torch autograd's, of each layer's forward computation: no backward is written out in
the package students import.
"""
from dataclasses import dataclass, field

import numpy as np
import torch

from ...check import is_close
from ...guard import autograd_allowed
from ...reference import torch_grads


def vjp(forward, inputs, upstream):
    """{name: gradient} of forward(**inputs) with upstream gradient `upstream` (None for a number), by
    torch autograd: on even while the student's training loop, which calls these layers, runs with it
    blocked."""
    with autograd_allowed():
        return torch_grads(forward, inputs, upstream=upstream)


def _numpy(value):
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def _like(value, template):
    """`value` (numpy) in the kind the student passed: a torch tensor in, a torch tensor out."""
    return torch.as_tensor(value) if isinstance(template, torch.Tensor) else value


@dataclass
class TrainingRecord:
    """What the reference pieces saw while the student's train() ran."""
    batches: list = field(default_factory=list)  # the rows of every step's batch, as given to the model
    losses: list = field(default_factory=list)   # the loss of every step
    problems: list = field(default_factory=list)  # what went wrong, first first

    def problem(self, text):
        if text not in self.problems:
            self.problems.append(text)


_record = None  # the TrainingRecord of the running check, if any (check_training_loop patches it in)


class ReferenceLinear:
    def __init__(self, d_in, d_out, rng):
        bound = 1 / np.sqrt(d_in)  # as the notebook's Linear: the same rng draws give the same weights
        self.W = rng.uniform(-bound, bound, size=(d_out, d_in))
        self.b = rng.uniform(-bound, bound, size=d_out)
        self.dW, self.db = np.zeros_like(self.W), np.zeros_like(self.b)
        self.previous = None  # (W, b, dW, db) at the last backward pass
        self.learning_rates = []  # the step each backward pass was followed by, as lr

    def forward(self, x):
        self.x = _numpy(x)
        self.used = self.W.copy(), self.b.copy()
        return _like(self.x @ self.W.T + self.b, x)

    def backward(self, dy):
        d = _numpy(dy)
        if _record is not None:
            if not (np.array_equal(self.W, self.used[0]) and np.array_equal(self.b, self.used[1])):
                _record.problem(
                    "the parameters changed between a forward pass and its backward pass: a step is forward, "
                    "loss, backward, and only then sgd_step (so that it uses this batch's gradient).")
            self.took_step()
        grads = vjp(lambda x, W, b: x @ W.T + b, dict(x=self.x, W=self.used[0], b=self.used[1]), d)
        self.dW, self.db = grads["W"], grads["b"]
        self.previous = self.W.copy(), self.b.copy(), self.dW, self.db
        return _like(grads["x"], dy)

    def took_step(self):
        """Check that since the last backward pass the parameters moved by -lr * its gradient."""
        if self.previous is None:
            return
        W, b, dW, db = self.previous
        moved = np.concatenate([(self.W - W).ravel(), (self.b - b).ravel()])
        grad = np.concatenate([dW.ravel(), db.ravel()])
        if not np.any(grad):
            return
        lr = -float(moved @ grad) / float(grad @ grad)
        self.learning_rates.append(lr)
        if not np.any(moved):
            _record.problem("a backward pass was not followed by a step: after every backward pass, call "
                            "sgd_step(model, lr) once, before the next forward pass.")
        elif lr <= 0:
            _record.problem("a step went uphill: gradient descent subtracts lr * grad.")
        elif not is_close(moved, -lr * grad, 1e-4, 1e-6).all():  # float64 steps: rounding is far below this
            _record.problem("a step did not move every parameter by -lr * (its gradient from the backward "
                            "pass just before): each step is one sgd_step(model, lr), after the backward pass.")

    def parameters(self):
        return [(self.W, self.dW), (self.b, self.db)]


class _ReferenceActivation:
    """An elementwise layer, its value and its gradient torch's (`torch_f`)."""

    def forward(self, x):
        self.x = _numpy(x)
        self.out = self.torch_f(torch.tensor(self.x, dtype=torch.float64)).numpy()
        return _like(self.out, x)

    def backward(self, dy):
        return _like(vjp(self.torch_f, dict(x=self.x), _numpy(dy))["x"], dy)

    def parameters(self):
        return []


class ReferenceReLU(_ReferenceActivation):
    torch_f = staticmethod(torch.relu)


class ReferenceSigmoid(_ReferenceActivation):
    torch_f = staticmethod(torch.sigmoid)


class ReferenceTanh(_ReferenceActivation):
    torch_f = staticmethod(torch.tanh)


class ReferenceSoftmaxCrossEntropy:
    def forward(self, logits, target):
        self.target = _numpy(target).astype(np.int64)
        self.loss = torch.nn.functional.cross_entropy(torch.tensor(_numpy(logits), dtype=torch.float64),
                                                      torch.as_tensor(self.target)).item()
        self.logits = logits
        return _like(self.loss, logits)

    def backward(self):
        if _record is not None:
            _record.losses.append(float(self.loss))
        target = torch.as_tensor(self.target)
        grads = vjp(lambda z: torch.nn.functional.cross_entropy(z, target), dict(z=_numpy(self.logits)), None)
        return _like(grads["z"], self.logits)


class ReferenceSequential:
    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        self.x = x
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        if _record is not None:
            _record.batches.append(_numpy(self.x))
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def parameters(self):
        return [pair for layer in self.layers for pair in layer.parameters()]


def reference_sgd_step(model, lr):
    for param, grad in model.parameters():
        param -= lr * grad


REFERENCES = {
    "Linear": ReferenceLinear, "ReLU": ReferenceReLU, "Sigmoid": ReferenceSigmoid, "Tanh": ReferenceTanh,
    "SoftmaxCrossEntropy": ReferenceSoftmaxCrossEntropy, "Sequential": ReferenceSequential,
    "sgd_step": reference_sgd_step,
}
