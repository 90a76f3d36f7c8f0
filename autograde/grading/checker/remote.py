"""The checker's view of a student's kernel: one request at a time to the kernel's agent
(autograde/agent.py); what comes back is plain data, or a handle that becomes a proxy (proxies.py)
whose every use is again a request.

For each test cell, one execution in the kernel (`serve`) opens a unix socket in the kernel's own
folder; the requests of that cell go over it (multiprocessing.connection's framing). What comes
back is decoded by wire.py (plain data and handles only); an answer that is not one is the
kernel's failure to answer (NoAnswer), never a value. What the student's code printed while
serving is the output of that execution: kept apart (`printed`), shown as the student's own.
"""
import contextlib
import functools
import itertools
import os
import time
import weakref
from multiprocessing.connection import Client
from queue import Empty

import numpy as np

from autograde import wire
from autograde.agent import ASKING, DONE, FUNCTIONS, describe
from autograde.grading.checker.proxies import Remote, raised, remote_type

INSTALL = "import autograde.agent as _agent_module\n__autograde_agent__ = _agent_module.Agent(get_ipython().user_ns)\n" \
          "del _agent_module"
SOCKET = "checker"  # its name in the kernel's folder


class NoAnswer(RuntimeError):
    """The kernel did not answer a request as the agent answers (it died, hung, or lied)."""


class Missing(NameError):
    """The student's kernel has no such name."""


