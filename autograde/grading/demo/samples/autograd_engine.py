"""Sample submissions for 05_autograd_engine, and the Python objects a submission defines."""
from autograde.grading.demo.samples import Replace, Rewrite, Variant
from autograde.grading.demo.samples import definitions as sample_definitions

ASSIGNMENT = "05_autograd_engine"
ALL_CELLS = ["test_value_ops", "test_value_graphs", "test_topological_order", "test_deep_graph", "test_unbroadcast",
             "test_tensor_elementwise", "test_tensor_reductions", "test_log_softmax", "test_tensor_graphs",
             "test_train_mlp"]

# Cells that only define things (no training run, no plot): what the unit tests execute.
DEFINITION_CELLS = ["setup", "value", "unbroadcast", "tensor", "train_mlp"]


def definitions(variant="correct", edits=()):
    """The namespace a submission's definition cells create (see samples.definitions)."""
    return sample_definitions(ASSIGNMENT, DEFINITION_CELLS, variant, edits)


# --- right answers written another way ------------------------------------------------------------------

KAHN_FLOAT32_VALUE = '''
class Value:
    """float32 numbers; a Python number in an operation stays a constant inside the step (no leaf
    Value is made for it); subtraction and division have their own steps; Kahn's algorithm orders."""

    def __init__(self, data, inputs=()):
        self.data = np.float32(data)
        self.grad = np.float32(0.0)
        self.inputs = inputs
        self._backward = lambda: None

    def _unary(self, data, local):
        out = Value(data, (self,))

        def _backward():
            self.grad += local(out) * out.grad
        out._backward = _backward
        return out

    def _binary(self, other, data, local_self, local_other):
        out = Value(data, (self, other))

        def _backward():
            self.grad += local_self() * out.grad
            other.grad += local_other() * out.grad
        out._backward = _backward
        return out

    def __add__(self, other):
        if isinstance(other, Value):
            return self._binary(other, self.data + other.data, lambda: 1, lambda: 1)
        return self._unary(self.data + np.float32(other), lambda out: 1)

    __radd__ = __add__

    def __mul__(self, other):
        if isinstance(other, Value):
            return self._binary(other, self.data * other.data, lambda: other.data, lambda: self.data)
        k = np.float32(other)
        return self._unary(self.data * k, lambda out: k)

    __rmul__ = __mul__

    def __sub__(self, other):
        if isinstance(other, Value):
            return self._binary(other, self.data - other.data, lambda: 1, lambda: -1)
        return self._unary(self.data - np.float32(other), lambda out: 1)

    def __rsub__(self, other):
        return self._unary(np.float32(other) - self.data, lambda out: -1)

    def __neg__(self):
        return self._unary(-self.data, lambda out: -1)

    def __truediv__(self, other):
        if isinstance(other, Value):
            return self._binary(other, self.data / other.data, lambda: 1 / other.data,
                                lambda: -self.data / other.data ** 2)
        k = np.float32(other)
        return self._unary(self.data / k, lambda out: 1 / k)

    def __rtruediv__(self, other):
        k = np.float32(other)
        return self._unary(k / self.data, lambda out: -out.data / self.data)

    def __pow__(self, n):
        return self._unary(self.data ** n, lambda out: n * self.data ** (n - 1))

    def exp(self):
        return self._unary(np.exp(self.data), lambda out: out.data)

    def log(self):
        return self._unary(np.log(self.data), lambda out: 1 / self.data)

    def tanh(self):
        return self._unary(np.tanh(self.data), lambda out: 1 - out.data * out.data)

    def relu(self):
        return self._unary(np.maximum(self.data, 0), lambda out: np.float32(self.data > 0))

    def sigmoid(self):
        return self._unary((np.tanh(self.data / 2) + 1) / 2, lambda out: out.data * (1 - out.data))

    def backward(self):
        order = topological_order(self)
        self.grad = np.float32(1.0)
        for node in reversed(order):
            node._backward()


def topological_order(root):
    """Kahn's algorithm: count how many nodes use each node, then take the nodes nobody (left) uses."""
    users, stack, seen = {}, [root], {id(root)}
    while stack:
        for x in stack.pop().inputs:
            users[id(x)] = users.get(id(x), 0) + 1
            if id(x) not in seen:
                seen.add(id(x))
                stack.append(x)
    order, ready = [], [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for x in node.inputs:
            users[id(x)] -= 1
            if users[id(x)] == 0:
                ready.append(x)
    return order[::-1]
'''

