"""The trusted side reading a worker: every byte is hostile (issue 12, items 1, 6, 7 and 10).

A ``Worker`` is driven here without the sandbox: the test holds the worker's end of a socket
pair and writes whatever frames a hostile worker could write.
"""
import json
import os
import socket
import struct
import threading

import numpy as np
import pytest

from grader import wire
from grader.checks import CheckFailure, check_array, check_equal, check_variable
from grader.handles import StudentError
from grader.i18n import Message
from grader.plugin import student_error_message
from grader.replies import Uncheckable, check_value, error_fields, is_description, shown_type
from grader.sandbox import Limits, Worker, WorkerFailure
from grader.sandbox import client


class FakeWorker:
    """A ``Worker`` whose socket's far end is ours: what a hostile worker would hold."""

    def __init__(self):
        ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.out_read, self.out_write = os.pipe()
        ours.setblocking(False)
        os.set_blocking(self.out_read, False)
        self.worker = Worker(None, 0, Limits())
        self.worker._sock, self.worker._out = ours, self.out_read
        # Messages sent through ``send`` carry the nonce, as the worker's own dispatcher tags them;
        # ``send_raw`` sends exactly what it is given (a forger without the nonce).
        self.worker._nonce = "fake-worker-nonce"

    def send_raw(self, text: str | bytes) -> None:
        data = text.encode() if isinstance(text, str) else text
        self.theirs.sendall(struct.pack("!I", len(data)) + data)

    def send(self, message: dict) -> None:
        tagged = {**message, "tag": self.worker._nonce} if message.get("event") != "exit" else message
        self.send_raw(json.dumps(wire.encode_value(tagged)))

    def close(self):
        self.worker.close()
        self.theirs.close()
        os.close(self.out_write)


@pytest.fixture
def fake():
    worker = FakeWorker()
    yield worker
    worker.close()


def reply(ident, value):
    return {"id": ident, "ok": True, "value": value}


# --- wire: size, depth and count bounds ---------------------------------------------------

def test_a_shape_whose_size_overflows_int64_is_refused():
    # 2**32 * 2**32 is 0 in int64, so an empty buffer used to "match" and reshape raised ValueError.
    header = {"dtype": "<f8", "shape": [1 << 32, 1 << 32], "data": ""}
    with pytest.raises(wire.WireError):
        wire.decode_value({"__ndarray__": header})


@pytest.mark.parametrize("shape", [[True], [2.0], ["2"], 7, [[2]]])
def test_shape_entries_must_be_plain_ints(shape):
    with pytest.raises(wire.WireError):
        wire.decode_value({"__ndarray__": {"dtype": "<f8", "shape": shape, "data": "AAAAAAAAAAA="}})


@pytest.mark.parametrize("dtype", ["f8,f8", "(2,)f8", "O", "<U4", "V8", "float64", 8, None])
def test_only_plain_numeric_dtype_strings_are_parsed(dtype):
    with pytest.raises(wire.WireError):
        wire.decode_value({"__ndarray__": {"dtype": dtype, "shape": [1], "data": "AAAAAAAAAAA="}})


def test_a_reply_nested_200000_deep_is_a_wire_error_not_a_recursion_error():
    payload = ('{"id": 1, "ok": true, "value": ' + "[" * 200_000 + "]" * 200_000 + "}").encode()
    with pytest.raises(wire.WireError):
        wire.parse_message(payload)


@pytest.mark.parametrize("depth", [40, 900, 5000])
def test_nesting_deeper_than_the_bound_is_refused(depth):
    with pytest.raises(wire.WireError):
        wire.parse_message(('{"v": ' + "[" * depth + "]" * depth + "}").encode())


def test_millions_of_tiny_containers_are_refused_before_parsing():
    payload = b'{"v": [' + b"[]," * 1_000_000 + b"[]]}"
    with pytest.raises(wire.WireError, match="too many"):
        wire.parse_message(payload)


