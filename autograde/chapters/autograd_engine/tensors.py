"""Checks of exercises 2 and 3: `unbroadcast`, and the `Tensor` engine over numpy arrays.

A Tensor test case is a small function written once and run twice: on float64 torch tensors (autograd
gives the reference) and on the student's Tensors, with autograd blocked. A result that is not one
number is reduced with (out * G).sum() for a fixed random array G, so out's upstream gradient is G;
each named result's .data and every .grad are compared, the shape before the values.

While Tensor is tested, the grader's unbroadcast stands in for the student's (a mistake there is
test_unbroadcast's to count). Every test reduces with * and sum(), so those come first, by name.
"""
import itertools
from dataclasses import dataclass, field

import numpy as np
import torch

from ...arrays import as_float64
from ...check import check_gradient, check_value
from ..common import reference_pieces
from ...reference import torch_grads
from . import engine
from .common import (
    EngineFailed, agrees, compare, read, reject_grader_code, running, tolerance, verified, with_context,
)

REDUCE = ("  (Every test of the Tensor reduces its result to one number with (out * G).sum(), G a fixed array, "
          "before calling backward(): A.sum() and A * G must work for the others to run.)")
LEADING_ONLY = ("{name} has shape {got}, expected {shape}: unbroadcast summed only the leading axes numpy added, "
                "not the axes of size 1 in `shape` that numpy stretched (axis {axes} of grad). Those are summed "
                "too, keeping them with size 1.")
NO_KEEPDIMS = ("{name} has shape {got}, expected {shape}: the stretched axes were summed away. Keep them with "
               "size 1 (keepdims=True), so the result has exactly `shape`.")


def broadcast_shapes(full):
    """Every shape numpy broadcasts to `full`: leading axes dropped, any of the others set to 1."""
    shapes = []
    for drop in range(len(full) + 1):
        rest = full[drop:]
        for ones in itertools.product((False, True), repeat=len(rest)):
            shape = tuple(1 if one else size for one, size in zip(ones, rest))
            if shape not in shapes:
                shapes.append(shape)
    return shapes


# --- exercise 2: unbroadcast ---------------------------------------------------------------------------

def check_unbroadcast(unbroadcast, seed, full=(2, 3, 4)):
    """unbroadcast(grad, shape) for every shape numpy can broadcast to `full`, against torch's gradient
    of torch.broadcast_to(x, full)."""
    reject_grader_code(unbroadcast, "unbroadcast")
    rng = np.random.default_rng(seed)
    full = tuple(full)
    for shape in broadcast_shapes(full):
        grad = rng.standard_normal(full)
        ref = torch_grads(lambda x: torch.broadcast_to(x, full), {"x": rng.standard_normal(shape)}, upstream=grad)["x"]
        name = f"unbroadcast(grad, {shape}) for grad of shape {full}"
        with running(name):
            got = unbroadcast(grad.copy(), shape)
        got_shape = as_float64(got, name).shape
        leading = len(full) - len(shape)
        stretched = tuple(leading + i for i, size in enumerate(shape) if size == 1 and full[leading + i] != 1)
        if got_shape != shape and stretched and got_shape == full[leading:]:
            raise EngineFailed(LEADING_ONLY.format(name=name, got=got_shape, shape=shape,
                                                   axes=stretched[0] if len(stretched) == 1 else stretched))
        if got_shape != shape and stretched and got_shape == tuple(s for s in shape if s != 1):
            raise EngineFailed(NO_KEEPDIMS.format(name=name, got=got_shape, shape=shape))
        if not agrees(got, ref):
            check_gradient(name, got, ref)
    verified("unbroadcast")


# --- running a Tensor case -----------------------------------------------------------------------------

@dataclass
class Case:
    label: str                    # how it is written: "A + B"
    fn: object                    # fn(**leaves, **consts): a result, or {name: result} in forward order
    leaves: dict                  # name -> array: these become Tensors (torch leaves)
    consts: dict = field(default_factory=dict)  # name -> array or number, passed as they are
    mistakes: object = None       # mistakes(leaves, G) -> {leaf name: {description: wrong gradient}}
    hint: str = ""

    def describe(self):
        parts = [f"{name} of shape {np.shape(v)}" for name, v in {**self.leaves, **self.consts}.items()]
        return f"{self.label}, with " + " and ".join(parts) if parts else self.label


