"""What crosses between the trusted checker and a student's kernel (autograde/wire.py): plain data
round-trips exactly; anything else is refused on the way out and on the way in."""
import base64
import io
import json
import pickle

import numpy as np
import pytest

from autograde import wire


@pytest.mark.parametrize("value", [
    None, True, 3, -2.5, "text", [1, [2.0, "x"]], (1, (2, 3)), {"a": (1, None)},
    slice(1, None, 2), Ellipsis, 1 + 2j, float("inf"),
])
def test_plain_values_round_trip(value):
    assert wire.loads(wire.dumps(value)) == value


def test_arrays_keep_dtype_shape_and_values():
    for array in (np.arange(6.0).reshape(2, 3), np.ones(3, np.float32), np.array([True, False]), np.float32(2.5)):
        back = wire.loads(wire.dumps(array))
        assert back.dtype == array.dtype and np.shape(back) == np.shape(array) and np.array_equal(back, array)
        assert isinstance(back, np.ndarray) == isinstance(array, np.ndarray)


def test_a_random_generator_arrives_as_a_copy_in_the_same_state():
    rng = np.random.default_rng(5)
    copy = wire.loads(wire.dumps(rng))
    assert copy is not rng and copy.normal() == rng.normal()


def test_nan_is_tagged_not_sent_as_invalid_json():
    text = wire.dumps([float("nan")])
    json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert np.isnan(wire.loads(text)[0])


@pytest.mark.parametrize("value", [object(), np.array([object()]), lambda: 1, {1: "not a str key"}])
def test_what_is_not_plain_data_is_not_sent(value):
    with pytest.raises(wire.WireError):
        wire.dumps(value)


def npy(array, allow_pickle=False):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return base64.b64encode(buffer.getvalue()).decode()


class Exploit:
    def __reduce__(self):
        return (print, ("unpickled",))


@pytest.mark.parametrize("message", [
    json.dumps({wire.TAG: "array", "npy": npy(np.array([Exploit()], dtype=object), allow_pickle=True)}),
    json.dumps({wire.TAG: "pickle", "data": base64.b64encode(pickle.dumps(Exploit())).decode()}),
    json.dumps({wire.TAG: "array", "npy": "not base64!"}),
    json.dumps({wire.TAG: "float", "repr": "1e999999"}),
    json.dumps({wire.TAG: "rng", "kind": "os.system", "state": {}}),
    json.dumps({wire.TAG: "handle", "number": True, "kind": "object", "name": ""}),
    json.dumps({"no": "tag"}),
    "not json",
    "[" * 100 + "]" * 100,
])
def test_a_kernel_cannot_make_the_checker_hold_anything_but_plain_data(message, capsys):
    with pytest.raises(wire.WireError):
        wire.loads(message)
    assert "unpickled" not in capsys.readouterr().out
