"""The plain data that crosses between the trusted checker and a student's kernel (agent.py).

JSON, with numpy arrays' raw bytes after it (numbers only: never an object array, never pickle),
tuples, slices, random generators' states, and numbered handles tagged (Handle: an object that
stays in the kernel; Callback: one that stays in the checker). Nothing else crosses: no pickle, no code.
Decoding refuses anything it does not know, and anything larger than the limits, so whatever a
kernel answers, the checker only ever holds numbers, strings, arrays and handles.

Runs on both sides: standard library and numpy only.
"""
import itertools
import json
import math
import weakref

import numpy as np

MAX_BYTES = 256 * 2**20   # of one message
MAX_DEPTH = 32          # nesting of lists, tuples and dicts
TAG = "__wire__"
BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class WireError(ValueError):
    """A message that is not plain data of the known kinds."""


class Handle:
    """An object that stays in the kernel, named by its number there; `kind` is "class", "callable"
    or "object", `name` its name or its type's and `module` its type's module (for messages, and
    for the checks that look at an answer's type)."""
    __slots__ = ("number", "kind", "name", "module")

    def __init__(self, number, kind="object", name="", module=""):
        self.number, self.kind, self.name, self.module = number, kind, name, module

    def __repr__(self):
        return f"Handle({self.number}, {self.kind!r}, {self.name!r})"


class Callback(Handle):
    """An object that stays in the checker (a test's own helper, a reference function), named by
    its number there: the kernel may call it, and gets plain data back. `methods` names its public
    methods, which the kernel calls in one request each (no lookup first: a training loop calls
    the test's layers' forward and backward at every step)."""
    __slots__ = ("methods",)

    def __init__(self, number, kind="object", name="", module="", methods=()):
        super().__init__(number, kind, name, module)
        self.methods = tuple(methods)

    def __repr__(self):
        return f"Callback({self.number}, {self.kind!r}, {self.name!r})"


class Tracked:
    """An array with its number on the side that owns it ("kernel" or "checker"): the other side
    keeps one array per number, so that the same array read twice is the same object there too
    (`is` holds), changes made in place on either side reach the other with the next message that
    carries it, and sending it back refers to the original."""
    __slots__ = ("number", "array", "owner")

    def __init__(self, number, array, owner="kernel"):
        self.number, self.array, self.owner = number, array, owner


class TrackedArrays:
    """One side's numbered arrays (its own it sent, or its copies of the other side's), held weakly:
    an array this side no longer uses drops out, so a training loop's thousand batches cost nothing
    once gone."""

    def __init__(self):
        self.arrays = weakref.WeakValueDictionary()  # number -> array
        self.numbers = {}  # id of an array -> its number (removed when the array dies)
        self.fresh = itertools.count(1)  # numbers are never reused: an old one names nothing

    def number_of(self, array):
        return self.numbers.get(id(array))

    def get(self, number):
        return self.arrays.get(number)

    def add(self, array, number=None):
        """`array`'s number, given (the other side's) or a new one (this side's own)."""
        known = self.numbers.get(id(array))
        if known is not None:
            return known
        number = next(self.fresh) if number is None else number
        self.arrays[number] = array
        self.numbers[id(array)] = number
        weakref.finalize(array, self._dropped, id(array), number, array.base)
        return number

    def _dropped(self, identity, number, base):
        self.numbers.pop(identity, None)

    def clear(self):
        self.arrays.clear()
        self.numbers.clear()


class ChangingCopies(TrackedArrays):
    """The kernel's copies of the checker's arrays, which the student's code may change in place (a
    numerical gradient nudging x, sgd_step updating a parameter): `changed` says which did since
    last said, including one changed just before it was dropped (each copy is a view of an array
    kept until the view dies, whose values are then compared)."""

    def __init__(self):
        super().__init__()
        self.said = {}  # number -> its values (bytes) as the checker last heard them
        self.dropped = []  # (number, values) of copies changed before they died

    def received(self, number, array):
        """This side's copy of the other side's array `number`, with `array`'s values: the same
        copy as before when it can take them."""
        copy = refreshed(self.get(number), array)
        if copy is array:
            copy = array.view()  # the student's; `array` outlives it for _dropped
            self.add(copy, number)
        self.said[number] = array.tobytes()
        return copy

    def _dropped(self, identity, number, base):
        super()._dropped(identity, number, base)
        if number in self.arrays:  # given to another copy since
            return
        said = self.said.pop(number, None)
        if said is not None and base.tobytes() != said:
            self.dropped.append((number, base))

    def changed(self):
        """(number, array) of each copy whose values changed since last said."""
        changes, self.dropped = self.dropped, []
        for number, array in list(self.arrays.items()):
            values = array.tobytes()  # bytes, not numbers: NaN is NaN, and a copy and memcmp beat isnan
            if self.said.get(number) != values:
                self.said[number] = values
                changes.append((number, array))
        return changes

    def clear(self):
        super().clear()
        self.said.clear()
        self.dropped.clear()