def test_honest_values_still_roundtrip():
    value = {"a": np.arange(12.0).reshape(3, 4), "b": [[1, 2], {"c": None}], "d": float("nan")}
    back = wire.parse_message(wire.frame(value)[4:])
    np.testing.assert_array_equal(back["a"], value["a"])
    assert back["b"] == [[1, 2], {"c": None}] and np.isnan(back["d"])


# --- client.Worker: outstanding ids only, forged envelopes ---------------------------------

def test_unsolicited_and_duplicate_replies_are_not_kept(fake):
    ident = fake.worker.submit("forward", {})
    fake.send(reply(ident + 100, "never asked"))
    fake.send(reply(ident, {"first": True}))
    fake.send(reply(ident, {"second": True}))      # a duplicate: the first answer stands
    assert fake.worker.result(ident, 2) == reply(ident, {"first": True})
    fake.send(reply(ident, "late"))                # already answered
    other = fake.worker.submit("forward", {})
    fake.send(reply(other, 1))
    assert fake.worker.result(other, 2)["value"] == 1
    assert fake.worker._replies == {} and fake.worker._held_bytes == 0
    assert fake.worker._unsolicited == 3


def test_a_flood_of_unsolicited_replies_kills_the_worker_with_a_protocol_failure(fake):
    ident = fake.worker.submit("forward", {})
    big = json.dumps(reply(10**9, "x" * (1 << 20)))

    def flood():
        try:
            for _ in range(client.MAX_UNSOLICITED * 4):
                fake.send_raw(big)
        except OSError:
            pass  # the grader closed its end

    thread = threading.Thread(target=flood)
    thread.start()
    with pytest.raises(WorkerFailure) as failure:
        fake.worker.result(ident, 10)
    thread.join(10)
    assert failure.value.kind == "protocol" and "no request" in str(failure.value)
    assert fake.worker._replies == {} and not fake.worker.alive
    with pytest.raises(WorkerFailure):  # and every later wait says the same
        fake.worker.result(fake.worker.submit("forward", {}), 1)


def test_held_replies_are_capped_in_bytes(fake, monkeypatch):
    monkeypatch.setattr(client, "MAX_HELD_BYTES", 3 << 20)
    idents = [fake.worker.submit("forward", {}) for _ in range(5)]

    def answer_all():
        try:
            for ident in idents[1:]:
                fake.send(reply(ident, "x" * (1 << 20)))
        except OSError:
            pass

    thread = threading.Thread(target=answer_all)
    thread.start()
    with pytest.raises(WorkerFailure, match="larger than"):
        fake.worker.result(idents[0], 10)
    thread.join(10)


@pytest.mark.parametrize("status", [{"signal": [11]}, {"signal": {"a": 1}}, {"code": [1]}, "x", None,
                                    {"signal": 10**30}, {"code": True}])
def test_a_forged_exit_message_ends_the_worker_with_a_plain_failure(fake, status):
    ident = fake.worker.submit("forward", {})
    fake.send({"event": "exit", "status": status})
    with pytest.raises(WorkerFailure) as failure:
        fake.worker.result(ident, 2)
    assert failure.value.kind in ("exit", "crash", "memory")
    str(failure.value.message)  # renders


def test_a_forged_ready_is_cleaned(fake):
    fake.send({"event": "ready", "layers": {"process": 1, "seccomp": ["x"], "uid": "uid 1"},
               "load_errors": [{"type": ["x"], "line": "2", "cell": 1.5, "message": "m" * 1000}, "junk"]})
    ready = fake.worker.wait_ready(2)
    assert ready["layers"] == {"uid": "uid 1"}
    assert ready["load_errors"][0] == {"type": "?", "message": "m" * 300, "line": None, "cell": None, "file": None}
    assert ready["load_errors"][1]["type"] == "?"
    json.dumps(ready)


def test_a_garbage_frame_is_a_protocol_failure(fake):
    ident = fake.worker.submit("forward", {})
    fake.send_raw(b"\xff\xfe not json")
    with pytest.raises(WorkerFailure) as failure:
        fake.worker.result(ident, 2)
    assert failure.value.kind == "protocol"


# --- reply shapes ------------------------------------------------------------------------

