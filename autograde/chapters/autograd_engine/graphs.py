"""Scalar computation graphs written as recipes, so that one graph can be built twice: from the
student's Values and from float64 torch tensors, whose autograd gives every node's reference value
and gradient.

A `Graph` is a list of nodes: leaves (a number each) and operations on earlier nodes, some with a
Python number (`v + 2.5`, `3 / v`, `v ** 2`). Random graphs come in two kinds: trees, where every
node is used once, and DAGs, where nodes are reused (by one operation, `v * v`, or by several).
"""
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Op:
    text: str              # how it is written: {0}, {1} are operands, {k} the number
    apply: object          # apply(*operands, k): on Values and on torch tensors alike
    arity: int = 1         # operands that are nodes
    number: str = ""       # "" (none), "any", "nonzero" or "exponent"
    domain: object = None  # domain(*operand values, k) -> bool: where the op is tested


def _pow_domain(a, k):
    if float(k).is_integer():
        return abs(a) >= 0.4 if k < 0 else abs(a) <= 3
    return a >= 0.3


OPS = {  # the operators that others are often built from come first, so a test names them first
    "mul": Op("{0} * {1}", lambda a, b, k: a * b, 2),
    "add": Op("{0} + {1}", lambda a, b, k: a + b, 2),
    "pow": Op("{0} ** {k}", lambda a, k: a ** k, number="exponent", domain=_pow_domain),
    "neg": Op("-{0}", lambda a, k: -a),
    "exp": Op("{0}.exp()", lambda a, k: a.exp(), domain=lambda a, k: a <= 2.5),
    "log": Op("{0}.log()", lambda a, k: a.log(), domain=lambda a, k: a >= 0.3),
    "tanh": Op("{0}.tanh()", lambda a, k: a.tanh(), domain=lambda a, k: abs(a) <= 3),
    "relu": Op("{0}.relu()", lambda a, k: a.relu(), domain=lambda a, k: abs(a) >= 0.05),
    "sigmoid": Op("{0}.sigmoid()", lambda a, k: a.sigmoid(), domain=lambda a, k: abs(a) <= 4),
    "sub": Op("{0} - {1}", lambda a, b, k: a - b, 2),
    "div": Op("{0} / {1}", lambda a, b, k: a / b, 2, domain=lambda a, b, k: abs(b) >= 0.5),
    "add_k": Op("{0} + {k}", lambda a, k: a + k, number="any"),
    "k_add": Op("{k} + {0}", lambda a, k: k + a, number="any"),
    "sub_k": Op("{0} - {k}", lambda a, k: a - k, number="any"),
    "k_sub": Op("{k} - {0}", lambda a, k: k - a, number="any"),
    "mul_k": Op("{0} * {k}", lambda a, k: a * k, number="nonzero"),
    "k_mul": Op("{k} * {0}", lambda a, k: k * a, number="nonzero"),
    "div_k": Op("{0} / {k}", lambda a, k: a / k, number="nonzero"),
    "k_div": Op("{k} / {0}", lambda a, k: k / a, number="nonzero", domain=lambda a, k: abs(a) >= 0.5),
}
EXPONENTS = (2, 3, -1, -2, 0.5, 1.5)


def draw_number(rng, kind):
    """A Python number for an op that takes one (never a numpy scalar: the student gets a plain number)."""
    if kind == "exponent":
        k = EXPONENTS[rng.integers(len(EXPONENTS))]
        return int(k) if float(k).is_integer() else float(k)
    if kind in ("any", "nonzero"):
        k = round(float(rng.uniform(0.5, 3.0)) * (1 if rng.random() < 0.5 else -1), 2)
        return k
    return None


def torch_scalar(value, grad=False):
    return torch.tensor(float(value), dtype=torch.float64, requires_grad=grad)


