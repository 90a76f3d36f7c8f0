"""The checker's requests to a student's kernel (autograde/grading/checker/remote.py, proxies.py, agent.py) with
a real kernel: student functions, classes, methods and operators used from the checker; the
checker's own objects called back from the student's code; errors, prints, lies and hangs."""
import time
from unittest import mock

import numpy as np
import pytest
from jupyter_client.manager import start_new_kernel

from autograde.grading.checker.cells import run_in_checker
from autograde.grading.checker.proxies import Remote, StudentRaised
from autograde.grading.checker.remote import Channel, Missing, NoAnswer

STUDENT = '''
import numpy as np

def double(x):
    return 2 * x

class Node:
    def __init__(self, value):
        self.value = value
    def forward(self, x):
        self.x = x
        return x * self.value
    def __add__(self, other):
        return Node(self.value + (other.value if isinstance(other, Node) else other))
    def __repr__(self):
        return f"Node({self.value})"

def fails(x):
    raise ValueError(f"bad input {x}")

def blank():
    raise NotImplementedError

def noisy(x):
    print("hello from the student")
    return x

def through(f, x):
    return f(x) + 1

def forever():
    while True:
        pass

def derived(x):
    return helper(x)

def helper(x):
    raise NotImplementedError

def stash():
    global kept
    kept = helper
    return 0

def use_kept(x):
    return kept(x)

def lend(box):
    box.grad = 5
    try:
        box.record = "forged"
        refused = None
    except Exception as error:
        refused = type(error).__name__
    return [(box + 1).value, (2 * box).value, (-box).value, box.grad, refused]

def pair(node):
    return [node, node]

def step_each(parameters, lr):
    """sgd_step's shape: update the test's arrays in place, keep none of them."""
    for p, g in parameters():
        p -= lr * g

def nudged_sum(f, x):
    """What a numerical gradient does: change x in place, ask f, put it back."""
    values = []
    for step in (1.0, -1.0):
        x[0] += step
        values.append(f(x))
        x[0] -= step
    return values
'''


@pytest.fixture(scope="module")
def kernel():
    manager, client = start_new_kernel(kernel_name="python3")
    client.execute_interactive(STUDENT, timeout=60)
    yield manager
    client.stop_channels()
    manager.shutdown_kernel(now=True)


@pytest.fixture
def idle(kernel, tmp_path):
    """A channel to the kernel, its agent installed."""
    client = kernel.blocking_client()
    client.start_channels()
    channel = Channel(client, str(tmp_path))
    channel.deadline = time.monotonic() + 30
    channel.install()
    yield channel
    client.stop_channels()


@pytest.fixture
def channel(idle):
    """The kernel serving for the test's length, as for one test cell."""
    with idle.serving_cell(time.monotonic() + 30):
        yield idle


def test_a_student_function_is_called_in_the_kernel_and_answers_an_array(channel):
    double = channel.request(op="global", name="double")
    assert isinstance(double, Remote) and double.__name__ == "double"
    out = double(np.arange(3.0))
    assert isinstance(out, np.ndarray) and out.tolist() == [0.0, 2.0, 4.0]


def test_a_student_class_its_instances_methods_and_operators(channel):
    Node = channel.request(op="global", name="Node")
    node = Node(3.0)
    assert node.forward(np.ones(2)).tolist() == [3.0, 3.0]
    assert node.x.tolist() == [1.0, 1.0]  # state kept in the kernel
    assert repr(node + 1.5) == "Node(4.5)"
    with pytest.raises(TypeError):  # Node has no __radd__: Python's own rule, applied in the kernel
        1.5 + node
    assert (node + node).value == 6.0
    assert node.__module__ == "__main__"  # the student's module, not the checker's


def test_the_students_errors_come_back_as_the_builtin_kind_they_were(channel):
    with pytest.raises(ValueError, match="bad input 7") as caught:
        channel.request(op="global", name="fails")(7)
    assert isinstance(caught.value, StudentRaised) and "fails" in caught.value.student_traceback
    with pytest.raises(NotImplementedError):
        channel.request(op="global", name="blank")()
    with pytest.raises(Missing):
        channel.request(op="global", name="not_defined_anywhere")


def test_the_checkers_own_function_is_called_back_from_the_students_code(channel):
    calls = []

    def reference(x):
        calls.append(x.tolist())
        return x * 10

    out = channel.request(op="global", name="through")(reference, np.array([1.0, 2.0]))
    assert out.tolist() == [11.0, 21.0] and calls == [[1.0, 2.0]]


LIAR = """
from multiprocessing.connection import Listener

class Liar:
    def serve(self, address):
        with Listener(address, family="AF_UNIX") as listener:
            connection = listener.accept()
        connection.recv_bytes()
        connection.send_bytes(b'{"__wire__": "pickle", "data": "gASV"}')
        connection.recv_bytes()

__autograde_agent__ = Liar()
"""


def test_a_kernel_that_answers_something_else_is_no_answer(kernel, idle):
    client = kernel.blocking_client()
    client.start_channels()
    client.execute_interactive(LIAR, timeout=30)
    client.stop_channels()
    with pytest.raises(NoAnswer):
        with idle.serving_cell(time.monotonic() + 30):
            idle.request(op="global", name="double")
    idle.install()  # the real agent again, for the tests after this one


def test_student_code_that_never_returns_runs_out_of_the_tests_time(kernel, idle):
    with pytest.raises(TimeoutError):
        with idle.serving_cell(time.monotonic() + 2):
            idle.request(op="global", name="forever")()
    kernel.interrupt_kernel()


