"""Chapter 3: the student's whole network against the same network in torch with the same weights,
layer by layer from the loss down, then what joins the layers (Sequential)."""
import numpy as np
import torch.nn.functional as F

from ...arrays import as_float64
from ...check import GradientMismatch, check_gradient, check_value, tolerance_for
from ...guard import by_hand, by_hand_on_copies
from ...reference import retained_grads
from .answers import describe
from .layers import ACTIVATIONS, linear_mistakes, softmax_ce_mistakes

LOOSE = tolerance_for(np.float32)  # the float32 pair: a student's network may well run in float32


class CannotMirror(Exception):
    """The model has a layer without a torch twin here."""


def layer_kind(layer):
    if hasattr(layer, "W") and hasattr(layer, "b"):
        return "linear"
    kind = type(layer).__name__.lower()
    if kind not in ACTIVATIONS:
        raise CannotMirror(f"layer of type {type(layer).__name__} has no torch twin here")
    return kind


def check_network(model, loss_fn, X, y):
    """Every layer's gradients against an equivalent float64 torch model with the same weights, then
    the model as a whole (Sequential's forward, backward and parameters); raises at the first mismatch.

    Walks the layers one at a time from the loss down, so the first failure names the layer at fault.
    Uses the float32 tolerance throughout: a float32 network is fine, and real slips are far outside it.
    """
    if not hasattr(model, "layers"):
        raise CannotMirror("the model has no .layers list")
    layers = list(model.layers)
    kinds = [layer_kind(layer) for layer in layers]
    inputs = dict(h0=as_float64(X), y=np.asarray(y))
    for i, kind in enumerate(kinds):
        if kind == "linear":
            inputs[f"W{i}"], inputs[f"b{i}"] = as_float64(layers[i].W), as_float64(layers[i].b)

    def twin(h0, y, **params):
        named, h = {}, h0
        for i, kind in enumerate(kinds):
            h = F.linear(h, params[f"W{i}"], params[f"b{i}"]) if kind == "linear" else ACTIVATIONS[kind][0](h)
            named[f"h{i + 1}"] = h
        named["loss"] = F.cross_entropy(h, y)
        return named

    values, grads = retained_grads(twin, inputs)
    n, top = len(y), f"h{len(layers)}"
    mistakes = {}  # (layer, what) -> known mistakes, from the reference values only
    for i, kind in enumerate(kinds):
        x_in, upstream = values.get(f"h{i}", inputs["h0"]), grads[f"h{i + 1}"]
        mistakes[i] = linear_mistakes(x_in, inputs[f"W{i}"], upstream) if kind == "linear" \
            else ACTIVATIONS[kind][1](x_in, upstream)

    h = inputs["h0"].copy()
    for layer in layers:
        h = by_hand_on_copies(layer.forward, h)
    check_value("the loss of your network", by_hand_on_copies(loss_fn.forward, h, y), values["loss"], **LOOSE)
    d = by_hand(loss_fn.backward)
    check_gradient(f"dlogits from {type(loss_fn).__name__}.backward()", d, grads[top], batch_size=n,
                   known_mistakes=softmax_ce_mistakes(values[top], y, grads[top]), **LOOSE)
    d = grads[top]  # each layer gets the right upstream gradient, so the first failure is its own
    for i in reversed(range(len(layers))):
        layer, kind, name = layers[i], kinds[i], f"layer {i} ({type(layers[i]).__name__})"
        d = by_hand_on_copies(layer.backward, d)
        if kind == "linear":
            check_gradient(f"{name}.dW", layer.dW, grads[f"W{i}"], batch_size=n, known_mistakes=mistakes[i], **LOOSE)
            check_gradient(f"{name}.db", layer.db, grads[f"b{i}"], batch_size=n, **LOOSE)
        check_gradient(f"{name}: dx returned by backward", d, grads[f"h{i}"], batch_size=n,
                       known_mistakes=mistakes[i], **LOOSE)
        d = grads[f"h{i}"]
    check_whole_model(model, kinds, inputs, values, grads)


def check_whole_model(model, kinds, inputs, values, grads):
    """The model's own forward, backward and parameters(): what joins the layers (Sequential)."""
    top = f"h{len(kinds)}"

    def run(what, function, *args):
        try:
            return by_hand_on_copies(function, *args)
        except Exception as exc:
            raise GradientMismatch(
                f"{what} raised {describe(exc)}\n  Every layer works when called on its own, so look at what "
                "joins them: Sequential.forward runs the layers first to last, Sequential.backward last to "
                "first, each handing its result to the next.") from None

    check_value("model.forward(X) (your Sequential)", run("model.forward(X)", model.forward, inputs["h0"]),
                values[top], **LOOSE)
    dx = run("model.backward(dlogits)", model.backward, grads[top])
    check_gradient("dX from model.backward(dlogits) (your Sequential)", dx, grads["h0"], **LOOSE)
    expected = [grads[f"{p}{i}"] for i, kind in enumerate(kinds) if kind == "linear" for p in "Wb"]
    pairs = list(run("model.parameters()", model.parameters))
    if len(pairs) != len(expected):
        raise GradientMismatch(f"model.parameters() gave {len(pairs)} (parameter, gradient) pairs; the network's "
                               f"Linear layers have {len(expected)} (W and b of each, in layer order).")
    for k, ((_, grad), ref) in enumerate(zip(pairs, expected)):
        check_gradient(f"gradient {k + 1} of {len(expected)} from model.parameters() after model.backward",
                       grad, ref, **LOOSE)
