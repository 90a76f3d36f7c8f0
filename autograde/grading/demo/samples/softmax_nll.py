"""Sample submissions for 02_softmax_nll."""
from autograde.grading.demo.samples import NUMERICAL_GRADIENT, Replace, Rewrite, Variant

ALL_CELLS = ["test_softmax", "test_log_softmax", "test_nll_loss", "test_cross_entropy",
             "test_cross_entropy_grad", "test_softmax_vjp", "test_log_softmax_vjp",
             "test_softmax_jacobian", "test_staged"]

# Right answers written another way: torch tensors, float32, loops, einsum, reshape instead of
# take_along_axis, scipy's logsumexp instead of log_softmax, a loss of shape (1,).
WRITTEN_DIFFERENTLY = {
    "softmax": '''
def softmax(z):
    t = torch.as_tensor(np.asarray(z), dtype=torch.float32)      # a float32 torch tensor comes back
    e = torch.exp(t - t.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def log_softmax(z):
    z = np.asarray(z, dtype=np.float32)
    rows = z.reshape(-1, z.shape[-1])
    out = np.empty_like(rows)
    for n, row in enumerate(rows):                                # one example at a time
        m = row.max()
        out[n] = row - m - np.log(np.sum(np.exp(row - m)))
    return out.reshape(z.shape)
''',
    "nll": '''
def nll_loss(logp, target):
    K = np.shape(logp)[-1]
    onehot = np.eye(K, dtype=np.float32)[np.asarray(target)]
    N = onehot.size // K
    logp = np.asarray(logp, dtype=np.float32).reshape(N, K)
    return -np.einsum("nk,nk->", logp, onehot.reshape(N, K)) / N


def cross_entropy(z, target):
    from scipy.special import logsumexp
    z = np.asarray(z, dtype=np.float32)
    picked = np.take_along_axis(z, np.asarray(target)[..., None], axis=-1)[..., 0]
    return np.reshape(np.mean(logsumexp(z, axis=-1) - picked), (1,))   # one number, in shape (1,)
''',
    "ce_grad": '''
def cross_entropy_grad(z, target):
    z = np.asarray(z, dtype=np.float32)
    K = z.shape[-1]
    rows, labels = z.reshape(-1, K), np.asarray(target).reshape(-1)
    grad = np.zeros_like(rows)
    for n in range(len(rows)):
        e = np.exp(rows[n] - rows[n].max())
        grad[n] = e / e.sum()
        grad[n, labels[n]] -= 1
    return (grad / len(rows)).reshape(z.shape)
''',
    "vjp": '''
def softmax_vjp(z, g):
    p = np.asarray(softmax(z))                                    # float32
    return p * (g - np.einsum("...k,...k->...", g, p)[..., None])


def log_softmax_vjp(z, g):
    p = softmax(z)                                                # a torch tensor
    g = torch.as_tensor(g, dtype=torch.float32)
    return g - p * g.sum(dim=-1, keepdim=True)
''',
    "jacobian": '''
def softmax_jacobian(z):
    p = np.asarray(softmax(z), dtype=np.float64)
    K = len(p)
    J = np.empty((K, K))
    for i in range(K):
        for j in range(K):
            J[i, j] = p[i] * ((i == j) - p[j])
    return J
''',
    "staged": '''
def staged_backward(v, y):
    t = {name: torch.as_tensor(np.asarray(value), dtype=torch.float32) for name, value in v.items()}
    N, K = t["z"].shape
    dpicked = torch.full((N,), 1.0 / N)
    dl = F.one_hot(torch.as_tensor(y), K).float() * dpicked[:, None]
    dk = -dl / t["k"]
    dj = -(dk * t["h"]).sum(dim=1, keepdim=True) / t["j"] ** 2
    dh = dk / t["j"] + dj
    return {"picked": dpicked, "l": dl, "k": dk, "j": dj, "h": dh, "z": dh * t["h"]}
''',
}

LOG_SOFTMAX = '''
def log_softmax(z):
    z = np.asarray(z, dtype=np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
'''

AUTOGRAD_SOFTMAX = '''
def softmax(z):
    t = torch.as_tensor(np.asarray(z, dtype=np.float64))
    return torch.func.grad(lambda t: torch.logsumexp(t, dim=-1).sum())(t).numpy()  # d logsumexp / dz
''' + LOG_SOFTMAX