def test_a_test_cell_in_the_checker_prints_confirms_fails_and_scores_as_in_the_kernel(idle):
    names = {"np": np}

    def run(source):
        return run_in_checker(source, names, idle, "<test>", time.monotonic() + 30)

    passed = run("x = double(np.ones(2))\nprint('x =', x)\n")
    assert passed == [{"output_type": "stream", "name": "stdout", "text": "x = [2. 2.]\n"}]
    assert names["x"].tolist() == [2.0, 2.0] and "double" not in names  # the test's names, not the student's
    failed = run("assert double(1) == 3, 'double(1) is wrong'\n")
    assert [o["output_type"] for o in failed] == ["error"] and failed[0]["evalue"] == "double(1) is wrong"
    blank = run("blank()\n")
    assert blank[0]["ename"] == "NotImplementedError"
    assert blank[-1]["data"]["application/vnd.backprop-lab.cause+json"] == {"cause": "not_implemented"}
    assert run("1.5\n") == [{"output_type": "execute_result", "data": {"text/plain": "1.5"}, "metadata": {},
                             "execution_count": None}]
    noisy = run("noisy(1)\n")  # its value is the cell's result, its print the student's own output
    assert noisy[0] == {"output_type": "stream", "name": "stdout",
                        "text": "[printed by your code while the test ran]\nhello from the student\n"}


def test_the_same_array_of_the_kernels_is_the_same_array_in_the_checker_and_goes_back_as_itself(channel):
    Node = channel.request(op="global", name="Node")
    node = Node(2.0)
    node.forward(np.ones(3))
    first, again = node.x, node.x
    assert first is again
    first += 1  # the checker's step on the student's array reaches the kernel when the array goes back
    assert node.forward(first).tolist() == [4.0, 4.0, 4.0] and node.x is first


def test_a_reference_swapped_in_answers_only_while_it_is_swapped_in(channel):
    reference = {"helper": lambda x: x * 3}
    derived, stash, use_kept = (channel.request(op="global", name=n) for n in ("derived", "stash", "use_kept"))
    with channel.swapped_in_kernel(reference):
        assert derived(np.ones(2)).tolist() == [3.0, 3.0]
        stash()  # the student's code keeps the reference for later
    with pytest.raises(NotImplementedError):
        derived(np.ones(2))  # the notebook's own helper again
    with pytest.raises(LookupError, match="no longer available"):
        use_kept(np.ones(2))


def test_the_checkers_array_changed_in_place_by_the_students_code_is_changed_for_the_test_too(channel):
    x = np.zeros(3)

    def f(_):
        return float(x[0])  # reads x itself, through the closure, as the chapter's tests do

    assert channel.request(op="global", name="nudged_sum")(f, x) == [1.0, -1.0]
    assert x.tolist() == [0.0, 0.0, 0.0]  # and put back as the student's code left it


def test_the_tests_arrays_updated_in_place_and_dropped_are_updated_for_the_test(channel):
    a, b = np.zeros(2), np.ones(3)
    channel.request(op="global", name="step_each")(lambda: [(a, np.ones(2)), (b, np.ones(3))], 0.5)
    assert a.tolist() == [-0.5, -0.5] and b.tolist() == [0.5, 0.5, 0.5]


def test_a_students_object_has_a_type_named_as_their_class_in_their_module(channel):
    node = channel.request(op="global", name="Node")(1.0)
    assert isinstance(node, Remote) and type(node).__name__ == "Node" and type(node).__module__ == "__main__"


def test_the_same_object_of_the_kernels_is_the_same_proxy(channel):
    node = channel.request(op="global", name="Node")(1.0)
    first, second = channel.request(op="global", name="pair")(node)
    assert first is second is node  # a topological order's `order[-1] is root` holds in the checker too


def test_the_tests_callback_may_use_the_students_objects_while_their_code_waits(channel):
    """Nested both ways: the student's code calls the test's function, which calls the student's."""
    double = channel.request(op="global", name="double")
    assert channel.request(op="global", name="through")(lambda v: float(double(v)), 2.0) == 5.0


def test_a_test_may_count_the_calls_of_a_students_method(channel):
    """What chapter 5's training test does to Tensor.backward: the test's function in place of the
    student's method, binding to the instance, calling the original back in the kernel."""
    Node = channel.request(op="global", name="Node")
    calls = []
    original = Node.forward

    def counted(self, x):
        calls.append(self)
        return original(self, x)

    node = Node(3.0)
    with mock.patch.object(Node, "forward", counted):
        assert channel.request(op="global", name="through")(node.forward, 1.0) == 4.0
    assert calls == [node]
    node.forward(1.0)
    assert len(calls) == 1  # the student's own method is back


class Box:
    """A test's object lent to the student's code (as chapter 5 lends its Tensor)."""
    student_settable = ("grad",)

    def __init__(self, value):
        self.value, self.grad, self.record = value, 0, "kept"

    def __add__(self, other):
        return Box(self.value + (other.value if isinstance(other, Box) else other))

    def __rmul__(self, other):
        return Box(other * self.value)

    def __neg__(self):
        return Box(-self.value)


def test_the_students_code_uses_a_tests_object_with_operators_and_sets_only_what_it_may(channel):
    box = Box(3.0)
    assert channel.request(op="global", name="lend")(box) == [4.0, 6.0, -3.0, 5, "ValueError"]
    assert box.grad == 5 and box.record == "kept"  # the test's own records are not the student's to set


def test_an_array_given_to_the_students_code_is_theirs_and_not_tracked(channel):
    from autograde import wire
    data = wire.given(np.zeros(3))
    assert channel.request(op="global", name="nudged_sum")(lambda v: 0.0, data) == [0.0, 0.0]
    assert not channel.own.arrays  # sent as plain numbers: nothing to look for changes in
    tracked = np.zeros(3)
    channel.request(op="global", name="nudged_sum")(lambda v: 0.0, tracked)
    assert list(channel.own.arrays.values())[0] is tracked
