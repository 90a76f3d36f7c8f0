"""The plain data that crosses between the trusted checker and a student's kernel (agent.py).

JSON, with numpy arrays as .npy bytes (read back with allow_pickle=False: never an object array),
tuples, slices, random generators' states, and numbered handles tagged (Handle: an object that
stays in the kernel; Callback: one that stays in the checker). Nothing else crosses: no pickle, no code.
Decoding refuses anything it does not know, and anything larger than the limits, so whatever a
kernel answers, the checker only ever holds numbers, strings, arrays and handles.

Runs on both sides: standard library and numpy only.
"""
import base64
import io
import json

import numpy as np

MAX_TEXT = 64 * 2**20   # characters of one message
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
    its number there: the kernel may call it, and gets plain data back."""
    __slots__ = ()

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


def refreshed(copy, array):
    """`copy` (this side's copy of the other side's array) with `array`'s values, written in place
    when they differ; `array` itself when `copy` cannot take them (another shape or dtype, read-only)."""
    if copy is None or copy.shape != array.shape or copy.dtype != array.dtype:
        return array
    if not np.array_equal(copy, array, equal_nan=copy.dtype.kind in "fc"):
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


def to_json(value):
    """The JSON form of a plain value (see is_plain); `handle_of(value)` names what is not plain."""
    if isinstance(value, Handle):
        return {TAG: "callback" if isinstance(value, Callback) else "handle", "number": value.number,
                "kind": value.kind, "name": value.name, "module": value.module}
    if isinstance(value, Tracked):
        return {**to_json(np.asarray(value.array)), "ref": value.number, "owner": value.owner}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        if value.dtype.kind not in "biufc":
            raise WireError(f"cannot send an array of {value.dtype}")
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(value), allow_pickle=False)
        return {TAG: "array" if isinstance(value, np.ndarray) else "scalar",
                "npy": base64.b64encode(buffer.getvalue()).decode()}
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else {TAG: "float", "repr": repr(value)}
    if isinstance(value, complex):
        return {TAG: "complex", "real": to_json(value.real), "imag": to_json(value.imag)}
    if isinstance(value, tuple):
        return {TAG: "tuple", "items": [to_json(item) for item in value]}
    if isinstance(value, list):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise WireError("cannot send a dict whose keys are not all strings")
        return {TAG: "dict", "items": {key: to_json(item) for key, item in value.items()}}
    if isinstance(value, slice):
        return {TAG: "slice", "items": [to_json(value.start), to_json(value.stop), to_json(value.step)]}
    if value is Ellipsis:
        return {TAG: "ellipsis"}
    if isinstance(value, np.random.Generator):  # a copy, in the same state: the two then go their own ways
        state = value.bit_generator.state
        return {TAG: "rng", "kind": state.get("bit_generator"), "state": to_json(state)}
    raise WireError(f"cannot send a {type(value).__name__}")


def from_json(data, depth=0):
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [from_json(item, depth + 1) for item in data]
    if not isinstance(data, dict) or not isinstance(data.get(TAG), str):
        raise WireError(f"not a known kind: {str(data)[:80]}")
    kind = data[TAG]
    if kind in ("array", "scalar"):
        try:
            array = np.load(io.BytesIO(base64.b64decode(_field(data, "npy", str), validate=True)), allow_pickle=False)
        except (ValueError, OSError, EOFError) as error:  # binascii.Error is a ValueError
            raise WireError(f"not an array: {str(error)[:80]}") from None
        if array.dtype.kind not in "biufc":
            raise WireError(f"an array of {array.dtype}")
        if "ref" in data:
            owner = _field(data, "owner", str)
            if owner not in ("kernel", "checker"):
                raise WireError(f"not an owner: {owner[:20]}")
            return Tracked(_field(data, "ref", int), array, owner)
        return array if kind == "array" else array[()]
    if kind in ("handle", "callback"):
        return (Callback if kind == "callback" else Handle)(
            _field(data, "number", int), _field(data, "kind", str), _field(data, "name", str),
            _field(data, "module", str))
    if kind == "float":
        text = _field(data, "repr", str)
        if text not in ("nan", "inf", "-inf"):
            raise WireError(f"not a float: {text[:20]}")
        return float(text)
    if kind == "complex":
        return complex(from_json(data.get("real"), depth + 1), from_json(data.get("imag"), depth + 1))
    if kind == "tuple":
        return tuple(from_json(item, depth + 1) for item in _field(data, "items", list))
    if kind == "dict":
        return {key: from_json(item, depth + 1) for key, item in _field(data, "items", dict).items()}
    if kind == "slice":
        return slice(*(from_json(item, depth + 1) for item in _field(data, "items", list)[:3]))
    if kind == "ellipsis":
        return Ellipsis
    if kind == "rng":
        name = _field(data, "kind", str)
        if name not in BIT_GENERATORS:
            raise WireError(f"not a numpy bit generator: {name[:40]}")
        generator = getattr(np.random, name)()
        try:
            generator.state = from_json(data.get("state"), depth + 1)
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
    return json.dumps(to_json(value), allow_nan=False)


def loads(text):
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise WireError("not a message, or over the size limit")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise WireError(f"not JSON: {error}") from None
    return from_json(data)
