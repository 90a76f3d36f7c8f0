"""One training epoch on the digits: chapter 3's numpy network against the same network in torch.

    python tests/benchmarks/bench_mlp_epoch.py [--repeats 30]

Not a test (pytest does not collect it): the figures depend on the machine. Both networks are
64-32-10 with a ReLU, start from the same weights and see the same mini-batches (32 rows,
learning rate 0.1, float64), so they do the same arithmetic; the script checks that they end
with the same weights. The numpy network is the master notebook's own solution code; the torch
one is nn.Linear + autograd + torch.optim.SGD. A torch float32 run is shown for reference.
"""
import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from autograde.chapters.mlp_backprop import digits_split
from autograde.grading.demo.samples.mlp_backprop import definitions

HIDDEN, BATCH_SIZE, LR = 32, 32, 0.1


def numpy_epoch(ns, model, X, y, order):
    loss_fn = ns["SoftmaxCrossEntropy"]()
    for start in range(0, len(X), BATCH_SIZE):
        batch = order[start:start + BATCH_SIZE]
        loss_fn.forward(model.forward(X[batch]), y[batch])
        model.backward(loss_fn.backward())
        ns["sgd_step"](model, LR)


def torch_epoch(model, optimizer, X, y, order):
    for start in range(0, len(X), BATCH_SIZE):
        batch = order[start:start + BATCH_SIZE]
        optimizer.zero_grad()
        F.cross_entropy(model(X[batch]), y[batch]).backward()
        optimizer.step()


def torch_twin(numpy_model, dtype):
    """nn.Sequential with the numpy model's current weights."""
    first, last = numpy_model.layers[0], numpy_model.layers[2]
    model = torch.nn.Sequential(torch.nn.Linear(64, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 10)).to(dtype)
    with torch.no_grad():
        for mine, theirs in ((first, model[0]), (last, model[2])):
            theirs.weight.copy_(torch.as_tensor(mine.W))
            theirs.bias.copy_(torch.as_tensor(mine.b))
    return model


def median_seconds_per_epoch(runs, orders):
    """{name: median seconds} for each run(order); the runs take turns, so that a busy machine
    slows them alike."""
    for run in runs.values():
        run(orders[0])  # warm-up: first-call overheads are not what we measure
    times = {name: [] for name in runs}
    for order in orders:
        for name, run in runs.items():
            start = time.perf_counter()
            run(order)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="epochs timed per network (median is shown)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    ns = definitions("correct")
    X_train, _, y_train, _ = digits_split()
    rng = np.random.default_rng(0)
    orders = [rng.permutation(len(X_train)) for _ in range(args.repeats)]

    numpy_model = ns["Sequential"](ns["Linear"](64, HIDDEN, rng), ns["ReLU"](), ns["Linear"](HIDDEN, 10, rng))
    twins = {dtype: torch_twin(numpy_model, dtype) for dtype in (torch.float64, torch.float32)}

    # Same start, same batches: after one epoch both float64 networks hold the same weights.
    numpy_epoch(ns, numpy_model, X_train, y_train, orders[0])
    check = twins[torch.float64]
    X64, y_t = torch.as_tensor(X_train), torch.as_tensor(y_train)
    torch_epoch(check, torch.optim.SGD(check.parameters(), lr=LR), X64, y_t, orders[0])
    same = np.allclose(check[0].weight.detach().numpy(), numpy_model.layers[0].W, rtol=1e-9, atol=1e-12)

    optimizers = {dtype: torch.optim.SGD(model.parameters(), lr=LR) for dtype, model in twins.items()}
    X32 = X64.float()
    seconds = median_seconds_per_epoch({
        "numpy": lambda order: numpy_epoch(ns, numpy_model, X_train, y_train, order),
        "torch64": lambda order: torch_epoch(twins[torch.float64], optimizers[torch.float64], X64, y_t, order),
        "torch32": lambda order: torch_epoch(twins[torch.float32], optimizers[torch.float32], X32, y_t, order),
    }, orders)

    steps = -(-len(X_train) // BATCH_SIZE)
    print(f"one epoch = {steps} SGD steps of {BATCH_SIZE} rows, 64-{HIDDEN}-10 MLP with ReLU; "
          f"median of {args.repeats} epochs; torch threads: {torch.get_num_threads()}")
    print(f"same weights after one epoch (numpy vs torch float64): {same}")
    print(f"numpy float64 (chapter 3 reference): {1e3 * seconds['numpy']:7.1f} ms/epoch")
    print(f"torch float64 autograd             : {1e3 * seconds['torch64']:7.1f} ms/epoch")
    print(f"torch float32 autograd             : {1e3 * seconds['torch32']:7.1f} ms/epoch")
    print(f"ratio torch float64 / numpy        : {seconds['torch64'] / seconds['numpy']:7.2f}  "
          "(above 1: numpy is faster)")


if __name__ == "__main__":
    main()