LOOPED_UNBROADCAST = '''
def unbroadcast(grad, shape):
    """One axis at a time from the right; the added leading axes at the end."""
    grad = np.array(grad)
    for i in range(1, len(shape) + 1):
        if shape[-i] == 1 and grad.shape[-i] != 1:
            grad = np.add.reduce(grad, axis=grad.ndim - i, keepdims=True)
    while grad.ndim > len(shape):
        grad = np.add.reduce(grad, axis=0)
    return grad
'''

COMPOSED_LOG_SOFTMAX = '''    def log_softmax(self, axis=-1):
        shift = self.data.max(axis=axis, keepdims=True)  # a constant: changes nothing, so no gradient
        z = self - shift
        return z - z.exp().sum(axis=axis, keepdims=True).log()
'''

FRESH_LEAVES_TRAINING = '''
def train_mlp(x_train, y_train, hidden=32, epochs=20, lr=0.1, seed=0):
    """The parameters stay numpy arrays; every step wraps them in fresh leaf Tensors (so every .grad
    starts at zero); batches of about 16 rows; the loss as a mean of per-row sums."""
    rng = np.random.default_rng(seed)
    params = []
    for d_in, d_out in ((x_train.shape[1], hidden), (hidden, 10)):
        bound = 1 / np.sqrt(d_in)
        params += [rng.uniform(-bound, bound, (d_out, d_in)), rng.uniform(-bound, bound, d_out)]
    targets = np.eye(10)[y_train]
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for rows in np.array_split(order, len(order) // 16):
            W1, b1, W2, b2 = leaves = [Tensor(p) for p in params]
            logits = (Tensor(x_train[rows]) @ W1.T + b1).relu() @ W2.T + b2
            loss = -(logits.log_softmax() * targets[rows]).sum(axis=1).mean()
            loss.backward()
            params = [p - lr * t.grad for p, t in zip(params, leaves)]
    return params
'''

# --- typical mistakes ----------------------------------------------------------------------------------------

BREADTH_FIRST_BACKWARD = '''        self.grad = 1.0
        queue, seen = [self], {id(self)}
        while queue:  # breadth first from the root: a node may run before all its users have
            node = queue.pop(0)
            node.backward_step()
            for x in node.inputs:
                if id(x) not in seen:
                    seen.add(id(x))
                    queue.append(x)'''

ITERATIVE_ORDER = '''    order, visited = [], set()
    stack = [(root, False)]  # (node, are its inputs already in order?)
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((x, False) for x in node.inputs if id(x) not in visited)
    return order'''

RECURSIVE_ORDER = '''    order, visited = [], set()

    def visit(node):  # one nested call per node on the path: a chain of 5,000 is too deep
        if id(node) not in visited:
            visited.add(id(node))
            for x in node.inputs:
                visit(x)
            order.append(node)

    visit(root)
    return order'''

LEADING_ONLY_UNBROADCAST = '''
def unbroadcast(grad, shape):
    grad = np.asarray(grad)
    while grad.ndim > len(shape):  # the axes numpy added in front; the stretched ones are forgotten
        grad = grad.sum(axis=0)
    return grad
'''

AUTOGRAD_TRAINING = '''
def train_mlp(x_train, y_train, hidden=32, epochs=20, lr=0.1, seed=0):
    import torch

    rng = np.random.default_rng(seed)
    params = []
    for d_in, d_out in ((x_train.shape[1], hidden), (hidden, 10)):
        bound = 1 / np.sqrt(d_in)
        params += [torch.tensor(rng.uniform(-bound, bound, s), requires_grad=True)
                   for s in ((d_out, d_in), (d_out,))]
    W1, b1, W2, b2 = params
    x, y = torch.as_tensor(x_train), torch.as_tensor(y_train)
    for _ in range(epochs):
        for rows in np.array_split(rng.permutation(len(x)), len(x) // 32):
            logits = torch.relu(x[rows] @ W1.T + b1) @ W2.T + b2
            loss = torch.nn.functional.cross_entropy(logits, y[rows])
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= lr * p.grad
                    p.grad = None
    return [p.detach().numpy() for p in params]
'''