def _named(result):
    return dict(result) if isinstance(result, dict) else {"out": result}


def reference(case, rng):
    leaves = {n: torch.tensor(v, dtype=torch.float64, requires_grad=True) for n, v in case.leaves.items()}
    consts = {n: torch.as_tensor(v, dtype=torch.float64) if isinstance(v, np.ndarray) else v
              for n, v in case.consts.items()}
    result = case.fn(**leaves, **consts)
    named = _named(result)
    last = list(named.values())[-1]
    G = None if isinstance(result, dict) and last.ndim == 0 else rng.standard_normal(last.shape)
    for t in named.values():
        if not t.is_leaf:
            t.retain_grad()
    (last if G is None else (last * torch.as_tensor(G)).sum()).backward()
    values = {n: t.detach().numpy().copy() for n, t in named.items()}
    grads = {n: (np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy().copy())
             for n, t in {**leaves, **named}.items()}
    return values, grads, G


def run_case(Tensor, case, rng):
    values, grads, G = reference(case, rng)  # before any student code runs
    what = f"your Tensor on {case.label}"
    with running(what):
        leaves = {n: Tensor(np.array(v, dtype=np.float64)) for n, v in case.leaves.items()}
        consts = {n: v.copy() if isinstance(v, np.ndarray) else v for n, v in case.consts.items()}
        named = _named(case.fn(**leaves, **consts))
        last = list(named.values())[-1]
        (last if G is None else (last * G.copy()).sum()).backward()
    order = [*leaves, *named]
    nodes = {**leaves, **named}
    names = [f"in `{case.label}`, {n}{{}}" for n in order]
    got_values = [read(nodes[n], "data", n) for n in order]
    got_grads = [read(nodes[n], "grad", n) for n in order]
    ref_values = [np.asarray(case.leaves[n], dtype=float) if n in case.leaves else values[n] for n in order]
    mistakes = case.mistakes(case.leaves, G) if case.mistakes else {}
    root = {len(order) - 1} if G is None else set()
    reduce = "" if G is None else "; then (out * G).sum().backward(), G a fixed random array of out's shape"
    with_context(lambda: compare(names, got_values, got_grads, ref_values, [grads[n] for n in order],
                                 tolerance(list(nodes.values())), skip=root, shared_scale=False,
                                 mistakes={order.index(n): m for n, m in mistakes.items()}),
                 f"  the test: {case.describe()}{reduce}.", case.hint)


def randn(rng, shape, low=None):
    """Standard normal entries; with `low`, their absolute value is at least `low` (for a divisor,
    a log, a ReLU kept away from its kink)."""
    x = rng.standard_normal(shape)
    return x if low is None else np.sign(x + (x == 0)) * (low + np.abs(x))


def check_basics(Tensor, rng, shape):
    x = rng.standard_normal(shape)
    with running(f"Tensor(x) for x of shape {shape}"):
        t = Tensor(x.copy())
    for name, got, expected in ((f"Tensor(x).data for x of shape {shape}", read(t, "data", "Tensor(x)"), x),
                                (f"Tensor(x).grad before any backward(), x of shape {shape}",
                                 read(t, "grad", "Tensor(x)"), np.zeros(shape))):
        if not agrees(got, expected):
            check_value(name, got, expected)
    for case in (Case("A.sum()", lambda A: {"out": A.sum()}, {"A": x}, hint=REDUCE),
                 Case("(A * G).sum()", lambda A, G: {"out": (A * G).sum()}, {"A": x}, {"G": randn(rng, shape)},
                      hint=REDUCE)):
        run_case(Tensor, case, rng)


def unbroadcast_in_place(namespace, Tensor):
    """The grader's unbroadcast in place of the student's while Tensor is tested."""
    return reference_pieces({"unbroadcast": engine.unbroadcast}, Tensor, namespace=namespace)


# --- exercise 3a: elementwise operations, with broadcasting ------------------------------------------------

