"""Fuzzing the trusted side with Hypothesis: random and adversarial worker replies.

Frames go through the real ``wire`` decoding and ``client.Worker`` (over a socket pair, no
sandbox), then the real reply validation and checks. The property is the one a batch needs:
reading a fuzzed worker always ends (its replies, or one WorkerFailure), every outcome is one
the grader reports as the student's (never an internal error), feedback stays bounded and
free of the student's names, and an honest worker read alongside gets its answers unchanged.
"""
import json
import math
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader import wire
from grader.checks import CheckFailure, check_array, check_equal, check_variable
from grader.handles import StudentError
from grader.i18n import Message
from grader.plugin import GradingPlugin, student_error_message
from grader.replies import Uncheckable, check_value, error_fields
from grader.sandbox import WorkerFailure, client

from test_trusted_side import FakeWorker

MARK = "Zq9Leak"  # every student-chosen string the fuzzer makes contains it; feedback must not
_names = st.sampled_from([MARK + "Type", "float64", "ndarray", "Variable", "int", MARK * 3, "x" * 2000])
_floats = st.floats(allow_nan=True, allow_infinity=True)
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), _floats, _names)
_plain = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["data", "y", "grad", "type", "array", MARK]),
                                                 inner, max_size=4)), max_leaves=20)
_dtypes = st.sampled_from(["<f8", "<f4", "<i8", "|b1", "<c16", "|u1", "<f2", ">f8", "|O", "<U3", "f8,f8", 7])


@st.composite
def _arrays(draw):
    """An ``__ndarray__`` header: honest, or lying about its dtype, shape or data."""
    dtype = draw(st.sampled_from(["<f8", "<f4", "<i8", "|b1"]))
    shape = draw(st.lists(st.integers(0, 4), max_size=3))
    with np.errstate(all="ignore"):
        array = np.asarray(np.zeros(shape, dtype=np.dtype(dtype)) + (draw(_floats) if dtype[1] == "f" else 1))
    header = wire.encode_value(array)["__ndarray__"]
    lie = draw(st.sampled_from(["none", "dtype", "shape", "data", "overflow"]))
    if lie == "dtype":
        header["dtype"] = draw(_dtypes)
    elif lie == "shape":
        header["shape"] = draw(st.one_of(st.lists(st.integers(-3, 2**40), max_size=4), _scalars))
    elif lie == "data":
        header["data"] = draw(st.sampled_from(["", "!!", "AAAA", None, 5]))
    elif lie == "overflow":
        header["shape"], header["data"] = [2**32, 2**32], ""
    return {"__ndarray__": header}


@st.composite
def _descriptions(draw):
    """``describe()``-shaped dicts: honest, or with fields that contradict each other."""
    array = draw(_arrays())
    return {"type": draw(_names), "dtype": draw(st.one_of(st.none(), st.sampled_from(["float64", "float32", "int64"]),
                                                          _names)),
            "shape": draw(st.one_of(st.none(), st.lists(st.integers(0, 4), max_size=3), _scalars)),
            "array": draw(st.one_of(st.none(), st.just(array), _scalars))}


_values = st.one_of(_plain, _arrays(), _descriptions(), st.fixed_dictionaries({"data": _descriptions()}),
                    st.fixed_dictionaries({"is_variable": _scalars, "output_type": _names, "data": _descriptions()}))


def _raw_frame(kind, ident):
    """Payloads a JSON encoder would never make."""
    head = '{"id": %d, "ok": true, "value": ' % ident
    return {"deep": head + "[" * 5000 + "]" * 5000 + "}", "wide": head + "[" + "[]," * 60_000 + "[]]}",
            "garbage": "\x00\xff{", "not_object": "[1, 2]", "bigint": head + "9" * 5000 + "}",
            "nan_text": head + "NaN}"}[kind].encode("utf-8", "surrogatepass")