CHECKS_ENGINE = """
from autograde.chapters.autograd_engine import engine


def as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


class Tensor(engine.Tensor):
    pass
"""

VARIANTS = [
    Variant("correct", "the master's solution"),
    Variant("written_differently_scalar",
            "float32 Values, numbers kept as constants, own steps for - and /, Kahn's algorithm",
            edits=[Rewrite("value", KAHN_FLOAT32_VALUE)]),
    Variant("written_differently_tensor",
            "unbroadcast axis by axis from the right; log_softmax built from other operations; "
            "training on fresh leaf Tensors every step, batches of 16",
            edits=[Rewrite("unbroadcast", LOOPED_UNBROADCAST),
                   Replace("tensor", "    def log_softmax(self, axis=-1):\n", COMPOSED_LOG_SOFTMAX
                           + "\n    def _unused_log_softmax(self, axis=-1):\n"),
                   Rewrite("train_mlp", FRESH_LEAVES_TRAINING)]),
    Variant("checks_engine", "Tensor subclasses the checks' own engine instead of being written",
            edits=[Rewrite("tensor", CHECKS_ENGINE)],
            loses={cell: "used the grader's own code" for cell in
                   ("test_tensor_elementwise", "test_tensor_reductions", "test_log_softmax", "test_tensor_graphs")}),
    Variant("blank", "the release as handed out", blank=True,
            loses={cell: "NotImplementedError" for cell in ALL_CELLS}),
    Variant("grad_overwritten", "`=` instead of `+=` in the steps of + and *: a reused value keeps one share",
            edits=[Replace("value", "self.grad += out.grad\n            other.grad += out.grad",
                           "self.grad = out.grad\n            other.grad = out.grad"),
                   Replace("value",
                           "self.grad += other.data * out.grad\n            other.grad += self.data * out.grad",
                           "self.grad = other.data * out.grad\n            other.grad = self.data * out.grad")],
            loses={"test_value_graphs": "accumulate into .grad with `+=`"}),
    Variant("no_topological_order", "backward visits the nodes breadth first from the root",
            edits=[Replace("value", "        self.grad = 1.0\n        for node in reversed(topological_order(self)):\n"
                                    "            node.backward_step()", BREADTH_FIRST_BACKWARD)],
            loses={"test_value_graphs": "reverse topological order"}),
    Variant("pow_without_n", "the step of x ** n forgets the factor n",
            edits=[Replace("value", "self.grad += n * self.data ** (n - 1) * out.grad",
                           "self.grad += self.data ** (n - 1) * out.grad")],
            loses={"test_value_ops": "missing its factor n"}),
    Variant("tanh_from_input", "tanh's step uses the input where the output belongs",
            edits=[Replace("value", "self.grad += (1 - out.data ** 2) * out.grad",
                           "self.grad += (1 - self.data ** 2) * out.grad")],
            loses={"test_value_ops": "from the input instead of the output"}),
    Variant("recursive_order", "topological_order recurses once per node",
            edits=[Replace("value", ITERATIVE_ORDER, RECURSIVE_ORDER)],
            loses={"test_deep_graph": "RecursionError on a chain"}),
    Variant("unbroadcast_leading_only", "unbroadcast sums the added leading axes only",
            edits=[Rewrite("unbroadcast", LEADING_ONLY_UNBROADCAST)],
            loses={"test_unbroadcast": "summed only the leading axes"}),
    Variant("log_softmax_entrywise", "log_softmax's step multiplies the softmax by the upstream entry by entry",
            edits=[Replace("tensor", "softmax * out.grad.sum(axis=axis, keepdims=True)", "softmax * out.grad")],
            loses={"test_log_softmax": "entry by entry"}),
    Variant("autograd_in_training", "train_mlp trains with torch autograd instead of the engine",
            edits=[Rewrite("train_mlp", AUTOGRAD_TRAINING)],
            loses={"test_train_mlp": "called torch autograd"}),
]