LIBRARY_SOFTMAX = '''
def softmax(z):
    return torch.softmax(torch.as_tensor(np.asarray(z, dtype=np.float64)), dim=-1).numpy()
''' + LOG_SOFTMAX

AUTOGRAD_GRAD = '''
def cross_entropy_grad(z, target):
    t = torch.tensor(np.asarray(z, dtype=np.float64), requires_grad=True)
    K = t.shape[-1]
    F.cross_entropy(t.reshape(-1, K), torch.as_tensor(target).reshape(-1)).backward()
    return t.grad.numpy()
'''

# Every backward of the chapter by central differences: right values, a forward pass per input.
NUMERICAL_BACKWARDS = {
    "ce_grad": NUMERICAL_GRADIENT + '''

def cross_entropy_grad(z, target):
    return central_differences(lambda z: cross_entropy(z, target), z)
''',
    "vjp": NUMERICAL_GRADIENT + '''

def softmax_vjp(z, g):
    return central_differences(lambda z: np.sum(g * softmax(z)), z)


def log_softmax_vjp(z, g):
    return central_differences(lambda z: np.sum(g * log_softmax(z)), z)
''',
    "staged": NUMERICAL_GRADIENT + '''

def staged_backward(v, y):
    rows = np.arange(v["z"].shape[0])
    return dict(
        picked=central_differences(np.mean, v["picked"]),
        l=central_differences(lambda l: np.mean(l[rows, y]), v["l"]),
        k=central_differences(lambda k: np.mean(-np.log(k[rows, y])), v["k"]),
        j=central_differences(lambda j: np.mean(-np.log(v["h"][rows, y] / j[:, 0])), v["j"]),
        h=central_differences(lambda h: np.mean(-np.log(h[rows, y] / h.sum(axis=1))), v["h"]),
        z=central_differences(lambda z: staged_forward(z, y)["loss"], v["z"]),
    )
''',
}

CHECKS_VJPS = """
from autograde.chapters.softmax_nll.jacobians import log_softmax_vjp_from, softmax_vjp_from


def softmax_vjp(z, g):
    return softmax_vjp_from(softmax(z), g)


def log_softmax_vjp(z, g):
    return log_softmax_vjp_from(softmax(z), g)
"""