BINARY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}
UNARY = {"exp": 0.0, "log": 0.3, "relu": 0.05, "tanh": 0.0, "neg": 0.0}  # name -> least |input|
SIGN = "the sign is wrong: the result falls as this operand grows (it is subtracted, or divided by)."


def binary_mistakes(op):
    def mistakes(leaves, G):
        if op not in "-/":
            return {}
        A, B = leaves["A"], leaves["B"]
        dB = engine.unbroadcast(-G if op == "-" else -G * A / B ** 2, B.shape)
        return {"B": {SIGN: -dB}}
    return mistakes


def tanh_mistakes(leaves, G):
    A = leaves["A"]
    return {"A": {"tanh's derivative was taken from the input instead of the output: write it with out.data, "
                  "the values this node computed, not with its input.": (1 - A ** 2) * G}}


def shape_pairs(full):
    shapes = broadcast_shapes(full)
    pairs = [(full, s) for s in shapes] + [(s, full) for s in shapes if s != full]
    both = [(s, t) for s in shapes for t in shapes if s != full and t != full
            and np.broadcast_shapes(s, t) == full]
    return pairs, both


def check_tensor_elementwise(Tensor, seed, full=(2, 3, 4), namespace=None):
    """+ - * / between Tensors of every pair of shapes that broadcast to `full`, with numbers and arrays on
    either side; exp, log, relu, tanh and unary minus."""
    reject_grader_code(Tensor, "Tensor")
    rng = np.random.default_rng(seed)
    full = tuple(full)
    with unbroadcast_in_place(namespace, Tensor):
        check_basics(Tensor, rng, full)
        for name, low in UNARY.items():
            fn = (lambda A: -A) if name == "neg" else (lambda A, name=name: getattr(A, name)())
            x = np.abs(randn(rng, full, low)) if name == "log" else randn(rng, full, low or None)
            run_case(Tensor, Case("-A" if name == "neg" else f"A.{name}()", fn, {"A": x},
                                  mistakes=tanh_mistakes if name == "tanh" else None), rng)
        pairs, both = shape_pairs(full)
        for i, (op, fn) in enumerate(BINARY.items()):
            for sa, sb in pairs + both[i::len(BINARY)]:
                run_case(Tensor, Case(f"A {op} B", lambda A, B, fn=fn: fn(A, B),
                                      {"A": randn(rng, sa), "B": randn(rng, sb, 0.5)},
                                      mistakes=binary_mistakes(op)), rng)
        shapes = broadcast_shapes(full)
        for op, fn in BINARY.items():
            k = round(float(rng.uniform(0.5, 3)), 2)
            small, other = shapes[int(rng.integers(1, len(shapes)))], shapes[int(rng.integers(1, len(shapes)))]
            for label, f, leaves, consts in (
                    (f"A {op} {k}", lambda A, fn=fn, k=k: fn(A, k), {"A": randn(rng, full, 0.5)}, {}),
                    (f"{k} {op} A", lambda A, fn=fn, k=k: fn(k, A), {"A": randn(rng, full, 0.5)}, {}),
                    (f"A {op} C (C an ndarray)", lambda A, C, fn=fn: fn(A, C), {"A": randn(rng, small)},
                     {"C": randn(rng, full, 0.5)}),
                    (f"C {op} A (C an ndarray)", lambda A, C, fn=fn: fn(C, A), {"A": randn(rng, other, 0.5)},
                     {"C": randn(rng, full)})):
                run_case(Tensor, Case(label, f, leaves, consts), rng)
    verified("+", "-", "*", "/", "exp", "log", "relu", "tanh", "broadcasting")


# --- exercise 3b: reductions, shapes, matrix products -------------------------------------------------------

def mean_mistakes(axis, shape):
    count = int(np.prod(shape)) if axis is None else shape[axis]

    def mistakes(leaves, G):
        spread = G if axis is None or G.ndim == len(shape) else np.expand_dims(G, axis)
        return {"A": {f"this is the gradient of the sum: a mean also divides by the number of entries it "
                      f"averages ({count} here), and so does its gradient.": np.broadcast_to(spread, shape)}}
    return mistakes