def describe(array, kind="ndarray"):
    return {"type": kind, "dtype": str(array.dtype), "shape": list(array.shape), "array": array}


@pytest.mark.parametrize("value", [
    {"type": "ndarray", "dtype": "float64", "shape": [3], "array": np.zeros(2)},
    {"type": "ndarray", "dtype": "int64", "shape": [2], "array": np.zeros(2)},
    {"type": "ndarray", "dtype": "float64", "shape": [2], "array": 1.5},
    {"type": 5, "dtype": None, "shape": None, "array": None},
    {"type": "x", "dtype": "float64", "shape": None, "array": None},
    {"type": "ndarray", "dtype": "float64", "shape": [2], "array": np.zeros(2), "extra": 1},
    {"data": {"type": "ndarray", "dtype": "<f8", "shape": [2], "array": np.zeros(2)}},
    ["x" * 5000],
])
def test_malformed_descriptions_do_not_validate(value):
    with pytest.raises(Uncheckable):
        check_value(value)


def test_what_describe_makes_validates():
    for value in (describe(np.zeros((2, 3), np.float32)), describe(np.asarray(np.int8(3)), "int8"),
                  {"type": "float", "dtype": None, "shape": [], "array": np.asarray(2.0)},
                  {"type": "MyThing", "dtype": None, "shape": None, "array": None}):
        check_value({"data": value, "flag": True, "name": "Square"})
        assert is_description(value)


def test_a_bare_nan_where_a_description_is_expected_cannot_be_checked():
    with pytest.raises(Uncheckable):
        check_array(float("nan"), describe(np.zeros(3)), "square(x).data")
    with pytest.raises(Uncheckable):
        check_variable("Variable", "square(x)")
    with pytest.raises(Uncheckable):
        check_equal(np.zeros(2), [2], "y.shape")


def test_a_broken_expected_value_stays_a_loud_error():
    with pytest.raises(TypeError):
        check_array(describe(np.zeros(3)), float("nan"), "square(x).data")


# --- names in feedback (item 6) ------------------------------------------------------------

SECRET = "Leak_0_73215"


def test_student_chosen_type_names_never_reach_feedback():
    got = {"type": SECRET, "dtype": None, "shape": None, "array": None}
    with pytest.raises(CheckFailure) as failure:
        check_array(got, describe(np.zeros(3)), "square(x).data")
    texts = [Message.render(failure.value.prop, lang) for lang in ("en", "ko")]
    texts += [Message.render(failure.value.detail, lang) for lang in ("en", "ko")]
    assert all(SECRET not in text for text in texts)
    assert "an object of another type" in texts[0]
    got = {"type": SECRET, "dtype": "float64", "shape": [3], "array": np.ones(3)}
    with pytest.raises(CheckFailure) as failure:
        check_array(got, describe(np.zeros(3)), "y")
    assert SECRET not in str(failure.value.detail) and "[1., 1., 1.]" in str(failure.value.detail)
    with pytest.raises(CheckFailure) as failure:
        check_variable({"is_variable": False, "output_type": SECRET}, "square(x)")
    assert SECRET not in str(failure.value.detail)
    with pytest.raises(CheckFailure) as failure:
        check_equal(SECRET, "Square", "middle_creator")
    assert SECRET not in str(failure.value.detail)


def test_allowed_type_names_are_still_shown():
    assert shown_type("float64") == "float64" and shown_type("Variable") == "Variable"
    with pytest.raises(CheckFailure) as failure:
        check_array({"type": "list", "dtype": None, "shape": None, "array": None}, describe(np.zeros(3)), "y")
    assert "was a list" in str(failure.value.prop)


@pytest.mark.parametrize("hidden", [True, False])
def test_student_chosen_exception_names_never_reach_feedback(hidden):
    error = StudentError(*error_fields({"type": SECRET, "message": "", "where": "backward", "line": 3}))
    text = student_error_message(error, hidden)
    rendered = [text.render(lang) for lang in ("en", "ko")]
    assert all(SECRET not in t for t in rendered) and "an exception of its own type" in rendered[0]
    builtin = student_error_message(StudentError(*error_fields({"type": "ZeroDivisionError"})), hidden)
    assert "ZeroDivisionError" in str(builtin)