class Graph:
    """Nodes in creation order (which is a topological order); the last operation is the root
    unless `root` is set otherwise (a node made after the root is one the root does not depend on)."""

    def __init__(self):
        self.names, self.recipes, self.values = [], [], []  # recipe: None for a leaf, else (op, args, k)
        self.root = None

    def __len__(self):
        return len(self.names)

    def leaf(self, value, name=None):
        return self._add(name or f"x{len(self)}", None, float(value))

    def result(self, op, args, k=None):
        """The value op would compute from these nodes (nan outside its domain)."""
        operands = [self.values[i] for i in args]
        domain = OPS[op].domain
        if domain is not None and not domain(*operands, k):
            return float("nan")
        with torch.no_grad():
            return float(OPS[op].apply(*map(torch_scalar, operands), k))

    def op(self, op, *args, k=None, name=None):
        self.root = self._add(name or f"v{len(self)}", (op, tuple(args), k), self.result(op, args, k))
        return self.root

    def _add(self, name, recipe, value):
        self.names.append(name)
        self.recipes.append(recipe)
        self.values.append(value)
        return len(self) - 1

    def text(self, i):
        if self.recipes[i] is None:
            return f"{self.names[i]} = Value({self.values[i]:.6g})"
        op, args, k = self.recipes[i]
        return f"{self.names[i]} = " + OPS[op].text.format(*(self.names[j] for j in args), k=k)

    def label(self, i):
        """How a node is named in a message, {} standing for .data or .grad: 'v3{} (v3 = v1 * v2)'."""
        return f"{self.names[i]}{{}} ({self.text(i)})"

    def listing(self, indent="    "):
        lines = [indent + self.text(i) for i in range(len(self))]
        lines[self.root] += "    <- the root: backward() is called on it"
        return "\n".join(lines)

    def uses(self, i):
        return sum(args.count(i) for _, args, _ in filter(None, self.recipes))

    def ancestors(self, root=None):
        """The nodes `root` depends on, itself included."""
        root = self.root if root is None else root
        seen, stack = {root}, [root]
        while stack:
            for j in (self.recipes[stack.pop()] or (None, ()))[1]:
                if j not in seen:
                    seen.add(j)
                    stack.append(j)
        return seen

    def run(self, make_leaf, cut=None):
        """Build the graph: make_leaf(number) for each leaf, then every operation in order.
        cut: (node, use) pairs, use counted from 0 in creation order, that get `node.detach()`
        instead of the node (torch only: the gradient does not flow back along that use)."""
        nodes, seen = [], {}
        for value, recipe in zip(self.values, self.recipes):
            if recipe is None:
                nodes.append(make_leaf(value))
                continue
            op, args, k = recipe
            operands = []
            for j in args:
                use = seen[j] = seen.get(j, -1) + 1
                operands.append(nodes[j].detach() if cut and (j, use) in cut else nodes[j])
            nodes.append(OPS[op].apply(*operands, k))
        return nodes

    def reference(self, cut=None):
        """(values, grads) of every node from torch autograd in float64; 0 for nodes the root does not reach."""
        nodes = self.run(lambda value: torch_scalar(value, grad=True), cut)
        for node in nodes:
            if node.requires_grad and not node.is_leaf:
                node.retain_grad()
        nodes[self.root].backward()
        return ([float(node.detach()) for node in nodes],
                [0.0 if node.grad is None else float(node.grad) for node in nodes])

    def use_sites(self, i):
        """The node of every use of node i, in order (a node that uses i twice appears twice)."""
        return [n for n, recipe in enumerate(self.recipes) if recipe for j in recipe[1] if j == i]

    def one_use_grads(self, i):
        """Node i's gradient when only one of its uses reaches it: for each use, in order (what
        overwriting `node.grad = ...` leaves, whichever use ran last)."""
        uses = self.uses(i)
        return [self.reference(cut={(i, u) for u in range(uses) if u != kept})[1][i] for kept in range(uses)]


def fits(value):
    return np.isfinite(value) and abs(value) <= 20


def random_graph(rng, n_ops, ops, *, tree, dangling=False):
    """A random graph of n_ops operations drawn from `ops`, on leaves in [-2, 2].

    tree: every node is used once; else operands are drawn from all earlier nodes (recent ones
    more often, so the graph is deep), with reuse, also within one operation. The nodes nothing
    used are added up into the root. dangling: one more node after the root, which the root does
    not depend on (its gradient must stay 0)."""
    g = Graph()
    for _ in range(max(2, n_ops // 2 if tree else n_ops // 4)):
        g.leaf(rng.uniform(-2, 2))
    free = list(range(len(g)))  # tree: the nodes not used yet
    made = tries = 0
    while made < n_ops and tries < 50 * n_ops:
        tries += 1
        name = ops[rng.integers(len(ops))]
        pool = free if tree else list(range(len(g)))
        if len(pool) < OPS[name].arity:
            continue
        weights = np.arange(1, len(pool) + 1, dtype=float) ** 2
        args = tuple(int(pool[j]) for j in rng.choice(len(pool), size=OPS[name].arity, replace=not tree,
                                                    p=weights / weights.sum()))
        k = draw_number(rng, OPS[name].number)
        if not fits(g.result(name, args, k)) or not _no_cancellation(g, name, args, k):
            continue
        i = g.op(name, *args, k=k)
        if tree:
            for j in args:
                free.remove(j)
            free.append(i)
        made += 1
    unused = [i for i in range(len(g)) if g.uses(i) == 0]
    root = unused[-1]
    for i in reversed(unused[:-1]):
        root = g.op("add", root, i)
    if dangling:
        g.op("mul", int(rng.integers(len(g))), root)
        g.root = root
    return g


def _no_cancellation(g, name, args, k):
    """Keep sums away from near-total cancellation (float32 engines would lose most digits there)."""
    if name not in ("add", "sub", "add_k", "k_add", "sub_k", "k_sub"):
        return True
    parts = [abs(g.values[i]) for i in args] + ([abs(k)] if k is not None else [])
    return abs(g.result(name, args, k)) >= 0.05 * max(parts)
