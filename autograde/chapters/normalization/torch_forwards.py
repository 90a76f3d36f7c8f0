"""The forward computations of chapter 6 in torch, float64. Autograd of these is every reference and
every known mistake: a slip in a backward is the exact gradient of a forward that made the matching
change (a statistic detached from the graph, the variance divided by N - 1), so no backward is
written by hand here."""
import torch


def normalize(x, gamma, beta, eps, dim, *, through_mean=True, through_var=True,
              unbiased_value=False, unbiased_slope=False):
    """(x - mean) / sqrt(var + eps) * gamma + beta, statistics over `dim`.

    through_mean / through_var False: that statistic is a constant for autograd (its path forgotten).
    unbiased_value: the forward divides the variance by n - 1.
    unbiased_slope: the forward's value is right but the variance's slope is the one of n - 1.
    """
    n = x.shape[dim]
    mu = x.mean(dim, keepdim=True)
    if not through_mean:
        mu = mu.detach()
    centered = x - mu
    biased = (centered ** 2).sum(dim, keepdim=True) / n
    unbiased = (centered ** 2).sum(dim, keepdim=True) / max(n - 1, 1)
    var = unbiased if unbiased_value else biased
    if unbiased_slope:
        var = biased.detach() + unbiased - unbiased.detach()
    if not through_var:
        var = var.detach()
    y = centered / torch.sqrt(var + eps) * gamma
    return y if beta is None else y + beta


def batchnorm(x, gamma, beta, eps=1e-5, **slip):
    return normalize(x, gamma, beta, eps, 0, **slip)


def layernorm(x, gamma, beta, eps=1e-5, **slip):
    return normalize(x, gamma, beta, eps, -1, **slip)


def rmsnorm(x, gamma, eps=1e-6, *, through_rms=True, no_mean=False):
    """x / sqrt(mean(x**2) + eps) * gamma over the last axis. no_mean: the sum of squares, not the mean."""
    ms = (x ** 2).sum(-1, keepdim=True) if no_mean else (x ** 2).mean(-1, keepdim=True)
    if not through_rms:
        ms = ms.detach()
    return x / torch.sqrt(ms + eps) * gamma


def steps(x, gamma, beta, eps):
    """Batch norm written out one operation a line, as in the notebook's given forward; the
    intermediates by name, then the loss (y weighted by the upstream gradient `w`, added by the caller)."""
    N = x.shape[0]
    mu = x.sum(0, keepdim=True) / N
    centered = x - mu
    squared = centered ** 2
    var = squared.sum(0, keepdim=True) / N
    std = torch.sqrt(var + eps)
    inv_std = 1.0 / std
    z = centered * inv_std
    y = gamma * z + beta
    return dict(mu=mu, centered=centered, squared=squared, var=var, std=std, inv_std=inv_std, z=z, y=y)
