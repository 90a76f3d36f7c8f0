"""The checker's view of a student's kernel: one request at a time to the kernel's agent
(autograde/agent.py) over the kernel's own execute channel, and proxies that turn a test's use of
a student's name, function, class or object into such requests.

What comes back is decoded by wire.py (plain data and handles only); an answer that is not one is
the kernel's failure to answer (NoAnswer), never a value. What the student's code printed while
serving a request is kept apart (`printed`), to be shown as the student's own output.
"""
import ast
import builtins
import time
from queue import Empty

from autograde import wire

INSTALL = "import autograde.agent as _agent_module\n__autograde_agent__ = _agent_module.Agent(get_ipython().user_ns)\n" \
          "del _agent_module"
READ_REPLY = {"reply": "__autograde_agent__.reply"}


class NoAnswer(RuntimeError):
    """The kernel did not answer a request as the agent answers (it died, hung, or lied)."""


class StudentRaised(Exception):
    """Base of the exceptions rebuilt from the student's kernel (see raised())."""
    student_traceback = ""


class Missing(NameError):
    """The student's kernel has no such name."""


class Channel:
    """Requests to the agent in the kernel `client` (a blocking jupyter_client client) serves, each
    within what is left of `deadline` (time.monotonic())."""

    def __init__(self, client, deadline=None, alive=None):
        self.client, self.deadline = client, deadline
        self.printed = []
        if alive is not None:
            self.alive = alive

    def install(self):
        """Wait until this client hears the kernel's broadcasts (ZeroMQ drops what a subscriber
        misses while it connects: a request's end would be lost), then start the agent."""
        while True:
            asked = self.client.kernel_info()
            try:
                message = self._next(lambda timeout: self.client.get_iopub_msg(timeout=min(timeout, 0.2)))
            except NoAnswer:
                raise
            if message["parent_header"].get("msg_id") == asked:
                break
        self._execute(INSTALL, expressions={})

    def request(self, **fields):
        reply = self._execute(f"__autograde_agent__.answer({wire.dumps(exported(fields))!r})", READ_REPLY)
        try:
            expression = reply["user_expressions"]["reply"]
            text = ast.literal_eval(expression["data"]["text/plain"])
            answer = wire.loads(text)
        except (KeyError, TypeError, ValueError, SyntaxError, MemoryError, RecursionError) as error:
            raise NoAnswer(f"the kernel's answer was not the agent's ({type(error).__name__})") from None
        if not isinstance(answer, dict) or len(answer) != 1:
            raise NoAnswer("the kernel's answer was not the agent's")
        if "value" in answer:
            return imported(self, answer["value"])
        if "missing" in answer:
            raise Missing(f"name {fields.get('name')!r} is not defined")
        if "raised" in answer and isinstance(answer["raised"], dict):
            raise raised(answer["raised"])
        raise NoAnswer("the kernel's answer was not the agent's")

    def _execute(self, code, expressions):
        msg_id = self.client.execute(code, silent=True, store_history=False, user_expressions=expressions,
                                     allow_stdin=False)
        reply = None
        while reply is None:
            message = self._next(self.client.get_shell_msg)
            if message["parent_header"].get("msg_id") == msg_id:
                reply = message["content"]
        while True:  # what the student's code printed meanwhile, up to the end of the request
            message = self._next(self.client.get_iopub_msg)
            if message["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                self.printed.append(str(content.get("text", "")))
            elif kind == "status" and content.get("execution_state") == "idle":
                break
        if reply.get("status") != "ok":
            raise NoAnswer(f"the kernel could not run the request ({reply.get('ename', 'no reply')})")
        return reply

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


def exported(value):
    """The checker's arguments as wire data: its proxies become the handles they stand for."""
    if isinstance(value, Remote):
        return object.__getattribute__(value, "_handle")
    if isinstance(value, list):
        return [exported(item) for item in value]
    if isinstance(value, tuple):
        return tuple(exported(item) for item in value)
    if isinstance(value, dict):
        return {key: exported(item) for key, item in value.items()}
    return value


def imported(channel, value):
    """The agent's answer with each handle as a proxy."""
    if isinstance(value, wire.Handle):
        return Remote(channel, value)
    if isinstance(value, list):
        return [imported(channel, item) for item in value]
    if isinstance(value, tuple):
        return tuple(imported(channel, item) for item in value)
    if isinstance(value, dict):
        return {key: imported(channel, item) for key, item in value.items()}
    return value


def raised(description):
    """The student's exception, rebuilt: its name, its message, and the most specific builtin
    exception it was one of (so a check's `except ValueError` still catches it)."""
    name = description.get("type")
    name = name if isinstance(name, str) and name.isidentifier() else "StudentError"
    bases = [getattr(builtins, base) for base in description.get("bases", ())
             if isinstance(base, str) and isinstance(getattr(builtins, base, None), type)
             and issubclass(getattr(builtins, base), Exception)]
    try:
        kind = type(name, (StudentRaised, bases[0]) if bases else (StudentRaised,), {})
    except TypeError:
        kind = type(name, (StudentRaised,), {})
    error = kind(str(description.get("message", ""))[:2000])
    error.student_traceback = str(description.get("traceback", ""))[:8000]
    return error


class Remote:
    """A student's object that stays in their kernel: every use is a request."""

    __array_ufunc__ = None  # numpy defers to this class's reflected operators

    def __getattribute__(self, name):
        if name == "__module__":  # the student's module, not this one (checks refuse the grader's own code)
            return self._request(op="getattr", target=object.__getattribute__(self, "_handle"), name=name)
        return object.__getattribute__(self, name)

    def __init__(self, channel, handle):
        object.__setattr__(self, "_channel", channel)
        object.__setattr__(self, "_handle", handle)

    def _request(self, **fields):
        return object.__getattribute__(self, "_channel").request(**fields)

    def _apply(self, function, *args):
        return self._request(op="apply", function=function, args=list(args))

    def __getattr__(self, name):
        if name.startswith("__") and name not in ("__name__", "__qualname__", "__doc__", "__module__"):
            raise AttributeError(name)
        return self._request(op="getattr", target=object.__getattribute__(self, "_handle"), name=name)

    def __setattr__(self, name, value):
        self._request(op="setattr", target=object.__getattribute__(self, "_handle"), name=name, value=value)

    def __call__(self, *args, **kwargs):
        return self._request(op="call", target=object.__getattribute__(self, "_handle"), args=list(args),
                             kwargs=kwargs)

    def __repr__(self):
        text = self._apply("repr", self)
        return text if isinstance(text, str) else "<student object>"

    def __str__(self):
        text = self._apply("str", self)
        return text if isinstance(text, str) else "<student object>"

    def __len__(self):
        return operator_index(self._apply("len", self))

    def __iter__(self):
        return iter(self._apply("list", self))

    def __bool__(self):
        return bool(self._apply("bool", self) is True)

    def __float__(self):
        return float(self._apply("float", self))

    def __getitem__(self, key):
        return self._apply("getitem", self, key)

    def __setitem__(self, key, value):
        self._apply("setitem", self, key, value)

    def __contains__(self, item):
        return self._apply("contains", self, item) is True


def operator_index(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("len() of a student's object was not an integer")
    return value


def _binary(function):
    def forward(self, other):
        return self._apply(function, self, other)

    def reflected(self, other):
        return self._apply(function, other, self)
    return forward, reflected


for _function in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul"):
    _forward, _reflected = _binary(_function)
    setattr(Remote, f"__{_function}__", _forward)
    setattr(Remote, f"__r{_function}__", _reflected)
for _function in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(Remote, f"__{_function}__", _binary(_function)[0])
for _function in ("neg", "pos", "abs"):
    setattr(Remote, f"__{_function}__", lambda self, _f=_function: self._apply(_f, self))
Remote.__hash__ = object.__hash__
