"""A backward pass must cost like a backward pass.

Reverse mode computes every input's gradient for a small multiple of the forward pass's cost,
whatever the number of inputs: that is the whole point of backpropagation. A numerical gradient
(perturb each input, run the forward again) costs one or two forward passes per input, so on an
input of thousands of entries it takes thousands of forward passes' time. A check times the
student's backward against a forward of the same computation in the same run, on such an input,
and refuses a backward that took far more than backpropagation ever needs:

    check_costs_like_a_backward("batchnorm_backward", entries=x.size,
                                forward=lambda: batchnorm_forward(x, gamma, beta),
                                backward=lambda: batchnorm_backward(dy, cache))

The margin is generous on purpose. Each side is timed at its fastest of several runs (a busy
machine only ever makes a run slower; a backward five limits long is not timed again), an honest
backward may take up to RATIO forward passes plus FLOOR seconds (the calls' own overhead, and the
copies of a few megabytes of arguments that the trusted checker sends to the student's kernel), and the input must be large enough that perturbing every entry would take
many times that. So noise cannot fail an honest solution, and perturbation cannot pass.
"""
import time

from .check import GradientMismatch

RATIO = 40      # an honest backward: a few forward passes' work (numpy's temporaries included)
FLOOR = 0.1     # seconds any backward may take whatever the forward costs (calls, a remote checker's copies)
RUNS = 3        # fastest of this many runs of the backward
FORWARD_RUNS = 10  # ... and of the forward, which is cheap, so that one run of it escapes a busy machine
BEYOND_DOUBT = 5  # a first run this many limits long (half a second or more) is no stall of a busy machine


class TooSlowForABackward(GradientMismatch):
    """The backward took the time of many forward passes: a gradient by perturbation, not by
    the chain rule."""

    default_cause = "specific"


def fastest(run, runs=RUNS, stop_below=0.0, stop_above=float("inf")):
    """The shortest wall time of `runs` calls of run(). Stops early once a run is under
    `stop_below` (an honest backward needs one run) or the fastest is over `stop_above` (a
    perturbation over thousands of inputs need not be waited for three times)."""
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
        if best <= stop_below or best > stop_above:
            break
    return best


def check_costs_like_a_backward(what, *, forward, backward, entries, ratio=RATIO, floor=FLOOR):
    """Raise TooSlowForABackward when backward() took more than `ratio` times forward() plus
    `floor` seconds. `entries` is the number of input entries a perturbation would have to
    vary: the message says how many forward passes' time the backward took against it."""
    forward_time = fastest(forward, runs=FORWARD_RUNS)
    limit = ratio * forward_time + floor
    backward_time = fastest(backward, stop_below=limit, stop_above=BEYOND_DOUBT * limit)
    if backward_time > limit:
        passes = backward_time / max(forward_time, 1e-9)
        raise TooSlowForABackward(
            f"{what} took {backward_time:.2f} s, the time of about {passes:,.0f} forward passes, on an "
            f"input of {entries:,} entries. Backpropagation costs a small multiple of the forward "
            "pass whatever the number of inputs; a gradient found by perturbing the inputs one at a "
            "time costs a forward pass or two per input. Was this gradient computed numerically? "
            "Derive it with the chain rule, reusing what the forward pass computed."
        )
    return backward_time, forward_time
