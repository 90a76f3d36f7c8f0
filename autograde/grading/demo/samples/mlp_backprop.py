"""Sample submissions for 03_mlp_backprop, and the Python objects a submission defines."""
from autograde.grading.demo.samples import NUMERICAL_GRADIENT, Replace, Rewrite, Variant
from autograde.grading.demo.samples import definitions as sample_definitions

ASSIGNMENT = "03_mlp_backprop"
ALL_CELLS = ["test_linear", "test_relu", "test_sigmoid", "test_tanh", "test_softmax_ce", "test_sequential",
             "test_numerical_gradient", "test_relative_error", "test_every_intermediate", "test_training_loop",
             "test_training"]

# Cells that only define things (no plots, no training run): what the unit tests and the benchmark execute.
DEFINITION_CELLS = ["setup", "layer_base", "linear", "activations", "softmax_ce", "sequential", "gradcheck",
                    "three_layer_forward", "manual_backward", "train"]


def definitions(variant="correct", edits=()):
    """The namespace a submission's definition cells create (see samples.definitions)."""
    return sample_definitions(ASSIGNMENT, DEFINITION_CELLS, variant, edits)


WRITTEN_DIFFERENTLY_LINEAR = '''
class Linear(Layer):
    """y = x @ W.T + b, kept in float32 and written with einsum."""

    def __init__(self, d_in, d_out, rng):
        bound = 1 / np.sqrt(d_in)
        self.W = rng.uniform(-bound, bound, size=(d_out, d_in)).astype(np.float32)
        self.b = rng.uniform(-bound, bound, size=d_out).astype(np.float32)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    def forward(self, x):
        self.x = np.asarray(x, dtype=np.float32)
        return np.einsum("ni,oi->no", self.x, self.W) + self.b

    def backward(self, dy):
        dy = np.asarray(dy, dtype=np.float32)
        self.dW = np.einsum("no,ni->oi", dy, self.x)
        self.db = np.einsum("no->o", dy)
        return np.einsum("no,oi->ni", dy, self.W)

    def parameters(self):
        return [(self.W, self.dW), (self.b, self.db)]
'''

WRITTEN_DIFFERENTLY_ACTIVATIONS = '''
class ReLU(Layer):
    def forward(self, x):
        self.mask = x > 0
        return np.where(self.mask, x, 0.0)

    def backward(self, dy):
        return np.where(self.mask, dy, 0.0)


class Sigmoid(Layer):
    """torch arithmetic (no autograd) is allowed."""

    def forward(self, x):
        self.out = torch.sigmoid(torch.as_tensor(x))
        return self.out.numpy()

    def backward(self, dy):
        return (torch.as_tensor(dy) * self.out * (1 - self.out)).numpy()


class Tanh(Layer):
    def forward(self, x):
        self.t = 1 - 2 / (np.exp(2 * x) + 1)  # tanh without np.tanh; saturates to +-1 without overflow
        return self.t

    def backward(self, dy):
        return dy - dy * self.t * self.t
'''

WRITTEN_DIFFERENTLY_SOFTMAX_CE = '''
class SoftmaxCrossEntropy:
    """Row by row in float32, with a log-sum-exp from np.logaddexp."""

    def forward(self, logits, target):
        logits = np.asarray(logits, dtype=np.float32)
        self.target = np.asarray(target)
        self.probs = np.empty_like(logits)
        total = 0.0
        for n, row in enumerate(logits):
            lse = np.logaddexp.reduce(row)
            self.probs[n] = np.exp(row - lse)
            total += lse - row[self.target[n]]
        return total / len(logits)

    def backward(self):
        onehot = np.eye(self.probs.shape[1], dtype=self.probs.dtype)[self.target]
        return (self.probs - onehot) / len(self.target)
'''

WRITTEN_DIFFERENTLY_SEQUENTIAL = '''
class Sequential(Layer):
    def __init__(self, *layers):
        self.layers = list(layers)

    def forward(self, x):
        out = x
        for i in range(len(self.layers)):
            out = self.layers[i].forward(out)
        return out

    def backward(self, dy):
        grad = dy
        for i in range(len(self.layers) - 1, -1, -1):
            grad = self.layers[i].backward(grad)
        return grad

    def parameters(self):
        return [pair for layer in self.layers for pair in layer.parameters()]


def sgd_step(model, lr):
    for param, grad in model.parameters():
        param[...] = param - lr * grad
'''

WRITTEN_DIFFERENTLY_GRADCHECK = '''
def numerical_gradient(f, x, h=1e-5):
    flat = x.reshape(-1)  # a view: nudging flat nudges x
    grad = np.zeros(flat.size)
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + h
        up = f(x)
        flat[i] = saved - h
        down = f(x)
        flat[i] = saved
        grad[i] = (up - down) / (2 * h)
    return grad.reshape(x.shape)


def relative_error(a, b, eps=1e-12):
    """cs231n's denominator max(|a|, |b|), in torch; returns a 0-d tensor."""
    a = torch.as_tensor(np.asarray(a, dtype=np.float64))
    b = torch.as_tensor(np.asarray(b, dtype=np.float64))
    return ((a - b).abs() / torch.clamp(torch.maximum(a.abs(), b.abs()), min=eps)).max()
'''

