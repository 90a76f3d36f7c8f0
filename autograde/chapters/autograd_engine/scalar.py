"""Checks of exercise 1: the scalar engine, `Value` and `topological_order`.

Each graph is built twice from one recipe (graphs.Graph): from float64 torch tensors, whose autograd
gives every node's value and gradient, and from the student's Values, with autograd blocked. Every
node's .data is compared, then every .grad from the root down, so the first wrong gradient named is
where the backward pass first went wrong; the message lists the graph.

Which test sees which mistake, so that one mistake costs the points of one test:
* check_value_ops: each operator on its own, with an upstream gradient other than 1, then random
  trees (no value used twice, no deep chain): local derivatives, numbers on either side.
* check_value_graphs: reuse. It first finds which operators work on their own and builds its graphs
  from those only (a broken operator is check_value_ops' to count). Then: a short chain (the steps
  must run from the root down), a leaf used twice (only overwriting `=` instead of `+=` makes those
  wrong: a leaf passes nothing on, so the order cannot matter), a diamond (an intermediate used
  twice: only the order makes those wrong, once leaves pass), then random DAGs.
* check_topological_order: the order itself, on small DAGs.
* check_deep_graph: a chain of 5,000 operations, + and * only (recursion is what it finds).
"""
import numpy as np
import torch

from ...check import check_gradient, check_value
from .common import (
    DEEP, EngineFailed, agrees, compare, read, reject_grader_code, running, tolerance, verified, with_context,
)
from .graphs import OPS, Graph, draw_number, random_graph, torch_scalar

ACCUMULATE = ("{name} is used {n} times here, and its gradient is the sum over all its uses{only}: a backward step "
              "must add its share (accumulate into .grad with `+=`), never overwrite it with `=`.")
ORDER = ("  likely cause: {name} feeds two operations, one of which also depends on the other (a diamond). "
         "A node may pass its gradient on only once every node that uses it has added its share: run the "
         "backward steps in reverse topological order (the root first, every node after all the nodes that "
         "use it), each node once.")
SYMBOLS = {"mul": "*", "add": "+", "pow": "**", "neg": "unary -", "sub": "-", "div": "/", "add_k": "+",
           "k_add": "+", "sub_k": "-", "k_sub": "-", "mul_k": "*", "k_mul": "*", "div_k": "/", "k_div": "/",
           "exp": "exp", "log": "log", "tanh": "tanh", "relu": "relu", "sigmoid": "sigmoid"}
BASICS = ("  (The graphs of this test are built from + and *, so a * b and a + b must work on their own first: "
          "see the test of the operators.)")
CHAIN = ("  likely cause: the backward steps ran in the wrong order. Each node's step passes on the gradient it "
         "holds at that moment, so it must run after the steps of the nodes that use it: go through "
         "topological_order(root) from the root backwards.")


# --- running a graph ----------------------------------------------------------------------------

def build(graph, Value, what):
    """The graph from the student's Values, backward() called on the root; (nodes, values, grads)."""
    with running(f"your Value on {what}"):
        nodes = graph.run(Value)
        nodes[graph.root].backward()
    return (nodes, [read(n, "data", graph.names[i]) for i, n in enumerate(nodes)],
            [read(n, "grad", graph.names[i]) for i, n in enumerate(nodes)])


def check_graph(graph, Value, what, hint="", mistakes=None):
    """hint: a line added to the failure message, unless a known mistake with the same advice matched."""
    ref_values, ref_grads = graph.reference()  # before any student code runs
    nodes, values, grads = build(graph, Value, what)
    names = [graph.label(i) for i in range(len(graph))]
    with_context(lambda: compare(names, values, grads, ref_values, ref_grads, tolerance(nodes),
                                 mistakes=mistakes, skip={graph.root}),
                 f"  the graph ({what}):\n{graph.listing()}", hint, unless={hint: "with `+=`"})


def passes(graph, Value):
    try:
        check_graph(graph, Value, "a probe")
        return True
    except Exception:  # noqa: BLE001 (whatever goes wrong, the operator does not work on its own)
        return False


# --- each operator on its own --------------------------------------------------------------------

