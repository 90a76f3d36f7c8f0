"""The grader's own `unbroadcast` and `Tensor`: what the checks put in place of the student's while a
later exercise is graded (the Tensor tests use this unbroadcast; the training test uses this Tensor
when the student's gets the network's gradients wrong), so that one mistake costs points once.
"""
import numpy as np


def unbroadcast(grad, shape):
    """grad summed back to `shape`, the shape of an input that numpy broadcast."""
    grad = np.asarray(grad, dtype=np.float64)
    shape = tuple(shape)
    leading = grad.ndim - len(shape)
    stretched = tuple(leading + i for i, size in enumerate(shape) if size == 1 and grad.shape[leading + i] != 1)
    return grad.sum(axis=tuple(range(leading)) + stretched, keepdims=True).reshape(shape)


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


class Tensor:
    __array_ufunc__ = None
    # what a student's training loop assigns (p.grad = ..., p.data = ...) when the trusted checker
    # lends it this Tensor (grading/checker/remote.py lets the student's code set nothing else)
    student_settable = ("data", "grad")

    def __init__(self, data, inputs=(), step=None):
        self.data = np.array(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._inputs = tuple(inputs)
        self._step = step  # step(out): adds out's share into the inputs' grads

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Tensor(shape={self.shape})"

    def __add__(self, other):
        other = _tensor(other)

        def step(out):
            self.grad += unbroadcast(out.grad, self.shape)
            other.grad += unbroadcast(out.grad, other.shape)
        return Tensor(self.data + other.data, (self, other), step)

    def __mul__(self, other):
        other = _tensor(other)

        def step(out):
            self.grad += unbroadcast(out.grad * other.data, self.shape)
            other.grad += unbroadcast(out.grad * self.data, other.shape)
        return Tensor(self.data * other.data, (self, other), step)

    def __truediv__(self, other):
        other = _tensor(other)

        def step(out):
            self.grad += unbroadcast(out.grad / other.data, self.shape)
            other.grad -= unbroadcast(out.grad * self.data / other.data ** 2, other.shape)
        return Tensor(self.data / other.data, (self, other), step)

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-_tensor(other))

    def __radd__(self, other):
        return self + other

    def __rmul__(self, other):
        return self * other

    def __rsub__(self, other):
        return _tensor(other) - self

    def __rtruediv__(self, other):
        return _tensor(other) / self

    def _elementwise(self, value, local):
        def step(out):
            self.grad += local(out) * out.grad
        return Tensor(value, (self,), step)

    def exp(self):
        return self._elementwise(np.exp(self.data), lambda out: out.data)

    def log(self):
        return self._elementwise(np.log(self.data), lambda out: 1 / self.data)

    def relu(self):
        return self._elementwise(np.maximum(self.data, 0), lambda out: self.data > 0)

    def tanh(self):
        return self._elementwise(np.tanh(self.data), lambda out: 1 - out.data ** 2)

    def __matmul__(self, other):
        other = _tensor(other)

        def step(out):
            self.grad += out.grad @ other.data.T
            other.grad += self.data.T @ out.grad
        return Tensor(self.data @ other.data, (self, other), step)

    def sum(self, axis=None, keepdims=False):
        def step(out):
            grad = out.grad if keepdims or axis is None else np.expand_dims(out.grad, axis)
            self.grad += np.broadcast_to(grad, self.shape)
        return Tensor(self.data.sum(axis=axis, keepdims=keepdims), (self,), step)

    def mean(self, axis=None, keepdims=False):
        count = self.data.size if axis is None else self.shape[axis]
        return self.sum(axis=axis, keepdims=keepdims) / count

    def reshape(self, *shape):
        def step(out):
            self.grad += out.grad.reshape(self.shape)
        return Tensor(self.data.reshape(*shape), (self,), step)

    @property
    def T(self):
        def step(out):
            self.grad += out.grad.T
        return Tensor(self.data.T, (self,), step)

    def log_softmax(self, axis=-1):
        shifted = self.data - self.data.max(axis=axis, keepdims=True)

        def step(out):
            self.grad += out.grad - np.exp(out.data) * out.grad.sum(axis=axis, keepdims=True)
        return Tensor(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)), (self,), step)

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((x, False) for x in node._inputs if id(x) not in seen)
        self.grad = np.ones_like(self.data)
        for node in reversed(order):
            if node._step is not None:
                node._step(node)
