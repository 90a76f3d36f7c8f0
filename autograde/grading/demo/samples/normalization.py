"""Sample submissions for 06_normalization, and the Python objects a submission defines."""
from autograde.grading.demo.samples import NUMERICAL_GRADIENT, Replace, Rewrite, Variant
from autograde.grading.demo.samples import definitions as sample_definitions

ASSIGNMENT = "06_normalization"
ALL_CELLS = ["test_batchnorm_forward", "test_every_intermediate", "test_batchnorm_backward", "test_layernorm_forward",
             "test_layernorm_backward", "test_rmsnorm_forward", "test_rmsnorm_backward", "test_batchnorm_in_torch"]

DEFINITION_CELLS = ["setup", "batchnorm_forward", "batchnorm_forward_steps", "batchnorm_backward_steps",
                    "batchnorm_backward", "layernorm", "rmsnorm", "batchnorm_function"]


def definitions(variant="correct", edits=()):
    """The namespace a submission's definition cells create (see samples.definitions)."""
    return sample_definitions(ASSIGNMENT, DEFINITION_CELLS, variant, edits)


WRITTEN_DIFFERENTLY_BATCHNORM = '''
def batchnorm_backward(dy, cache):
    # the cache holds x and the statistics; einsum for the reductions; the terms kept apart
    x, mu, var, gamma, eps = cache
    N = x.shape[0]
    inv = (var + eps) ** -0.5
    xc = x - mu
    dbeta = np.einsum("nd->d", dy)
    dgamma = np.einsum("nd,nd->d", dy, xc) * inv
    dz = dy * gamma
    dvar = np.einsum("nd,nd->d", dz, xc) * -0.5 * inv ** 3
    dmu = -np.einsum("nd->d", dz) * inv - 2 * dvar * np.einsum("nd->d", xc) / N
    dx = dz * inv + dvar * 2 * xc / N + dmu / N
    return dx, dgamma, dbeta
'''

WRITTEN_DIFFERENTLY_FORWARD = '''
def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta, (x, mu, var, gamma, eps)
'''

LOOPED_LAYERNORM = '''
def layernorm_forward(x, gamma, beta, eps=1e-5):
    # float32 kept throughout; rows flattened and looped over
    D = x.shape[-1]
    rows = x.reshape(-1, D)
    out = np.empty_like(rows)
    zs, invs = np.empty_like(rows), np.empty((len(rows), 1), dtype=x.dtype)
    for i, row in enumerate(rows):
        m = row.mean()
        inv = 1 / np.sqrt(((row - m) ** 2).mean() + eps)
        zs[i], invs[i] = (row - m) * inv, inv
        out[i] = zs[i] * gamma + beta
    return out.reshape(x.shape), (zs, invs, gamma, x.shape)


def layernorm_backward(dy, cache):
    zs, invs, gamma, shape = cache
    D = shape[-1]
    g = dy.reshape(-1, D)
    dbeta, dgamma = g.sum(0), (g * zs).sum(0)
    dx = np.empty_like(g)
    for i in range(len(g)):
        dz = g[i] * gamma
        dx[i] = invs[i] * (dz - dz.mean() - zs[i] * (dz * zs[i]).mean())
    return dx.reshape(shape), dgamma, dbeta
'''

RMSNORM_FORWARD = '''
def rmsnorm_forward(x, gamma, eps=1e-6):
    inv_rms = 1.0 / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps)
    z = x * inv_rms
    return z * gamma, (z, inv_rms, gamma)
'''

AUTOGRAD_BACKWARD = '''
def rmsnorm_backward(dy, cache):
    import torch
    z, inv_rms, gamma = cache
    x = torch.tensor(z / inv_rms, requires_grad=True)
    g = torch.tensor(gamma, requires_grad=True)
    y = x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-6) * g
    y.backward(torch.as_tensor(dy))
    return x.grad.numpy(), g.grad.numpy()
'''

NUMERICAL_BACKWARD = NUMERICAL_GRADIENT + '''

def batchnorm_backward(dy, cache):
    z, inv_std, gamma = cache
    x = z / inv_std
    beta = np.zeros_like(gamma)
    dx = central_differences(lambda v: (batchnorm_forward(v, gamma, beta)[0] * dy).sum(), x)
    return dx, (dy * z).sum(axis=0), dy.sum(axis=0)
'''