WRITTEN_DIFFERENTLY_MANUAL_BACKWARD = '''
def manual_backward(cache):
    """float32 and einsum, with a one-hot matrix for the picked entries."""
    c = {k: v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v
         for k, v in cache.items()}
    N, K = c["logprobs"].shape
    g = {}
    g["logprobs"] = -np.eye(K, dtype=np.float32)[c["y"]] / N
    g["probs"] = g["logprobs"] / c["probs"]
    g["counts_sum_inv"] = np.einsum("nk,nk->n", c["counts"], g["probs"])[:, None]
    g["counts_sum"] = -g["counts_sum_inv"] / c["counts_sum"] ** 2
    g["counts"] = c["counts_sum_inv"] * g["probs"] + g["counts_sum"]
    g["logits"] = c["counts"] * g["counts"]
    for out, inp, W, b in (("logits", "h2", "W3", "b3"), ("h2_preact", "h1", "W2", "b2"),
                           ("h1_preact", "X", "W1", "b1")):
        upstream = g[out]
        g[W] = np.einsum("no,ni->oi", upstream, c[inp]) + 2 * c["lam"] * c[W]
        g[b] = np.einsum("no->o", upstream)
        g[inp] = np.einsum("no,oi->ni", upstream, c[W])
        if inp == "h2":
            g["h2_preact"] = g["h2"] * c["h2"] * (1 - c["h2"])
        elif inp == "h1":
            g["h1_preact"] = np.where(c["h1_preact"] > 0, g["h1"], 0)
    return g
'''

WRITTEN_DIFFERENTLY_TRAIN = '''
def make_model(rng):
    return Sequential(Linear(64, 48, rng), Tanh(), Linear(48, 10, rng))


def train(model, X, y, rng):
    X = X.astype(np.float32)
    loss_fn = SoftmaxCrossEntropy()
    losses = []
    for epoch in range(12):
        for batch in np.array_split(rng.permutation(len(X)), len(X) // 16):
            loss = loss_fn.forward(model.forward(X[batch]), y[batch])
            model.backward(loss_fn.backward())
            sgd_step(model, 0.05)
            losses.append(float(loss))
    return losses
'''

AUTOGRAD_MANUAL_BACKWARD = '''
def manual_backward(cache):
    leaves = {n: torch.tensor(cache[n], requires_grad=True) for n in ("X", "W1", "b1", "W2", "b2", "W3", "b3")}
    X, W1, b1, W2, b2, W3, b3 = leaves.values()
    y = torch.as_tensor(cache["y"])
    h1_preact = X @ W1.T + b1
    h1 = torch.relu(h1_preact)
    h2_preact = h1 @ W2.T + b2
    h2 = torch.sigmoid(h2_preact)
    logits = h2 @ W3.T + b3
    counts = logits.exp()
    counts_sum = counts.sum(1, keepdim=True)
    counts_sum_inv = counts_sum ** -1
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    named = dict(h1_preact=h1_preact, h1=h1, h2_preact=h2_preact, h2=h2, logits=logits, counts=counts,
                 counts_sum=counts_sum, counts_sum_inv=counts_sum_inv, probs=probs, logprobs=logprobs)
    for t in named.values():
        t.retain_grad()
    loss = -logprobs[torch.arange(len(y)), y].mean() + cache["lam"] * sum((W ** 2).sum() for W in (W1, W2, W3))
    loss.backward()
    return {n: t.grad.numpy() for n, t in {**named, **leaves}.items()}
'''

# Backward passes by central differences of the forward: right values, a forward pass per input.
# The sample class differentiates only Sigmoid and Tanh this way (its notebook trains a network of
# Linear, ReLU and softmax cross-entropy, which would take minutes); the chapter's unit tests grade
# the others.
NUMERICAL_BACKWARDS = {
    "linear": NUMERICAL_GRADIENT + '''

class Linear(Layer):
    def __init__(self, d_in, d_out, rng):
        bound = 1 / np.sqrt(d_in)
        self.W = rng.uniform(-bound, bound, size=(d_out, d_in))
        self.b = rng.uniform(-bound, bound, size=d_out)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)

    def forward(self, x):
        self.x = x
        return x @ self.W.T + self.b

    def backward(self, dy):
        x, W, b = self.x, self.W, self.b
        self.dW = central_differences(lambda W: np.sum(dy * (x @ W.T + b)), W)
        self.db = central_differences(lambda b: np.sum(dy * (x @ W.T + b)), b)
        return central_differences(lambda x: np.sum(dy * (x @ W.T + b)), x)

    def parameters(self):
        return [(self.W, self.dW), (self.b, self.db)]
''',
    "activations": NUMERICAL_GRADIENT + '''

class ReLU(Layer):
    def forward(self, x):
        self.x = x
        return np.maximum(x, 0)

    def backward(self, dy):
        return dy * (self.x > 0)


class Elementwise(Layer):
    def forward(self, x):
        self.x = np.asarray(x, dtype=np.float64)
        return self.function(x)

    def backward(self, dy):
        return central_differences(lambda x: np.sum(dy * self.function(x)), self.x)


class Sigmoid(Elementwise):
    function = staticmethod(lambda x: 1 / (1 + np.exp(-x)))


class Tanh(Elementwise):
    function = staticmethod(np.tanh)
''',
    "softmax_ce": NUMERICAL_GRADIENT + '''

class SoftmaxCrossEntropy:
    def loss(self, logits):
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        return -log_probs[np.arange(len(self.target)), self.target].mean()

    def forward(self, logits, target):
        self.logits, self.target = logits, target
        return self.loss(logits)

    def backward(self):
        return central_differences(self.loss, self.logits)
''',
}