_given = weakref.WeakValueDictionary()  # id -> an array handed over for good (see given)


def given(array):
    """A copy of `array` for the student's code to keep (the data a training loop is handed): it
    crosses as plain numbers, not tracked, so changes to it are not looked for at every message."""
    copy = np.array(array, copy=True)
    _given[id(copy)] = copy
    return copy


def is_given(array):
    return _given.get(id(array)) is array


def refreshed(copy, array):
    """`copy` (this side's copy of the other side's array) with `array`'s values, written in place
    when they differ; `array` itself when `copy` cannot take them (another shape or dtype, read-only)."""
    if copy is None or copy.shape != array.shape or copy.dtype != array.dtype:
        return array
    if copy.tobytes() != array.tobytes():
        if not copy.flags.writeable:
            return array
        copy[...] = array
    return copy


def walk(value, leaf):
    """`value` with each part that is not a list, tuple or dict (of str keys) replaced by `leaf(part)`."""
    if type(value) is list:
        return [walk(item, leaf) for item in value]
    if type(value) is tuple:
        return tuple(walk(item, leaf) for item in value)
    if type(value) is dict and all(isinstance(key, str) for key in value):
        return {key: walk(item, leaf) for key, item in value.items()}
    return leaf(value)


def is_plain(value, depth=0):
    """Can `value` cross as a value (not as a handle)?"""
    if depth > MAX_DEPTH:
        return False
    if value is None or isinstance(value, (bool, int, float, complex, str, np.generic)):
        return not isinstance(value, np.generic) or value.dtype.kind in "biufc"
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biufc"
    if isinstance(value, (list, tuple)):
        return all(is_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v, depth + 1) for k, v in value.items())
    return isinstance(value, (slice, Handle, Tracked, np.random.Generator)) or value is Ellipsis


