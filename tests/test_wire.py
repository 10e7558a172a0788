import json

import numpy as np
import pytest

from grader import wire


def roundtrip(value):
    return wire.decode_value(json.loads(json.dumps(wire.encode_value(value))))


def test_arrays_keep_dtype_shape_and_special_values():
    array = np.array([[1.5, np.nan], [np.inf, -0.0]], dtype=np.float32)
    back = roundtrip({"a": array, "n": [1, 2.5, None, True, "x"]})
    assert back["a"].dtype == np.float32 and back["a"].shape == (2, 2)
    np.testing.assert_array_equal(back["a"], array)
    assert back["n"] == [1, 2.5, None, True, "x"]


@pytest.mark.parametrize("value", [np.array([object()]), np.array(["text"]), object(), {1, 2}])
def test_unsafe_values_are_refused_on_encode(value):
    with pytest.raises(wire.WireError):
        wire.encode_value(value)


@pytest.mark.parametrize("header", [
    {"dtype": "|O", "shape": [1], "data": "AAAAAAAAAAA="},          # object dtype (pointers)
    {"dtype": "<f8", "shape": [2], "data": "AAAAAAAAAAA="},         # data shorter than the shape
    {"dtype": "<f8", "shape": [-1], "data": ""},
    {"dtype": [("a", "<f8")], "shape": [1], "data": "AAAAAAAAAAA="},  # structured
    {"dtype": "<f8", "shape": [1], "data": "not base64!"},
    "AAAA",
])
def test_forged_array_payloads_are_refused_on_decode(header):
    with pytest.raises(wire.WireError):
        wire.decode_value({"__ndarray__": header})


def test_oversized_frame_is_refused():
    reader = wire.MessageReader()
    with pytest.raises(wire.WireError):
        reader.feed((wire.MAX_MESSAGE_BYTES + 1).to_bytes(4, "big") + b"{}")


def test_frames_split_across_reads_are_reassembled():
    import socket

    left, right = socket.socketpair()
    wire.send_message(left, {"id": 1, "value": np.arange(3)})
    data = right.recv(1 << 16)
    reader = wire.MessageReader()
    assert reader.feed(data[:3]) == []
    [message] = reader.feed(data[3:])
    assert message["id"] == 1 and message["value"].tolist() == [0, 1, 2]


def test_copies_of_decoded_values_share_nothing_mutable():
    original = wire.decode_value(wire.encode_value({"data": np.arange(3.0), "links": [{"grad": np.ones(2)}]}))
    copy = wire.copy_value(original)
    copy["data"][0] = 99.0
    copy["links"][0]["grad"][:] = 0.0
    copy["links"].append("extra")
    assert original["data"][0] == 0.0 and original["links"][0]["grad"].tolist() == [1.0, 1.0]
    assert len(original["links"]) == 1