VARIANTS = [
    Variant("correct", "the master's solution"),
    Variant(
        "written_differently", "float32, einsum, np.where, torch arithmetic, loops, another network",
        edits=[Rewrite("linear", WRITTEN_DIFFERENTLY_LINEAR),
               Rewrite("activations", WRITTEN_DIFFERENTLY_ACTIVATIONS),
               Rewrite("softmax_ce", WRITTEN_DIFFERENTLY_SOFTMAX_CE),
               Rewrite("sequential", WRITTEN_DIFFERENTLY_SEQUENTIAL),
               Rewrite("gradcheck", WRITTEN_DIFFERENTLY_GRADCHECK),
               Rewrite("manual_backward", WRITTEN_DIFFERENTLY_MANUAL_BACKWARD),
               Rewrite("train", WRITTEN_DIFFERENTLY_TRAIN)],
    ),
    Variant("numerical_gradient", "Sigmoid's and Tanh's backward by central differences of the "
            "forward: right values, the cost of a forward pass per input",
            edits=[Rewrite("activations", NUMERICAL_BACKWARDS["activations"])],
            loses={cell: "perturbing the inputs" for cell in ("test_sigmoid", "test_tanh")}),
    Variant("blank", "the release as handed out", blank=True,
            loses={cell: "NotImplementedError" for cell in ALL_CELLS}),
    Variant(
        "dW_transposed", "dW = x^T dy, the transpose of the weight gradient",
        edits=[Replace("linear", "self.dW = dy.T @ self.x", "self.dW = self.x.T @ dy")],
        loses={"test_linear": "transposed", "test_training": "transposed"},
    ),
    Variant(
        "db_not_summed", "db = dy, not summed over the batch",
        edits=[Replace("linear", "self.db = dy.sum(axis=0)", "self.db = dy")],
        loses={"test_linear": "summed over the broadcast axis", "test_training": "summed over the broadcast axis"},
    ),
    Variant(
        "relu_passes_negatives", "ReLU's mask built from its output with >=, so it passes everything",
        edits=[Replace("activations", "self.x = x\n        return np.maximum(x, 0)",
                       "self.out = np.maximum(x, 0)\n        return self.out"),
               Replace("activations", "return dy * (self.x > 0)", "return dy * (self.out >= 0)")],
        loses={"test_relu": "passes where the input was negative",
               "test_training": "passes where the input was negative"},
    ),
    Variant(
        "missing_1_over_n", "dlogits = softmax - onehot, without the 1/N of the mean",
        edits=[Replace("softmax_ce", "return dlogits / n", "return dlogits")],
        loses={"test_softmax_ce": "missing 1/N", "test_training": "missing 1/N"},
    ),
    Variant(
        "autograd_in_backward", "manual_backward rebuilds the forward pass in torch and calls .backward()",
        edits=[Rewrite("manual_backward", AUTOGRAD_MANUAL_BACKWARD)],
        loses={"test_every_intermediate": "called torch autograd"},
    ),
    Variant(
        "step_before_backward", "train() calls sgd_step between the forward and the backward pass (a stale gradient)",
        edits=[Replace("train", "            model.backward(loss_fn.backward())\n            sgd_step(model, lr)",
                       "            sgd_step(model, lr)\n            model.backward(loss_fn.backward())")],
        loses={"test_training_loop": "changed between a forward pass and its backward pass"},
    ),
    Variant(
        "l2_penalty_forgotten", "the weight gradients lack the penalty's 2 lam W",
        edits=[Replace("manual_backward", ' + 2 * c["lam"] * c["W3"]', ""),
               Replace("manual_backward", ' + 2 * c["lam"] * c["W2"]', ""),
               Replace("manual_backward", ' + 2 * c["lam"] * c["W1"]', "")],
        loses={"test_every_intermediate": "L2 penalty"},
    ),
]