@st.composite
def _conversations(draw):
    """What a hostile worker sends for ``count`` requests: in any order, with extras."""
    count = draw(st.integers(1, 4))
    frames = []
    for ident in range(1, count + 1):
        kind = draw(st.sampled_from(["value", "value", "error", "raw", "missing"]))
        if kind == "value":
            frames.append(json.dumps({"id": ident, "ok": True, "value": draw(_values)}, allow_nan=True).encode())
        elif kind == "error":
            frames.append(json.dumps({"id": ident, "ok": False, "error": draw(st.one_of(_plain, st.fixed_dictionaries(
                {"type": _names, "message": _names, "where": _names, "line": _scalars})))}).encode())
        elif kind == "raw":
            frames.append(_raw_frame(draw(st.sampled_from(["deep", "wide", "garbage", "not_object", "bigint",
                                                           "nan_text"])), ident))
    extras = draw(st.lists(st.one_of(
        st.builds(lambda i, v: {"id": i, "ok": True, "value": v}, st.integers(-5, 10**12), _scalars),  # unsolicited
        st.builds(lambda s: {"event": "exit", "status": s}, _plain),
        st.builds(lambda l: {"event": "ready", "layers": l, "load_errors": []}, _plain),
        st.builds(lambda i: {"id": i, "ok": "yes"}, st.integers(1, 4)),
    ), max_size=4))
    frames += [json.dumps(extra, allow_nan=True).encode() for extra in extras]
    order = draw(st.permutations(range(len(frames))))
    return count, [frames[i] for i in order]


WANT = {"type": "ndarray", "dtype": "float64", "shape": [3], "array": np.array([1.0, 4.0, 9.0])}


def _check_like_the_tests(value):
    """The checks the assignment's tests make, on a fuzzed value in every place they look."""
    check_value(value)
    check_array(value, WANT, "y")
    check_array(value.get("data") if isinstance(value, dict) else value, WANT, "y.data", ndarray=True)
    check_variable(value, "square(x)")
    check_equal(value, [3], "y.shape")


def _feedback(error, hidden):
    plugin = GradingPlugin.__new__(GradingPlugin)
    plugin.internal_errors = []
    message = plugin.feedback(error, hidden, "test_x")
    assert plugin.internal_errors == [], f"{type(error).__name__} would stop the batch: {error}"
    return message


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_conversations(), st.booleans())
def test_any_worker_reply_gets_a_bounded_honest_outcome_and_leaves_others_alone(conversation, hidden):
    count, frames = conversation
    fuzzed, honest = FakeWorker(), FakeWorker()
    sender = None
    try:
        idents = [fuzzed.worker.submit("forward", {}) for _ in range(count)]
        mine = honest.worker.submit("forward", {})
        # Written from a thread, as a worker would: the frames can outgrow the socket's buffer.
        sender = threading.Thread(target=_send_all, args=(fuzzed, frames), daemon=True)
        sender.start()
        honest.send({"id": mine, "ok": True, "value": WANT})
        outcomes = []
        for ident in idents:
            try:
                reply = fuzzed.worker.result(ident, 0.2)
            except WorkerFailure as failure:
                outcomes.append(failure)
                continue
            if not reply["ok"]:
                outcomes.append(StudentError(*error_fields(reply.get("error"))))
                continue
            try:
                _check_like_the_tests(reply["value"])
                outcomes.append(None)
            except (CheckFailure, Uncheckable) as error:
                outcomes.append(error)
        assert fuzzed.worker._held_bytes <= client.MAX_HELD_BYTES and len(fuzzed.worker._replies) <= count
        for outcome in outcomes:
            if outcome is None:
                continue
            message = (student_error_message(outcome, hidden) if isinstance(outcome, StudentError)
                       else _feedback(outcome, hidden))
            for lang in ("en", "ko"):
                text = Message.render(message, lang)
                if not hidden and isinstance(outcome, StudentError):
                    # Public tests show the function's name and the exception's text, by design.
                    text = text.replace(outcome.message, "").replace(outcome.where or "", "")
                assert len(text) < 2000 and MARK not in text, text
        # The honest worker next to it answers exactly what it sent.
        got = honest.worker.result(mine, 2)["value"]
        assert got["type"] == "ndarray" and np.array_equal(got["array"], WANT["array"])
    finally:
        fuzzed.close()
        honest.close()
        if sender is not None:
            sender.join(5)
            assert not sender.is_alive()


def _send_all(fake, frames):
    try:
        for frame in frames:
            fake.send_raw(frame)
    except OSError:
        pass  # the grader killed this worker and closed its end


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_a_wire_error_or_plain_data(payload):
    try:
        message = wire.parse_message(payload)
    except wire.WireError:
        return
    assert isinstance(message, dict)
    json.dumps(wire.encode_value(message), allow_nan=True)  # plain data again


@pytest.mark.parametrize("depth", [31, 33, 2000, 200_000])
def test_depth_boundary(depth):
    payload = ('{"v": ' + "[" * depth + "]" * depth + "}").encode()
    if depth + 1 <= wire.MAX_DEPTH:
        assert wire.parse_message(payload)
    else:
        with pytest.raises(wire.WireError):
            wire.parse_message(payload)
    assert math.isfinite(depth)
