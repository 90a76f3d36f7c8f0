"""Chapter 2's right answers: torch in float64, with the classes on the last axis and any batch shape."""
import numpy as np
import torch
import torch.nn.functional as F

from ...reference import torch_grads
from ..common import staged_softmax_torch


def as_tensor(x):
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def cross_entropy_torch(z, target):
    """F.cross_entropy with the classes on the last axis and any batch shape (torch wants them on dim 1)."""
    K = z.shape[-1]
    return F.cross_entropy(z.reshape(-1, K), torch.as_tensor(np.asarray(target, dtype=np.int64)).reshape(-1))


def softmax_reference(z):
    return torch.softmax(as_tensor(z), dim=-1).numpy()


def log_softmax_reference(z):
    return torch.log_softmax(as_tensor(z), dim=-1).numpy()


def nll_reference(logp, target):
    K = np.shape(logp)[-1]
    return F.nll_loss(as_tensor(logp).reshape(-1, K), torch.as_tensor(target).reshape(-1)).item()


def cross_entropy_reference(z, target):
    return cross_entropy_torch(as_tensor(z), target).item()


def cross_entropy_grad_reference(z, target):
    return torch_grads(lambda z: cross_entropy_torch(z, target), dict(z=z))["z"]


def vjp_reference(function, z, g):
    """g^T times the Jacobian of function(z, dim=-1) at z, by autograd."""
    return torch_grads(lambda z: function(z, dim=-1), dict(z=z), upstream=g)["z"]


def softmax_jacobian_reference(z):
    return torch.autograd.functional.jacobian(lambda t: torch.softmax(t, dim=-1), as_tensor(z)).numpy()


def staged_torch(z, y):
    """The locked staged_forward of the notebook, in torch (z: (N, K) logits, y: (N,) targets)."""
    h, j, k, l = staged_softmax_torch(z)
    picked = l[torch.arange(z.shape[0]), y]
    loss = picked.mean()
    return dict(h=h, j=j, k=k, l=l, picked=picked, loss=loss)
