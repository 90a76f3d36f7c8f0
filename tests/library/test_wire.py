"""What crosses between the trusted checker and a student's kernel (autograde/wire.py): plain data
round-trips exactly; anything else is refused on the way out and on the way in."""
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


def message(header, data=b""):
    """A message as a kernel could forge one: any JSON, any bytes after it."""
    text = (header if isinstance(header, str) else json.dumps(header)).encode()
    return len(text).to_bytes(8, "big") + text + data


def test_nan_is_tagged_not_sent_as_invalid_json():
    sent = wire.dumps([float("nan")])
    json.loads(sent[8:], parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
    assert np.isnan(wire.loads(sent)[0])


def test_arrays_travel_as_their_bytes_after_the_json():
    array = np.arange(4, dtype=np.float32)
    assert wire.dumps(array).endswith(array.tobytes())
    assert wire.loads(wire.dumps([array[::2], array])) [0].tolist() == [0.0, 2.0]


@pytest.mark.parametrize("value", [object(), np.array([object()]), lambda: 1, {1: "not a str key"}])
def test_what_is_not_plain_data_is_not_sent(value):
    with pytest.raises(wire.WireError):
        wire.dumps(value)


class Exploit:
    def __reduce__(self):
        return (print, ("unpickled",))


def array_header(dtype="<f8", shape=(2,), size=16):
    return {wire.TAG: "array", "dtype": dtype, "shape": list(shape), "bytes": size}


@pytest.mark.parametrize("sent", [
    message(array_header("|O", (1,), 8), bytes(8)),
    message(array_header("[('a', 'O')]", (1,), 8), bytes(8)),
    message(array_header("not a dtype"), bytes(16)),
    message(array_header(size=16), bytes(8)),  # fewer bytes than it says
    message(array_header(size=8), bytes(8)),  # bytes that do not match the shape
    message(array_header(shape=(2**40, 2**40), size=0)),
    message(array_header(), bytes(24)),  # bytes nobody named
    message({wire.TAG: "pickle", "data": pickle.dumps(Exploit()).hex()}),
    message({wire.TAG: "float", "repr": "1e999999"}),
    message({wire.TAG: "rng", "kind": "os.system", "state": {}}),
    message({wire.TAG: "handle", "number": True, "kind": "object", "name": ""}),
    message({wire.TAG: "callback", "number": 1, "kind": "object", "name": "", "module": "", "methods": [1]}),
    message({"no": "tag"}),
    message("not json"),
    message("[" * 100 + "]" * 100),
    pickle.dumps(Exploit()),
    "a text, not bytes",
])
def test_a_kernel_cannot_make_the_checker_hold_anything_but_plain_data(sent, capsys):
    with pytest.raises(wire.WireError):
        wire.loads(sent)
    assert "unpickled" not in capsys.readouterr().out


def test_copies_are_held_weakly_and_report_each_change_once():
    copies = wire.ChangingCopies()
    kept, dropped = copies.received(7, np.zeros(3)), copies.received(8, np.ones(2))
    assert copies.received(7, np.zeros(3)) is kept  # the same array of the checker's, the same copy
    del dropped
    assert copies.get(8) is None and list(copies.said) == [7]  # a training loop's old batches cost nothing
    assert copies.changed() == []
    kept[1] = np.nan
    assert [(number, array is kept) for number, array in copies.changed()] == [(7, True)]
    assert copies.changed() == []  # NaN is the same NaN the second time


def test_a_copy_changed_just_before_it_is_dropped_still_reports_its_change():
    copies = wire.ChangingCopies()
    parameter = copies.received(3, np.zeros(2))
    parameter -= 0.5  # sgd_step's update, then the copy goes out of scope
    del parameter
    [(number, values)] = copies.changed()
    assert number == 3 and values.tolist() == [-0.5, -0.5]


def test_own_numbers_are_never_reused():
    tracked = wire.TrackedArrays()
    first = tracked.add(np.zeros(1))  # dropped at once
    assert tracked.add(np.zeros(1)) != first


def test_no_message_starts_as_the_agents_questions_do():
    from autograde.agent import ASKING
    assert not any(wire.dumps("x" * n).startswith(ASKING) for n in range(300))