VARIANTS = [
    Variant("correct", "the master's solution"),
    Variant("written_differently", "batch norm's cache of x and statistics with the terms kept apart (einsum); "
            "layer norm in loops over rows",
            edits=[Rewrite("batchnorm_forward", WRITTEN_DIFFERENTLY_FORWARD),
                   Rewrite("batchnorm_backward", WRITTEN_DIFFERENTLY_BATCHNORM),
                   Rewrite("layernorm", LOOPED_LAYERNORM)]),
    Variant("blank", "the release as handed out", blank=True,
            loses={cell: "NotImplementedError" for cell in ALL_CELLS}),
    Variant("unbiased_variance", "batch norm's forward divides the variance by N - 1",
            edits=[Replace("batchnorm_forward", "var = (centered * centered).mean(axis=0)",
                           "var = (centered * centered).sum(axis=0) / (len(x) - 1)")],
            loses={"test_batchnorm_forward": "N - 1", "test_batchnorm_backward": "forward"}),
    Variant("no_eps", "the forward divides by sqrt(var) without eps: NaN on a constant feature",
            edits=[Replace("batchnorm_forward", "np.sqrt(var + eps)", "np.sqrt(var)")],
            loses={"test_batchnorm_forward": "eps is missing", "test_batchnorm_backward": "forward"}),
    Variant("mean_path_forgotten", "dx without the path through the mean",
            edits=[Replace("batchnorm_backward", "dz - dz.mean(axis=0) - z", "dz - z")],
            loses={"test_batchnorm_backward": "path through the mean"}),
    Variant("variance_path_forgotten", "dx without the path through the variance",
            edits=[Replace("batchnorm_backward", " - z * (dz * z).mean(axis=0)", "")],
            loses={"test_batchnorm_backward": "path through the variance"}),
    Variant("dgamma_not_summed", "dgamma and dbeta per example, not summed over the batch",
            edits=[Replace("batchnorm_backward", "dgamma = (dy * z).sum(axis=0)", "dgamma = dy * z")],
            loses={"test_batchnorm_backward": "broadcast"}),
    Variant("steps_x_single_path", "every-intermediate: x gets only the direct path",
            edits=[Replace("batchnorm_backward_steps", 'g["x"] = g["centered"] + g["mu"] / N',
                           'g["x"] = g["centered"].copy()')],
            loses={"test_every_intermediate": "path through mu"}),
    Variant("layernorm_wrong_axis", "layer norm's statistics over axis 0",
            edits=[Replace("layernorm", "mu = x.mean(axis=-1, keepdims=True)", "mu = x.mean(axis=0, keepdims=True)"),
                   Replace("layernorm", "var = (centered * centered).mean(axis=-1, keepdims=True)",
                           "var = (centered * centered).mean(axis=0, keepdims=True)")],
            loses={"test_layernorm_forward": "axis 0", "test_layernorm_backward": "forward"}),
    Variant("layernorm_dgamma_leading_axis", "layer norm's dgamma summed over the first axis only",
            edits=[Replace("layernorm", "dgamma = (dy * z).reshape(-1, D).sum(axis=0)", "dgamma = (dy * z).sum(axis=0)")],
            loses={"test_layernorm_backward": "dgamma"}),
    Variant("rms_path_forgotten", "RMSNorm's dx without the path through the root mean square",
            edits=[Replace("rmsnorm", "dx = inv_rms * (dz - z * (dz * z).mean(axis=-1, keepdims=True))",
                           "dx = inv_rms * dz")],
            loses={"test_rmsnorm_backward": "root mean square"}),
    Variant("autograd_in_backward", "rmsnorm_backward calls torch autograd",
            edits=[Rewrite("rmsnorm", RMSNORM_FORWARD + AUTOGRAD_BACKWARD)],
            loses={"test_rmsnorm_backward": "Autograd is not allowed"}),
    Variant("numerical_backward", "batchnorm_backward by central differences of the forward",
            edits=[Rewrite("batchnorm_backward", NUMERICAL_BACKWARD)],
            loses={"test_batchnorm_backward": "perturbing the inputs"}),
    Variant("function_grads_swapped", "BatchNormFunction.backward returns (dx, dbeta, dgamma)",
            edits=[Replace("batchnorm_function", "for grad in (dx, dgamma, dbeta)", "for grad in (dx, dbeta, dgamma)")],
            loses={"test_batchnorm_in_torch": "each other's place"}),
    Variant("function_returns_numpy", "BatchNormFunction.forward returns the numpy array",
            edits=[Replace("batchnorm_function", "return torch.from_numpy(np.asarray(y))", "return y")],
            loses={"test_batchnorm_in_torch": "returns a torch tensor"}),
]