@pytest.mark.parametrize("where, line, shown_where, shown_line", [
    ("backward", 12, "backward", 12), ("x" * 500, 12, None, 12), ("a b; c", 10**12, None, None),
    (["backward"], True, None, None), ("<module>", -3, None, None)])
def test_where_and_line_are_bounded(where, line, shown_where, shown_line):
    _, _, got_where, got_line = error_fields({"type": "TypeError", "where": where, "line": line})
    assert (got_where, got_line) == (shown_where, shown_line)


def test_the_not_shown_output_count_is_only_a_magnitude():
    from grader.results import _more_output

    texts = {_more_output(n).render("en") for n in range(1 << 20, (1 << 20) + 5000, 97)}
    assert texts == {"[... over 1 MiB of further output not shown]"}
    assert "12345" not in _more_output(12345).render("en")
    assert _more_output(10).render("ko") == _more_output(900).render("ko")


# --- whose fault: the student's answer or the test (plugin.whose) ---------------------------

class _Item:
    """Just enough of a pytest item for ``GradingPlugin.whose``: its body runs on ``student``."""

    name = "test_x"

    def __init__(self, handle, body):
        self.funcargs = {"student": handle}
        self._body = body

    def runtest(self):
        self._body(self.funcargs["student"])


def _whose(assignment, reference_path, body, error):
    from grader.errors import SubmissionError
    from grader.handles import ReferenceHandle, StudentHandle
    from grader.plugin import GradingPlugin

    plugin = GradingPlugin.__new__(GradingPlugin)
    plugin.reference_handle = ReferenceHandle(reference_path, assignment.probes, {})
    handle = StudentHandle(SubmissionError("empty", file="x"), None, 0, assignment)
    return plugin.whose(_Item(handle, body), error), handle.events


def _forward_data(student):
    return student.probe("forward", func="square", x=np.array([1.0, 2.0]))["data"]["array"].shape


def test_an_exception_the_reference_does_not_hit_is_the_students(assignment):
    error, events = _whose(assignment, assignment.reference, _forward_data, TypeError("string indices"))
    assert isinstance(error, Uncheckable) and any("TypeError" in e and "could not check" in e for e in events)


def test_an_exception_the_reference_hits_too_is_a_bug_in_the_test(assignment):
    def broken(student):
        return student.probe("forward", func="square", x=np.array([1.0]))["no such key"]

    original = KeyError("no such key")
    error, events = _whose(assignment, assignment.reference, broken, original)
    assert error is original and events == []


def test_without_a_reference_answer_the_student_gets_the_benefit_of_the_doubt(assignment):
    error, _ = _whose(assignment, None, _forward_data, TypeError("x"))
    assert isinstance(error, Uncheckable)


def test_expected_failures_are_left_alone(assignment):
    for original in (CheckFailure(Message("check.wrong", {"what": "y"})), StudentError("TypeError", "", None, None)):
        error, events = _whose(assignment, assignment.reference, _forward_data, original)
        assert error is original and events == []


# --- the worker's run-time watch (issue 23, item 2) ---------------------------------------

def test_signs_are_kept_bounded_and_only_with_the_nonce(fake):
    fake.send({"event": "sign", "kind": "frames", "file": "dezero/core.py", "line": 42, "cell": None})
    fake.send({"event": "sign", "kind": "x" * 100, "file": "../../etc/passwd", "line": -1, "cell": "1"})
    fake.send_raw(json.dumps({"event": "sign", "kind": "gc", "file": None, "line": 1, "cell": None}))  # no nonce
    fake.send({"event": "ready", "layers": {}, "load_errors": [], "defined": []})
    fake.worker.wait_ready(5)
    assert fake.worker.signs == [{"kind": "frames", "file": "dezero/core.py", "line": 42, "cell": None},
                                 {"kind": "?", "file": None, "line": None, "cell": None}]
    assert fake.worker.untagged == 1