def operands(rng, op):
    """Values for the operands (and the number) of `op`, inside its domain."""
    for _ in range(1000):
        xs = [float(rng.uniform(0.3, 2.0)) * (1 if rng.random() < 0.6 else -1) for _ in range(OPS[op].arity)]
        k = draw_number(rng, OPS[op].number)
        g = Graph()
        args = [g.leaf(x) for x in xs]
        if np.isfinite(g.result(op, args, k)):
            return xs, k
    raise RuntimeError(f"no inputs found for {op}")  # the grader's own bug


def op_probe(rng, op, upstream=True):
    """out = op(a[, b]) on its own, then multiplied by a leaf c, so that out's upstream gradient is c."""
    xs, k = operands(rng, op)
    g = Graph()
    args = [g.leaf(x, name) for x, name in zip(xs, "ab")]
    out = g.op(op, *args, k=k, name="out")
    if upstream:
        g.op("mul", out, g.leaf(rng.uniform(1.5, 3.0) * (1 if rng.random() < 0.5 else -1), "c"), name="top")
    return g


def slips(g, op):
    """{node index: {description: gradient}}: the typical wrong local derivatives of `op` in op_probe."""
    _, args, k = g.recipes[OPS[op].arity]  # the leaves come first, then out
    xs = [g.values[i] for i in args]
    up = g.values[g.names.index("c")] if "c" in g.names else 1.0
    _, ref_grads = g.reference()
    found = {i: {} for i in args}
    if up != 1.0:
        for i in args:
            found[i][f"the local derivative alone: it must be multiplied by the upstream gradient out.grad "
                     f"(here {up:.4g}), the chain rule's second factor."] = ref_grads[i] / up
    a = args[0]
    sign = "the sign is wrong: the result falls as this operand grows (it is subtracted, or divided by)."
    if op == "mul":
        own = "each factor got its own value as its gradient: in a * b, {}'s local derivative comes from {}."
        found[a][own.format("a", "b")] = xs[0] * up
        found[args[1]][own.format("b", "a")] = xs[1] * up
    if op in ("sub", "div"):
        found[args[1]][sign] = -ref_grads[args[1]]
    if op in ("k_sub", "k_div"):
        found[a][sign] = -ref_grads[a]
    if op == "pow":
        found[a][f"the local derivative of a ** n is missing its factor n (here n = {k})."] = xs[0] ** (k - 1) * up
    if op in ("tanh", "sigmoid"):
        found[a][f"{op}'s derivative was taken from the input instead of the output: write it with "
                 f"out.data, the value this node computed, not with a."] = \
            ((1 - xs[0] ** 2) if op == "tanh" else xs[0] * (1 - xs[0])) * up
    return found


def check_fresh(Value, rng):
    x = float(rng.uniform(-3, 3))
    with running(f"Value({x:.6g})"):
        v = Value(x)
        whole = Value(3)
    for name, got, expected in ((f"Value({x:.6g}).data", read(v, "data", "a new Value"), x),
                                (f"Value({x:.6g}).grad before any backward()", read(v, "grad", "a new Value"), 0.0),
                                ("Value(3).data", read(whole, "data", "Value(3)"), 3.0)):
        if not agrees(got, expected):
            check_value(name, got, expected)


def check_value_ops(Value, seed):
    """Each operator on its own (forward value, both operands' gradients), then random trees."""
    reject_grader_code(Value, "Value")
    rng = np.random.default_rng(seed)
    check_fresh(Value, rng)
    first = op_probe(rng, "mul", upstream=False)
    check_graph(first, Value, "a * b on its own", mistakes=slips(first, "mul"))
    check_graph(chain(rng), Value, "a chain, out = ((a * b) + c) * d", CHAIN)
    for op in OPS:
        g = op_probe(rng, op)
        check_graph(g, Value, f"{OPS[op].text.format('a', 'b', k='k')} on its own", mistakes=slips(g, op))
    for size in (4, 10, 16):
        check_graph(random_graph(rng, size, list(OPS), tree=True), Value,
                    "a random expression tree: no value is used twice")
    verified(*dict.fromkeys(SYMBOLS[op] for op in OPS))


# --- reuse, diamonds, random DAGs ---------------------------------------------------------------

def working_ops(Value, rng):
    """The operators whose probe (op on its own, times a leaf) passes."""
    return [op for op in OPS if passes(op_probe(rng, op), Value)]


