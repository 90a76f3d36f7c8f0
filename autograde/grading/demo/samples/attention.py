"""Sample submissions for 07_attention, and the Python objects a submission defines."""
from autograde.grading.demo.samples import NUMERICAL_GRADIENT, Replace, Rewrite, Variant
from autograde.grading.demo.samples import definitions as sample_definitions

ASSIGNMENT = "07_attention"
ALL_CELLS = ["test_attention_forward", "test_attention_backward", "test_mha_forward", "test_mha_backward",
             "test_training"]

# Cells that only define things (no training run, no plot): what the unit tests execute.
DEFINITION_CELLS = ["setup", "attention_forward", "attention_backward", "mha", "task", "train"]


def definitions(variant="correct", edits=()):
    """The namespace a submission's definition cells create (see samples.definitions)."""
    return sample_definitions(ASSIGNMENT, DEFINITION_CELLS, variant, edits)


WRITTEN_DIFFERENTLY_FORWARD = '''
def attention_forward(q, k, v, causal=False):
    """float32 throughout, einsum, np.logaddexp.reduce for the log-sum-exp, the mask added as -inf."""
    q, k, v = (np.asarray(a, dtype=np.float32) for a in (q, k, v))
    scores = np.einsum("...td,...sd->...ts", q, k) / np.float32(np.sqrt(q.shape[-1]))
    if causal:
        T = scores.shape[-1]
        scores = scores + np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
    lse = np.logaddexp.reduce(scores, axis=-1)
    out = np.einsum("...ts,...sc->...tc", np.exp(scores - lse[..., None]), v)
    return out, lse
'''

WRITTEN_DIFFERENTLY_BACKWARD = '''
def attention_backward(q, k, v, out, lse, dout, causal=False):
    """float32, einsum, the given softmax_vjp for the softmax, the mask as a multiplication."""
    q, k, v, out, lse, dout = (np.asarray(a, dtype=np.float32) for a in (q, k, v, out, lse, dout))
    scale = np.float32(1 / np.sqrt(q.shape[-1]))
    scores = np.einsum("...td,...sd->...ts", q, k) * scale
    keep = np.tril(np.ones(scores.shape[-2:], dtype=np.float32)) if causal else np.float32(1)
    p = np.exp(np.minimum(scores - lse[..., None], 0)) * keep
    dv = np.einsum("...ts,...tc->...sc", p, dout)
    ds = softmax_vjp(p, np.einsum("...tc,...sc->...ts", dout, v)) * scale
    return np.einsum("...ts,...sd->...td", ds, k), np.einsum("...ts,...td->...sd", ds, q), dv
'''

WRITTEN_DIFFERENTLY_MHA = '''
def split_heads(a, heads):
    return np.stack(np.split(a, heads, axis=-1), axis=1)


def merge_heads(a):
    return np.concatenate(list(np.moveaxis(a, 1, 0)), axis=-1)


def mha_forward(x, Wq, Wk, Wv, Wo, heads, causal=True):
    """One head at a time, with the head's columns of the weights."""
    dh = x.shape[-1] // heads
    outs = []
    for h in range(heads):
        cols = slice(h * dh, (h + 1) * dh)
        out, _ = attention_forward(x @ Wq[:, cols], x @ Wk[:, cols], x @ Wv[:, cols], causal)
        outs.append(out)
    return np.concatenate(outs, axis=-1) @ Wo


def mha_backward(x, Wq, Wk, Wv, Wo, heads, dy, causal=True):
    B, T, D = x.shape
    dh = D // heads
    rows = x.reshape(-1, D)
    saved, outs = [], []
    for h in range(heads):
        cols = slice(h * dh, (h + 1) * dh)
        q, k, v = x @ Wq[:, cols], x @ Wk[:, cols], x @ Wv[:, cols]
        out, lse = attention_forward(q, k, v, causal)
        saved.append((cols, q, k, v, out, lse))
        outs.append(out)
    dWo = np.concatenate(outs, axis=-1).reshape(-1, D).T @ dy.reshape(-1, D)
    dconcat = dy @ Wo.T
    dx = np.zeros(x.shape)
    dWs = [np.zeros(W.shape) for W in (Wq, Wk, Wv)]
    for cols, q, k, v, out, lse in saved:
        grads = attention_backward(q, k, v, out, lse, dconcat[..., cols], causal)
        for W, dW, g in zip((Wq, Wk, Wv), dWs, grads):
            dW[:, cols] += rows.T @ g.reshape(-1, dh)
            dx += g @ W[:, cols].T
    return (dx, *dWs, dWo)
'''

WRITTEN_DIFFERENTLY_TRAIN = '''
def train(rng, seconds=15.0):
    """Adam, batches of 64, 200 steps."""
    start = time.perf_counter()
    params = [rng.normal(0, 0.25, size=(WIDTH, WIDTH)) for _ in range(4)]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    losses = []
    for t in range(1, 201):
        x, targets = copy_task(rng, 64)
        y = mha_forward(x, *params, HEADS)
        loss, dlogits = cross_entropy(y[:, LAG:, :VOCAB], targets)
        dy = np.zeros_like(y)
        dy[:, LAG:, :VOCAB] = dlogits
        for p, g, m1, m2 in zip(params, mha_backward(x, *params, HEADS, dy)[1:], first, second):
            m1[...] = 0.9 * m1 + 0.1 * g
            m2[...] = 0.999 * m2 + 0.001 * g * g
            p -= 0.05 * (m1 / (1 - 0.9 ** t)) / (np.sqrt(m2 / (1 - 0.999 ** t)) + 1e-8)
        losses.append(float(loss))
        if time.perf_counter() - start > seconds:
            break
    return params, np.array(losses)
'''


