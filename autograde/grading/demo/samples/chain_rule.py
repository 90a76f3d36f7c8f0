"""Sample submissions for 01_chain_rule."""
from autograde.grading.demo.samples import NUMERICAL_GRADIENT, Replace, Rewrite, Variant

ALL_CELLS = ["test_tape", "test_staged", "test_conv_net", "test_quadratic_form_grad",
             "test_matvec_vjp", "test_broadcast_add_vjp"]

WRITTEN_DIFFERENTLY_CONV = '''
from numpy.lib.stride_tricks import sliding_window_view


def conv_net_forward(x, w1, w2, y):
    # float32, vectorised with a sliding window and einsum
    patches = sliding_window_view(x.astype(np.float32), w1.shape)
    z1 = np.einsum("ijab,ab->ij", patches, w1.astype(np.float32)).reshape(-1)
    h = np.tanh(z1)
    a = 1 / (1 + np.exp(-(h * w2.astype(np.float32))))
    loss = 0.5 * np.sum((a - y) ** 2)
    return loss, (patches, w1.astype(np.float32), w2.astype(np.float32), h, a, y)


def conv_net_backward(cache):
    patches, w1, w2, h, a, y = cache
    out_h, out_w, k, _ = patches.shape
    dz2 = (a - y) * a * (1 - a)
    dz1 = (dz2 * w2 * (1 - h ** 2)).reshape(out_h, out_w)
    dw1 = np.einsum("ij,ijab->ab", dz1, patches)
    dx = np.zeros((out_h + k - 1, out_w + k - 1), dtype=np.float32)
    for r in range(k):
        for s in range(k):
            dx[r:r + out_h, s:s + out_w] += dz1 * w1[r, s]
    return dx, dw1, dz2 * h
'''

WRITTEN_DIFFERENTLY_VJP = '''
def quadratic_form_grad(x, W, v=1.0):
    x32 = np.asarray(x, dtype=np.float32)
    flat = x32.reshape(-1)
    return (v * (np.einsum("ij,j->i", W, flat) + np.einsum("ji,j->i", W, flat))).reshape(x32.shape)


def matvec_vjp(W, v):
    return torch.as_tensor(W).T @ torch.as_tensor(v)  # a torch tensor is fine


def broadcast_add_vjp(v):
    total = np.zeros(v.shape[1])
    for row in v:
        total += row
    return total
'''

AUTOGRAD_BACKWARD = '''
def sigmoid(t):
    return 1.0 / (1.0 + np.exp(-t))


def staged_forward(x, y):
    return (x + sigmoid(y)) / (sigmoid(x) + (x + y) ** 2), dict(x=x, y=y)


def staged_backward(cache):
    x = torch.tensor(cache["x"], dtype=torch.float64, requires_grad=True)
    y = torch.tensor(cache["y"], dtype=torch.float64, requires_grad=True)
    f = (x + torch.sigmoid(y)) / (torch.sigmoid(x) + (x + y) ** 2)
    f.sum().backward()
    return x.grad.numpy(), y.grad.numpy()
'''

NUMERICAL_CONV = NUMERICAL_GRADIENT + '''

def conv_net_forward(x, w1, w2, y):
    k = w1.shape[0]
    out_h, out_w = x.shape[0] - k + 1, x.shape[1] - k + 1
    z1 = np.empty((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            z1[i, j] = np.sum(x[i:i + k, j:j + k] * w1)
    a = 1 / (1 + np.exp(-(np.tanh(z1.reshape(-1)) * w2)))
    return 0.5 * np.sum((a - y) ** 2), dict(x=x, w1=w1, w2=w2, y=y)


def conv_net_backward(cache):
    x, w1, w2, y = (cache[n] for n in ("x", "w1", "w2", "y"))
    return (central_differences(lambda x: conv_net_forward(x, w1, w2, y)[0], x),
            central_differences(lambda w1: conv_net_forward(x, w1, w2, y)[0], w1),
            central_differences(lambda w2: conv_net_forward(x, w1, w2, y)[0], w2))
'''