class Channel:
    """Requests to the agent in the kernel `client` (a blocking jupyter_client client) serves, in
    `folder` (the kernel's), each within what is left of `deadline` (time.monotonic()). While the
    kernel serves one, it may ask about the checker's own objects it was handed (`local`)."""

    def __init__(self, client, folder, alive=None):
        self.client, self.folder = client, folder
        self.deadline = None
        self.printed = []
        self.local = {}      # number -> an object of the checker's the kernel may use now
        self.numbers = itertools.count(1)  # never the same number twice: a kept old one names nothing
        self.theirs = wire.TrackedArrays()  # the checker's copies of the kernel's arrays
        self.own = wire.TrackedArrays()  # the checker's arrays the kernel was sent
        self.answering = 0  # how deep in the kernel's questions: a request meanwhile is asked back
        self.proxies = weakref.WeakValueDictionary()  # number -> the proxy of that object of the kernel's
        self.connection = None
        if alive is not None:
            self.alive = alive

    def install(self):
        """Wait until this client hears the kernel's broadcasts (ZeroMQ drops what a subscriber
        misses while it connects: an execution's end would be lost), then start the agent."""
        asked = set()
        while True:
            asked.add(self.client.kernel_info())
            message = self._next(lambda timeout: self.client.get_iopub_msg(timeout=min(timeout, 0.2)))
            if message["parent_header"].get("msg_id") in asked:
                break
        self._finish(self.client.execute(INSTALL, silent=True, store_history=False, allow_stdin=False))

    @contextlib.contextmanager
    def serving_cell(self, deadline):
        """The kernel serves this block's requests (one test cell's), within `deadline`."""
        self.deadline = deadline
        self.printed.clear()
        address = os.path.join(self.folder, SOCKET)
        serve_id = self.client.execute(f"__autograde_agent__.serve({address!r})", silent=True,
                                       store_history=False, allow_stdin=False)
        self.connection = self._connect(address)
        try:
            yield self
        finally:
            self.local.clear()  # what the test handed the student's code is theirs for this cell only
            self.own.clear()
            connection, self.connection = self.connection, None
            try:
                connection.send_bytes(DONE)
            except OSError:
                pass
            connection.close()
        self._finish(serve_id)

    def _connect(self, address):
        while True:
            try:
                return Client(address, family="AF_UNIX")
            except (FileNotFoundError, ConnectionRefusedError):
                pass
            if self.client.shell_channel.msg_ready():  # the execution ended without serving
                raise NoAnswer("the kernel did not serve the test")
            if not self.alive():
                raise NoAnswer("the kernel died")
            if time.monotonic() > self.deadline:
                raise TimeoutError("the kernel did not start serving the test in time")
            time.sleep(0.002)

    def _finish(self, msg_id):
        """Wait for the end of the execution `msg_id`, keeping what it printed."""
        reply = None
        while reply is None:
            message = self._next(self.client.get_shell_msg)
            if message["parent_header"].get("msg_id") == msg_id:
                reply = message["content"]
        while True:
            message = self._next(self.client.get_iopub_msg)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                self.printed.append(str(content.get("text", "")))
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        if reply.get("status") != "ok":
            raise NoAnswer(f"the kernel could not serve the test ({reply.get('ename', 'no reply')})")

    def request(self, **fields):
        if self.connection is None:
            raise RuntimeError("an object of the student's code was used outside a test cell")
        # while the kernel waits for the answer to its question, this request is a question back
        self._send((ASKING if self.answering else b"") + wire.dumps(self.exported(fields)))
        while True:
            message = self._receive()
            if not message.startswith(ASKING):
                break
            self._send(self._answer(message[len(ASKING):]))
        try:
            answer = wire.loads(message)
        except (wire.WireError, RecursionError):
            raise NoAnswer("the kernel's answer was not the agent's") from None
        if not isinstance(answer, dict) or len(answer) != 1 + ("sync" in answer):
            raise NoAnswer("the kernel's answer was not the agent's")
        self.synced(answer.pop("sync", []))
        if "value" in answer:
            return self.imported(answer["value"])
        if "missing" in answer:
            raise Missing(f"name {fields.get('name')!r} is not defined")
        if "raised" in answer and isinstance(answer["raised"], dict):
            raise raised(answer["raised"])
        raise NoAnswer("the kernel's answer was not the agent's")

    @contextlib.contextmanager
    def swapped_in_kernel(self, references):
        """The checker's `references` ({name: function or class}) in place of the notebook's own of
        those names, in the student's kernel, for the block (chapters.common.reference_pieces): the
        student's code then calls them back here."""
        handed = set(self.local)
        self.request(op="swap", names=references)
        try:
            yield
        finally:
            self.request(op="restore")
            for number in set(self.local) - handed:  # a reference the student's code kept answers no more
                del self.local[number]

    def synced(self, changes):
        """Take the kernel's in-place changes to the checker's own arrays."""
        for change in changes if isinstance(changes, list) else ():
            if isinstance(change, wire.Tracked) and change.owner == "checker":
                self.imported(change)

    def _send(self, message):
        try:
            self.connection.send_bytes(message)
        except OSError:
            raise NoAnswer("the kernel closed the test's connection") from None

    def _receive(self):
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the student's code did not finish in time")
            try:
                if self.connection.poll(min(left, 1)):
                    return self.connection.recv_bytes(wire.MAX_BYTES)
            except (OSError, EOFError):
                raise NoAnswer("the kernel closed the test's connection") from None
            if not self.alive():
                raise NoAnswer("the kernel died")

    def _answer(self, message):
        """The answer to the kernel's question about one of the checker's objects."""
        self.answering += 1
        try:
            request = wire.loads(message)
            self.synced(request.get("sync", []))
            target = self.local.get(request["target"].number) if "target" in request else None
            if target is None and request["op"] != "apply":
                raise LookupError("the test's object is no longer available to your code")
            if request["op"] == "call":
                if "name" in request:  # one of its methods, named in its callback
                    target = getattr(target, public_method(target, request["name"]))
                result = target(*self.imported(request["args"]), **self.imported(request["kwargs"]))
            elif request["op"] == "getattr" and not request["name"].startswith("_"):
                result = getattr(target, request["name"])
            elif request["op"] == "setattr" and request["name"] in getattr(type(target), "student_settable", ()):
                result = setattr(target, request["name"], self.imported(request["value"]))  # not the test's records
            elif request["op"] == "apply" and request["function"] in FUNCTIONS:  # an operator
                result = FUNCTIONS[request["function"]](*self.imported(request["args"]))
            else:
                raise ValueError("not a question the checker answers")
            return wire.dumps({"value": self.exported(result)})
        except Exception as error:  # noqa: BLE001 (the student's code gets the error, the test goes on)
            return wire.dumps({"raised": describe(error)})
        finally:
            self.answering -= 1

    def _next(self, get):
        """The next message from `get`, waiting at most until the deadline (TimeoutError), and a
        second at a time, to notice a kernel that died (NoAnswer)."""
        while True:
            left = 3600 if self.deadline is None else self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the student's code did not finish in time")
            try:
                return get(timeout=min(left, 1))
            except Empty:
                if not self.alive():
                    raise NoAnswer("the kernel died") from None

    def alive(self):
        return True

    def exported(self, value):
        """The checker's arguments as wire data: its proxies become the handles they stand for,
        its own objects callbacks (they stay here), torch tensors their numbers."""
        return wire.walk(value, self._exported)

    def _exported(self, value):
        if isinstance(value, Remote):
            return object.__getattribute__(value, "_handle")
        if isinstance(value, np.ndarray) and wire.is_given(value):
            return value
        if isinstance(value, np.ndarray):
            number = self.theirs.number_of(value)
            if number is not None:
                return wire.Tracked(number, value)
            return wire.Tracked(self.own.add(value), value, "checker")
        if type(value).__module__.partition(".")[0] == "torch" and hasattr(value, "detach"):
            return value.detach().numpy()
        if wire.is_plain(value):
            return value
        number = next(self.numbers)
        self.local[number] = value
        kind = "class" if isinstance(value, type) else "callable" if callable(value) else "object"
        name = getattr(value, "__qualname__", None) if kind != "object" else type(value).__name__
        methods = public_methods(type(value)) if kind == "object" else ()
        return wire.Callback(number, kind, name if isinstance(name, str) else kind, methods=methods)

    def imported(self, value):
        """The kernel's data with each handle as a proxy, each callback as the checker's object."""
        return wire.walk(value, self._imported)

    def _imported(self, value):
        if isinstance(value, wire.Callback):
            return self.local[value.number]
        if isinstance(value, wire.Tracked):
            if value.owner == "checker":  # one of the checker's arrays, with the kernel's values
                array = wire.refreshed(self.own.get(value.number), value.array)
                self.own.add(array, value.number)  # the test dropped its own: this one stands for it now
                return array
            copy = wire.refreshed(self.theirs.get(value.number), value.array)  # the same kernel array, the same here
            self.theirs.add(copy, value.number)
            return copy
        if isinstance(value, wire.Handle):  # the same object of the kernel's, the same proxy
            proxy = self.proxies.get(value.number)
            if proxy is None:
                proxy = self.proxies[value.number] = remote_type(value)(self, value)
            return proxy
        return value


@functools.lru_cache(maxsize=256)
def public_methods(cls):
    """The names of a class's public methods (what a check's object offers the student's code)."""
    return tuple(name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name, None)))


def public_method(target, name):
    if not isinstance(name, str) or name not in public_methods(type(target)):
        raise AttributeError(f"the test's {type(target).__name__} has no method {str(name)[:40]!r}")
    return name