def to_json(value, buffers):
    """The JSON form of a plain value (see is_plain); arrays' bytes are appended to `buffers` and
    named by where they start in the message's data."""
    if isinstance(value, Handle):
        data = {TAG: "callback" if isinstance(value, Callback) else "handle", "number": value.number,
                "kind": value.kind, "name": value.name, "module": value.module}
        if isinstance(value, Callback):
            data["methods"] = list(value.methods)
        return data
    if isinstance(value, Tracked):
        return {**to_json(np.asarray(value.array), buffers), "ref": value.number, "owner": value.owner}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        if value.dtype.kind not in "biufc":
            raise WireError(f"cannot send an array of {value.dtype}")
        data = np.ascontiguousarray(value).tobytes()
        buffers.append(data)
        return {TAG: "array" if isinstance(value, np.ndarray) else "scalar", "dtype": value.dtype.str,
                "shape": list(np.shape(value)), "bytes": len(data)}
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else {TAG: "float", "repr": repr(value)}
    if isinstance(value, complex):
        return {TAG: "complex", "real": to_json(value.real, buffers), "imag": to_json(value.imag, buffers)}
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [to_json(item, buffers) for item in value]}
    if isinstance(value, list):
        return [to_json(item, buffers) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise WireError("cannot send a dict whose keys are not all strings")
        return {TAG: "dict", "items": {key: to_json(item, buffers) for key, item in value.items()}}
    if isinstance(value, slice):
        return {TAG: "slice", "items": [to_json(value.start, buffers), to_json(value.stop, buffers),
                                        to_json(value.step, buffers)]}
    if value is Ellipsis:
        return {TAG: "ellipsis"}
    if isinstance(value, np.random.Generator):  # a copy, in the same state: the two then go their own ways
        state = value.bit_generator.state
        return {TAG: "rng", "kind": state.get("bit_generator"), "state": to_json(state, buffers)}
    raise WireError(f"cannot send a {type(value).__name__}")


class _Reader:
    """Decoding one message: its arrays' bytes, taken in the order the JSON names them."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def array(self, data):
        try:
            dtype = np.dtype(_field(data, "dtype", str))
        except TypeError as error:
            raise WireError(f"not a dtype: {str(error)[:80]}") from None
        if dtype.kind not in "biufc" or dtype.fields or dtype.subdtype:  # never an object array
            raise WireError(f"an array of {dtype}")
        shape = _field(data, "shape", list)
        if len(shape) > MAX_DEPTH or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
            raise WireError("not an array's shape")
        size = _field(data, "bytes", int)
        if size != math.prod(shape) * dtype.itemsize or self.at + size > len(self.data):
            raise WireError("an array's bytes do not match its shape")
        array = np.frombuffer(self.data, dtype, offset=self.at, count=size // dtype.itemsize).reshape(shape).copy()
        self.at += size
        return array


def from_json(data, reader, depth=0):
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    inner = lambda item: from_json(item, reader, depth + 1)  # noqa: E731
    if isinstance(data, list):
        return [inner(item) for item in data]
    if not isinstance(data, dict) or not isinstance(data.get(TAG), str):
        raise WireError(f"not a known kind: {str(data)[:80]}")
    kind = data[TAG]
    if kind in ("array", "scalar"):
        array = reader.array(data)
        if "ref" in data:
            owner = _field(data, "owner", str)
            if owner not in ("kernel", "checker"):
                raise WireError(f"not an owner: {owner[:20]}")
            return Tracked(_field(data, "ref", int), array, owner)
        return array if kind == "array" else array[()]
    if kind in ("handle", "callback"):
        fields = (_field(data, "number", int), _field(data, "kind", str), _field(data, "name", str),
                  _field(data, "module", str))
        if kind == "handle":
            return Handle(*fields)
        methods = _field(data, "methods", list)
        if not all(isinstance(name, str) for name in methods):
            raise WireError("a method's name is not a string")
        return Callback(*fields, methods=methods)
    if kind == "float":
        text = _field(data, "repr", str)
        if text not in ("nan", "inf", "-inf"):
            raise WireError(f"not a float: {text[:20]}")
        return float(text)
    if kind == "complex":
        return complex(inner(data.get("real")), inner(data.get("imag")))
    if kind == "tuple":
        return tuple(inner(item) for item in _field(data, "items", list))
    if kind == "dict":
        return {key: inner(item) for key, item in _field(data, "items", dict).items()}
    if kind == "slice":
        return slice(*(inner(item) for item in _field(data, "items", list)[:3]))
    if kind == "ellipsis":
        return Ellipsis
    if kind == "rng":
        name = _field(data, "kind", str)
        if name not in BIT_GENERATORS:
            raise WireError(f"not a numpy bit generator: {name[:40]}")
        generator = getattr(np.random, name)()
        try:
            generator.state = inner(data.get("state"))
        except (TypeError, ValueError, KeyError) as error:
            raise WireError(f"not the state of a {name}: {error}") from None
        return np.random.Generator(generator)
    raise WireError(f"not a known kind: {kind[:40]}")


def _field(data, name, kind):
    value = data.get(name)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise WireError(f"{name} is not a {kind.__name__}")
    return value


def dumps(value):
    """`value` as one message: the JSON's length (8 bytes, big-endian: the first is always 0, so a
    message never starts as the agent's questions do), the JSON, then its arrays' bytes."""
    buffers = []
    header = json.dumps(to_json(value, buffers), allow_nan=False).encode()
    return b"".join([len(header).to_bytes(8, "big"), header, *buffers])


def loads(message):
    if not isinstance(message, bytes) or not 8 <= len(message) <= MAX_BYTES:
        raise WireError("not a message, or over the size limit")
    length = int.from_bytes(message[:8], "big")
    try:
        data = json.loads(message[8:8 + length].decode())
    except ValueError as error:  # UnicodeDecodeError is a ValueError
        raise WireError(f"not JSON: {str(error)[:80]}") from None
    reader = _Reader(memoryview(message)[8 + length:])
    value = from_json(data, reader)
    if reader.at != len(reader.data):
        raise WireError("bytes after the message's arrays")
    return value