NUMERICAL_ATTENTION_BACKWARD = NUMERICAL_GRADIENT + '''

def attention_backward(q, k, v, out, lse, dout, causal=False):
    """Right values, a forward pass per input entry."""
    def loss(q, k, v):
        return np.sum(dout * attention_forward(q, k, v, causal)[0])
    return (central_differences(lambda a: loss(a, k, v), q), central_differences(lambda a: loss(q, a, v), k),
            central_differences(lambda a: loss(q, k, a), v))
'''

NUMERICAL_MHA_BACKWARD = '''
def mha_backward(x, Wq, Wk, Wv, Wo, heads, dy, causal=True):
    """Right values, a forward pass per input entry."""
    args = [np.asarray(a, dtype=float) for a in (x, Wq, Wk, Wv, Wo)]

    def nudged(i):
        def loss(a):
            return np.sum(dy * mha_forward(*args[:i], a, *args[i + 1:], heads, causal))
        return loss
    return tuple(central_differences(nudged(i), args[i]) for i in range(5))
'''

AUTOGRAD_BACKWARD = '''
def attention_backward(q, k, v, out, lse, dout, causal=False):
    import torch
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    o = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
    o.backward(torch.as_tensor(dout))
    return tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()
'''

MASKING_IN_BACKWARD = ('''    if causal:  # as in the forward pass: the masked probabilities come out exactly 0
        scores = np.where(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    p = np.exp(scores - lse[..., None])''')

VARIANTS = [
    Variant("correct", "the master's solution"),
    Variant("written_differently", "float32, einsum, logaddexp, the given softmax_vjp, one head at a time, "
            "Adam", edits=[Rewrite("attention_forward", WRITTEN_DIFFERENTLY_FORWARD),
                           Rewrite("attention_backward", WRITTEN_DIFFERENTLY_BACKWARD),
                           Rewrite("mha", WRITTEN_DIFFERENTLY_MHA),
                           Rewrite("train", WRITTEN_DIFFERENTLY_TRAIN)]),
    Variant("blank", "the release as handed out", blank=True,
            loses={cell: "NotImplementedError" for cell in ALL_CELLS}),
    Variant("numerical_gradient", "both backward passes by central differences: right values, the cost of "
            "a forward pass per input entry",
            edits=[Rewrite("attention_backward", NUMERICAL_ATTENTION_BACKWARD),
                   Replace("mha", "def mha_backward(", NUMERICAL_MHA_BACKWARD.strip() + "\n\n\ndef old_mha_backward(")],
            loses={"test_attention_backward": "perturbing the inputs", "test_mha_backward": "perturbing the inputs"}),
    Variant("autograd_in_backward", "attention_backward asks torch autograd",
            edits=[Rewrite("attention_backward", AUTOGRAD_BACKWARD)],
            loses={"test_attention_backward": "called torch autograd"}),
    Variant("no_scale_in_backward", "the 1/sqrt(d) of the scores forgotten in the backward pass",
            edits=[Replace("attention_backward", "ds = p * (dp - row) * scale", "ds = p * (dp - row)")],
            loses={"test_attention_backward": "1/sqrt(d)"}),
    Variant("mask_leak", "the probabilities recomputed without the causal mask",
            edits=[Replace("attention_backward", MASKING_IN_BACKWARD, "    p = np.exp(scores - lse[..., None])")],
            loses={"test_attention_backward": "masked positions"}),
    Variant("dk_transposed", "dk from the score gradient without its transpose",
            edits=[Replace("attention_backward", "dk = np.swapaxes(ds, -1, -2) @ q", "dk = ds @ q")],
            loses={"test_attention_backward": "dk looks transposed"}),
    Variant("no_row_term", "the softmax backward without its row term",
            edits=[Replace("attention_backward", "ds = p * (dp - row) * scale", "ds = p * dp * scale")],
            loses={"test_attention_backward": "row term"}),
    Variant("heads_wrong_axis", "heads split as blocks of positions (a bare reshape)",
            edits=[Replace("mha", "a.reshape(B, T, heads, D // heads).transpose(0, 2, 1, 3)",
                           "a.reshape(B, heads, T, D // heads)"),
                   Replace("mha", "a.transpose(0, 2, 1, 3).reshape(B, T, H * dh)", "a.reshape(B, T, H * dh)")],
            loses={"test_mha_forward": "wrong axis", "test_mha_backward": "wrong axis"}),
    Variant("x_use_dropped", "dx collects the paths through q and k but not through v",
            edits=[Replace("mha", "dx = dx + dproj @ W.T", "dx = dx + dproj @ W.T if W is not Wv else dx")],
            loses={"test_mha_backward": "path through v"}),
    Variant("steps_uphill", "train() adds the momentum instead of subtracting it",
            edits=[Replace("train", "param -= lr * m", "param += lr * m")],
            loses={"test_training": "needed 0.9"}),
    Variant("unstable_softmax", "bad inputs: exp of the raw scores, which overflows on large scores",
            edits=[Replace("attention_forward", "top = scores.max(axis=-1, keepdims=True)",
                           "top = np.zeros(scores.shape[:-1] + (1,))")],
            loses={"test_attention_forward": "overflow"}),
]
