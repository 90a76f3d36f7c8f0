"""Chapter 5's Tensor engine costs like a backward (autograde/cost.py): backward() through a graph
on arrays of thousands of entries, timed against building the graph (the forward pass). An engine
whose steps find their local gradients by perturbing inputs costs a forward pass per entry.
Value is exempt: each of its steps differentiates one number, where a difference quotient costs
no more than the derivative."""

from ...cost import check_costs_like_a_backward
from ...reference import randn
from .common import running
from .tensors import unbroadcast_in_place

GRAPHS = {  # name -> (what it uses, the forward pass on Tensors x, y of shape (n, n))
    "elementwise": ("*, +, exp, tanh and sum", lambda x, y: ((x * y + x.exp()).tanh() * y).sum()),
    "matmul": ("@, tanh and sum", lambda x, y: ((x @ y).tanh() @ y).sum()),
}


def check_tensor_cost(Tensor, graph, seed=0, n=64, namespace=None):
    uses, forward_pass = GRAPHS[graph]
    x, y = randn(seed, n, n, scale=0.5), randn(seed + 1, n, n, scale=0.5)

    def forward():
        return forward_pass(Tensor(x), Tensor(y))

    def backward():
        forward().backward()

    with unbroadcast_in_place(namespace, Tensor), running(f"a graph of {uses} on ({n}, {n}) arrays"):
        check_costs_like_a_backward(f"Tensor.backward() through {uses}", entries=2 * x.size,
                                    forward=forward, backward=backward)