def chain(rng):
    g = Graph()
    a, b, c, d = (g.leaf(rng.uniform(0.5, 2) * s, n) for s, n in zip((1, -1, 1, -1), "abcd"))
    g.op("mul", g.op("add", g.op("mul", a, b, name="p"), c, name="q"), d, name="out")
    return g


def reuse_probes(rng, ops):
    """A leaf `a` used twice, by one operation or by two, for every operator that works."""
    probes = []
    for op in ops:
        for _ in range(100):
            g = Graph()
            xs, k = operands(rng, op)
            a = g.leaf(xs[0], "a")
            args = (a, a) if OPS[op].arity == 2 else (a,)
            if np.isfinite(g.result(op, args, k)):
                if OPS[op].arity == 2:
                    g.op(op, a, a, name="out")
                else:
                    g.op("mul", g.op(op, a, k=k, name="u"), a, name="out")
                probes.append(g)
                break
    g = Graph()
    a, b = g.leaf(rng.uniform(0.5, 2), "a"), g.leaf(-rng.uniform(0.5, 2), "b")
    g.op("add", g.op("mul", a, b, name="p"), a, name="out")
    return probes + [g]


def diamonds(rng, ops):
    """b = a * c used twice: by u = f(b) and by out = u * b (paths of different lengths), for every
    working f of one Value; then b used four times at three depths."""
    probes = []
    for op in [op for op in ops if OPS[op].arity == 1]:
        for _ in range(100):
            g = Graph()
            a, c = g.leaf(rng.uniform(0.6, 1.5), "a"), g.leaf(rng.uniform(0.6, 1.5), "c")
            b = g.op("mul", a, c, name="b")
            k = draw_number(rng, OPS[op].number)
            if np.isfinite(g.result(op, (b,), k)):
                g.op("mul", g.op(op, b, k=k, name="u"), b, name="out")
                probes.append(g)
                break
    g = Graph()
    a, c = g.leaf(rng.uniform(0.5, 1), "a"), g.leaf(rng.uniform(0.5, 1), "c")
    b = g.op("add", a, c, name="b")
    e = g.op("mul", b, b, name="e")
    f = g.op("mul", e, b, name="f")
    g.op("add", f, b, name="out")
    return probes + [g]


def check_value_graphs(Value, seed):
    """Gradients where values are reused: leaves used twice, diamonds, random DAGs."""
    reject_grader_code(Value, "Value")
    rng = np.random.default_rng(seed)
    for op in ("mul", "add"):
        check_graph(op_probe(rng, op, upstream=False), Value, f"{OPS[op].text.format('a', 'b')} on its own", BASICS)
    check_graph(chain(rng), Value, "a chain, out = ((a * b) + c) * d", CHAIN)
    ops = working_ops(Value, rng)
    left_out = [OPS[op].text.format("a", "b", k="k") for op in OPS if op not in ops]
    if not ops:  # points for testing nothing would be silent points
        raise EngineFailed("none of the graphs with reused values could be tested: every operator is wrong on its "
                           "own (see the test of the operators); fix `a + b` and `a * b` first.")
    if left_out:
        print(f"(left out of these graphs, because they are wrong on their own; see the test of the operators: "
              f"{', '.join(left_out)})")
    for g in reuse_probes(rng, ops):
        a = g.names.index("a")
        sites, n = g.use_sites(a), g.uses(a)
        one_use = {ACCUMULATE.format(name="a", n=n, only=f", but only its use in `{g.text(site)}` reached a.grad"): grad
                   for site, grad in zip(sites, g.one_use_grads(a))}
        check_graph(g, Value, "a value used twice", "  likely cause: " + ACCUMULATE.format(name="a", n=n, only=""),
                    mistakes={a: one_use})
    for g in diamonds(rng, ops):
        check_graph(g, Value, "a diamond", ORDER.format(name="b"))
    for size in (8, 20, 40):
        check_graph(random_graph(rng, size, ops, tree=False, dangling=True), Value,
                    "a random graph with reused values; the last node is not used by the root")
    verified("reused values", "diamonds", "random graphs")


# --- the order itself ----------------------------------------------------------------------------