NUMERICAL_VJP = NUMERICAL_GRADIENT + '''

def quadratic_form_grad(x, W, v=1.0):
    flat = np.asarray(x, dtype=float).reshape(-1)
    return central_differences(lambda x: v * (x @ W @ x), flat).reshape(np.shape(x))


def matvec_vjp(W, v):
    return central_differences(lambda x: v @ (W @ x), np.zeros(W.shape[1]))


def broadcast_add_vjp(v):
    return central_differences(lambda b: np.sum(v * np.broadcast_to(b, v.shape)), np.zeros(v.shape[1]))
'''

VARIANTS = [
    Variant("correct", "the master's solution"),
    Variant(
        "written_differently", "float32, einsum, sliding windows, loops and torch tensors",
        edits=[Rewrite("conv_net", WRITTEN_DIFFERENTLY_CONV), Rewrite("vjp", WRITTEN_DIFFERENTLY_VJP)],
    ),
    Variant(
        "correct_with_warnings", "right answers that print a warning to stderr while tested",
        edits=[Replace("vjp", "def matvec_vjp(W, v):\n",
                       "def matvec_vjp(W, v):\n    import warnings\n    warnings.warn('a harmless warning')\n")],
    ),
    Variant("blank", "the release as handed out", blank=True,
            loses={cell: "NotImplementedError" for cell in ALL_CELLS}),
    Variant(
        "tape_on_the_class", "nodes of one kind share one tape entry (the tape kept on the class)",
        edits=[
            Replace("tape", "self.inputs = (x, y)", "globals().setdefault('TAPE', {})[Multiply] = (x, y)"),
            Replace("tape", "x, y = self.inputs", "x, y = TAPE[Multiply]"),
        ],
        loses={"test_tape": "on the instance"},
    ),
    Variant(
        "fork_overwritten", "`dx = ...` where `dx += ...` belongs",
        edits=[Replace("staged", "dx += dnum", "dx = dnum")],
        loses={"test_staged": "accumulate with `dx += ...`"},
    ),
    Variant(
        "autograd_in_backward", "staged_backward calls torch autograd",
        edits=[Rewrite("staged", AUTOGRAD_BACKWARD)],
        loses={"test_staged": "called torch autograd"},
    ),
    Variant(
        "numerical_gradient", "every backward by central differences of the forward: right values, "
        "the cost of a forward pass per input",
        edits=[Rewrite("conv_net", NUMERICAL_CONV), Rewrite("vjp", NUMERICAL_VJP)],
        loses={cell: "perturbing the inputs" for cell in
               ("test_conv_net", "test_quadratic_form_grad", "test_matvec_vjp", "test_broadcast_add_vjp")},
    ),
    Variant(
        "conv_dw1_transposed", "dw1 accumulated transposed",
        edits=[Replace("conv_net", "dw1 += dz1[i, j] * x[i:i + k, j:j + k]",
                       "dw1 += (dz1[i, j] * x[i:i + k, j:j + k]).T")],
        loses={"test_conv_net": "transposed"},
    ),
    Variant(
        "quadratic_form_symmetric", "2 W x: right only for a symmetric W",
        edits=[Replace("vjp", "(v * (W + W.T) @ flat)", "(2 * v * W @ flat)")],
        loses={"test_quadratic_form_grad": "symmetric"},
    ),
    Variant(
        "jvp_not_vjp", "W v instead of W^T v",
        edits=[Replace("vjp", "return W.T @ v", "return W @ v")],
        loses={"test_matvec_vjp": "used where its transpose belongs"},
    ),
    Variant(
        "broadcast_not_summed", "returns v unsummed over the broadcast rows",
        edits=[Replace("vjp", "return v.sum(axis=0)", "return v")],
        loses={"test_broadcast_add_vjp": "summed over the broadcast axis"},
    ),
]