VARIANTS = [
    Variant("correct", "the master's solution"),
    Variant("written_differently", "torch tensors, float32, loops, einsum, log-sum-exp",
            edits=[Rewrite(cell, source) for cell, source in WRITTEN_DIFFERENTLY.items()]),
    Variant("numerical_gradient", "every backward by central differences of the forward: right values, "
            "the cost of a forward pass per input",
            edits=[Rewrite(cell, source) for cell, source in NUMERICAL_BACKWARDS.items()],
            loses={cell: "perturbing the inputs" for cell in
                   ("test_cross_entropy_grad", "test_softmax_vjp", "test_log_softmax_vjp", "test_staged")}),
    Variant("checks_vjps", "both VJPs call the chapter's own checks code (imported from autograde.chapters)",
            edits=[Rewrite("vjp", CHECKS_VJPS)],
            loses={cell: "used the grader's own code" for cell in ("test_softmax_vjp", "test_log_softmax_vjp")}),
    Variant("blank", "the release as handed out", blank=True,
            loses={cell: "NotImplementedError" for cell in ALL_CELLS}),
    Variant(
        "unstable_softmax", "exp(z) without subtracting the max: nan for large logits",
        edits=[Replace("softmax", "e = np.exp(z - z.max(axis=-1, keepdims=True))", "e = np.exp(z)")],
        # every exercise built on softmax is tested with huge logits too
        loses={cell: "subtract the max first" for cell in
               ["test_softmax", "test_cross_entropy_grad", "test_softmax_vjp", "test_log_softmax_vjp",
                "test_softmax_jacobian"]},
    ),
    Variant(
        "softmax_global_max", "z - z.max(): one max for the whole array, so whole examples underflow to 0 / 0",
        edits=[Replace("softmax", "e = np.exp(z - z.max(axis=-1, keepdims=True))", "e = np.exp(z - z.max())")],
        # the single-vector Jacobian is unaffected: there the whole array is one example
        loses={cell: "max of the whole array" for cell in
               ["test_softmax", "test_cross_entropy_grad", "test_softmax_vjp", "test_log_softmax_vjp"]},
    ),
    Variant(
        "softmax_wrong_axis", "softmax normalised over axis 0 (the batch) instead of the classes",
        edits=[
            Replace("softmax", "e = np.exp(z - z.max(axis=-1, keepdims=True))",
                    "e = np.exp(z - z.max(axis=0, keepdims=True))"),
            Replace("softmax", "return e / e.sum(axis=-1, keepdims=True)",
                    "return e / e.sum(axis=0, keepdims=True)"),
        ],
        # everything built on softmax inherits the axis; the single-vector Jacobian does not
        loses={cell: "softmax over axis 0" for cell in
               ["test_softmax", "test_cross_entropy_grad", "test_softmax_vjp", "test_log_softmax_vjp"]},
    ),
    Variant(
        "library_softmax", "softmax is torch.softmax: exercise 1 asks for it by hand; the rest may use it",
        edits=[Rewrite("softmax", LIBRARY_SOFTMAX)],
        loses={"test_softmax": "called torch.softmax"},
    ),
    Variant(
        "autograd_in_forward", "softmax as the autograd gradient of logsumexp: every check that runs it refuses",
        edits=[Rewrite("softmax", AUTOGRAD_SOFTMAX)],
        loses={cell: "called torch autograd" for cell in
               ["test_softmax", "test_cross_entropy_grad", "test_softmax_vjp", "test_log_softmax_vjp",
                "test_softmax_jacobian"]},
    ),
    Variant(
        "nll_per_example", "nll_loss returns the per-example losses, not their mean",
        edits=[Replace("nll", "return -picked.mean()", "return -picked[..., 0]")],
        loses={"test_nll_loss": "per-example losses", "test_cross_entropy": "per-example losses"},
    ),
    Variant(
        "grad_missing_1_over_n", "cross_entropy_grad without the 1/N of the mean",
        edits=[Replace("ce_grad", "return (softmax(z) - onehot) / N", "return softmax(z) - onehot")],
        loses={"test_cross_entropy_grad": "the 1/N of the mean is missing"},
    ),
    Variant(
        "grad_forgot_onehot", "cross_entropy_grad returns softmax(z) / N",
        edits=[Replace("ce_grad", "return (softmax(z) - onehot) / N", "return softmax(z) / N")],
        loses={"test_cross_entropy_grad": "the target's direct part is missing"},
    ),
    Variant(
        "autograd_in_backward", "cross_entropy_grad calls torch autograd",
        edits=[Rewrite("ce_grad", AUTOGRAD_GRAD)],
        loses={"test_cross_entropy_grad": "called torch autograd"},
    ),
    Variant(
        "vjp_naive_exp", "softmax_vjp computes its own exp(z) without the max: nan for huge logits",
        edits=[Replace("vjp", """    p = softmax(z)
    return p * (g - np.sum(g * p, axis=-1, keepdims=True))""", """    e = np.exp(z)
    p = e / e.sum(axis=-1, keepdims=True)
    return p * (g - np.sum(g * p, axis=-1, keepdims=True))""")],
        loses={"test_softmax_vjp": "subtract the max first"},
    ),
    Variant(
        "log_softmax_vjp_transposed", "log_softmax_vjp computes J g, not J^T g: its Jacobian is not symmetric",
        edits=[Replace("vjp", "return g - p * np.sum(g, axis=-1, keepdims=True)",
                       "return g - np.sum(p * g, axis=-1, keepdims=True)")],
        loses={"test_log_softmax_vjp": "used where its transpose belongs"},
    ),
    Variant(
        "staged_fork_missed", "dh without the path through j: 4 of 6 intermediates right",
        edits=[Replace("staged", 'dh = dk / v["j"] + dj', 'dh = dk / v["j"]')],
        loses={"test_staged": "h is used twice"},
    ),
]

# What the partial-credit cell must give each variant that does not lose it all (checked in tests).
STAGED_POINTS = {"staged_fork_missed": 4.0}
