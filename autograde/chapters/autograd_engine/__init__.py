"""Checks for chapter 5: an autograd engine of your own (a scalar Value, then a Tensor over numpy
arrays), then a network trained on it. The notebook's hidden tests call these:

    check_value_ops, check_value_graphs, check_topological_order, check_deep_graph   (scalar.py)
    check_unbroadcast, check_tensor_elementwise, check_tensor_reductions, check_log_softmax   (tensors.py)
    check_tensor_graphs, check_train_mlp   (training.py)
    check_tensor_cost   (costs.py)

Every reference is torch autograd in float64, computed before the student's code runs; that code
runs with autograd blocked. Each test grades one exercise: where a later exercise builds on an
earlier one, the grader's version of the earlier one stands in (engine.py), or the graphs leave out
what the earlier test found broken, so that one mistake costs the points of one test.
"""
from .costs import check_tensor_cost  # noqa: F401
from .scalar import check_deep_graph, check_topological_order, check_value_graphs, check_value_ops  # noqa: F401
from .tensors import (  # noqa: F401
    check_log_softmax, check_tensor_elementwise, check_tensor_reductions, check_unbroadcast,
)
from .training import check_tensor_graphs, check_train_mlp  # noqa: F401