def check_tensor_reductions(Tensor, seed, shape=(3, 4), namespace=None):
    """sum and mean over every axis, with and without keepdims; reshape, .T and @."""
    reject_grader_code(Tensor, "Tensor")
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    n, m = shape
    with unbroadcast_in_place(namespace, Tensor):
        check_basics(Tensor, rng, shape)
        for method, axis, keepdims in itertools.product(("sum", "mean"), (None, 0, 1, -1), (False, True)):
            fn = (lambda A, method=method, axis=axis, keepdims=keepdims:
                  getattr(A, method)(axis=axis, keepdims=keepdims))
            mistakes = mean_mistakes(axis, shape) if method == "mean" else None
            run_case(Tensor, Case(f"A.{method}(axis={axis}, keepdims={keepdims})", fn, {"A": randn(rng, shape)},
                                  mistakes=mistakes), rng)
        deep = (2, n, m)
        for label, fn in (("A.sum(axis=1)", lambda A: A.sum(axis=1)),
                          ("A.mean(axis=-1, keepdims=True)", lambda A: A.mean(axis=-1, keepdims=True)),
                          ("A.sum(axis=0, keepdims=True)", lambda A: A.sum(axis=0, keepdims=True))):
            run_case(Tensor, Case(label, fn, {"A": randn(rng, deep)}), rng)
        for target in ((m, n), (n * m,), (1, n, m), (-1, 2) if n * m % 2 == 0 else (-1, 1)):
            run_case(Tensor, Case(f"A.reshape{target}", lambda A, t=target: A.reshape(*t), {"A": randn(rng, shape)}),
                     rng)
        run_case(Tensor, Case("A.T", lambda A: A.T, {"A": randn(rng, shape)}), rng)
        p = int(rng.integers(1, 5))
        for sa, sb in (((n, m), (m, p)), ((1, m), (m, 1)), ((m, n), (n, m))):
            run_case(Tensor, Case("A @ B", lambda A, B: A @ B, {"A": randn(rng, sa), "B": randn(rng, sb)}), rng)
        run_case(Tensor, Case("A @ C (C an ndarray)", lambda A, C: A @ C, {"A": randn(rng, shape)},
                              {"C": randn(rng, (m, p))}), rng)
    verified("sum", "mean", "reshape", ".T", "@")


# --- exercise 3c: log_softmax --------------------------------------------------------------------------------

def log_softmax_mistakes(axis):
    def mistakes(leaves, G):
        A = leaves["A"]
        p = np.exp(A - A.max(axis=axis, keepdims=True))
        p /= p.sum(axis=axis, keepdims=True)
        return {"A": {
            "the upstream gradient passed through unchanged: the log of the sum depends on every entry along "
            "the axis too, so it adds a term.": G,
            "the softmax times the upstream gradient entry by entry: the log-sum-exp term sees the sum of the "
            "upstream gradient over the axis, not one entry of it.": G - p * G,
            "summed over every axis: only the entries along `axis` share one log-sum-exp.": G - p * G.sum(),
        }}
    return mistakes


def _default_log_softmax(A):
    """A.log_softmax() with the default axis (torch's own needs it spelled out)."""
    return A.log_softmax(-1) if isinstance(A, torch.Tensor) else A.log_softmax()


def check_log_softmax(Tensor, seed, namespace=None):
    """log_softmax along the last axis and others, 1-D to 3-D, and logits in the thousands."""
    reject_grader_code(Tensor, "Tensor")
    rng = np.random.default_rng(seed)
    with unbroadcast_in_place(namespace, Tensor):
        check_basics(Tensor, rng, (2, 3))
        for shape, axis, scale in (((4, 5), None, 1), ((4, 5), 1, 1), ((4, 5), 0, 1), ((6,), None, 1),
                                   ((2, 3, 4), 1, 1), ((3, 5), None, 1000)):
            label = "A.log_softmax()" if axis is None else f"A.log_softmax(axis={axis})"
            fn = _default_log_softmax if axis is None else (lambda A, axis=axis: A.log_softmax(axis=axis))
            run_case(Tensor, Case(label, fn, {"A": scale * randn(rng, shape)},
                                  mistakes=log_softmax_mistakes(-1 if axis is None else axis)), rng)
    verified("log_softmax")