def check_topological_order(Value, topological_order, seed):
    """topological_order(root) on small graphs: every node the root depends on, once each, every node
    after its inputs, the root last; nothing the root does not depend on."""
    reject_grader_code(topological_order, "topological_order")
    rng = np.random.default_rng(seed)
    lone = Graph()
    lone.root = lone.leaf(rng.uniform(-1, 1), "x")
    graphs = [lone, chain(rng), diamonds(rng, [])[-1]]
    graphs += [random_graph(rng, n, ["add", "mul", "exp", "tanh", "relu", "sigmoid", "neg", "sub"], tree=False,
                            dangling=True) for n in (6, 15, 30)]
    for g in graphs:
        with running("topological_order(root)"):
            nodes = g.run(Value)
            order = topological_order(nodes[g.root])
        with_context(lambda: check_order(g, nodes, order), f"  the graph:\n{g.listing()}")
    verified("topological_order", gradient=False)


def check_order(g, nodes, order):
    if order is None:
        raise EngineFailed("topological_order(root) returned None: return the list of Values.")
    try:
        order = list(order)
    except TypeError:
        raise EngineFailed(f"topological_order(root) should return a list of Values, got {type(order).__name__}.") \
            from None
    position = {}
    for i, node in enumerate(order):
        if id(node) in position:
            mine = [j for j in range(len(g)) if nodes[j] is node]
            what = g.label(mine[0]).format("") if mine else f"a Value your engine made ({node!r})"
            raise EngineFailed(f"{what} appears more than once in topological_order(root): every node once "
                               "(remember which nodes were visited already).")
        position[id(node)] = i
    root = nodes[g.root]
    if not order or order[-1] is not root:
        reversed_ = bool(order) and order[0] is root
        raise EngineFailed("topological_order(root) must end with the root"
                           + (": this order starts with it, so it is reversed (every node must come after the "
                              "nodes it was computed from)." if reversed_ else "."))
    depends = g.ancestors()
    for i in range(len(g)):
        node = g.label(i).format("")
        if i in depends and id(nodes[i]) not in position:
            raise EngineFailed(f"{node} is missing from topological_order(root), and the root depends on it.")
        if i not in depends and id(nodes[i]) in position:
            raise EngineFailed(f"{node} is in topological_order(root), but the root does not depend on it.")
    for i in depends:
        for j in (g.recipes[i] or (None, ()))[1]:
            if position[id(nodes[j])] > position[id(nodes[i])]:
                raise EngineFailed(f"{g.label(i).format('')} comes before {g.names[j]} in topological_order(root): "
                                   "every node must come after the nodes it was computed from.")


# --- a deep chain ----------------------------------------------------------------------------------

def check_deep_graph(Value, topological_order, seed, length=DEEP):
    """y = x, then y = y * c_i + w_i: `length` operations (c_i numbers near 1, w_i fresh leaves)."""
    rng = np.random.default_rng(seed)
    steps = length // 2
    x0, cs, ws = float(rng.uniform(0.5, 1)), rng.uniform(0.999, 1.001, steps), 0.1 * rng.standard_normal(steps)
    x, w = torch_scalar(x0, grad=True), torch.tensor(ws, requires_grad=True)
    y = x
    for i in range(steps):
        y = y * float(cs[i]) + w[i]
    y.backward()
    ref_x, ref_w = float(x.grad), w.grad.numpy().copy()
    what = f"a chain of {length:,} operations, y = y * c + w"
    with running(what):
        vx = Value(x0)
        vw = [Value(float(v)) for v in ws]
        vy = vx
        for i in range(steps):
            vy = vy * float(cs[i]) + vw[i]
        order = topological_order(vy)
        vy.backward()
    try:
        order = list(order)
    except TypeError:
        raise EngineFailed(f"topological_order(root) should return a list of Values, got {type(order).__name__}.") \
            from None
    if not order or order[-1] is not vy:
        raise EngineFailed(f"on {what}, topological_order(root) does not end with the root.")
    found = {id(node) for node in order}
    missing = sum(id(node) not in found for node in [vx, *vw])
    if missing:
        raise EngineFailed(f"on {what}, topological_order(root) misses {missing} of the {steps + 1} leaves.")
    tol = tolerance([vx, vy])
    for name, got, expected in ((f"x.grad on {what}", read(vx, "grad", "x"), ref_x),
                                (f"the gradients of the {steps:,} leaves w on {what}",
                                 np.array([read(v, "grad", "a leaf w") for v in vw], dtype=float), ref_w)):
        if not agrees(got, expected, **tol):
            check_gradient(name, got, expected, **tol)
    verified(f"a chain of {length:,} operations")
