"""Plain data across the sandbox boundary: JSON, with ndarrays as dtype + shape + base64 bytes.

Everything the student's process sends is untrusted: messages are length-prefixed and
size-capped, decoded with ``allow_pickle=False``, and only a small set of types survive.
"""
from __future__ import annotations

import base64
import binascii
import json
import json.encoder
import math
import re
import socket
import struct
from typing import Any

import numpy as np

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
_HEADER = struct.Struct("!I")
_ARRAY_KEY = "__ndarray__"
# Only numbers and booleans cross the boundary; object, void and string arrays are refused.
_ALLOWED_DTYPE_KINDS = set("biufc")
_MAX_ARRAY_DIMS = 32
# A dtype is named by its array-protocol string only ("<f8", "|b1"): nothing numpy would parse
# into a structured, sub-array or object dtype ever reaches np.dtype.
_DTYPE_STR = re.compile(r"[<>|=][biufc][1-9][0-9]?")
# Bounds on what one message may build in the trusted process. JSON that nests deeper than
# MAX_DEPTH, or holds more containers or items than below, is refused before it is parsed:
# 8 MiB of "[]," would otherwise make 2.7 million lists (about 150 MB) in json.loads.
MAX_DEPTH = 32
MAX_CONTAINERS = 50_000
MAX_ITEMS = 200_000


class WireError(Exception):
    """A message that is malformed, too large or of a forbidden type."""


def _refuse(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# json.dumps's own C encoder, made once, with json.dumps's defaults (ensure_ascii, allow_nan, ", "/": ").
# json.dumps is Python code that looks the encoder up in the json package each time it is called;
# in the worker, where student code can replace that, the wire encodes with this one (grader.binding).
_ENCODER = json.encoder.c_make_encoder(None, _refuse, json.encoder.encode_basestring_ascii, None, ": ", ", ",
                                       False, False, True) if json.encoder.c_make_encoder else None


def encode_value(value: Any) -> Any:
    """Turn probe output into JSON-ready data; arrays become base64 ``.npy`` blobs."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _ALLOWED_DTYPE_KINDS:
            raise WireError("arrays of a non-numeric dtype cannot be sent")  # its name could be the student's
        # Raw bytes plus a JSON header: as safe as .npy without pickle, and 10x cheaper to parse.
        return {_ARRAY_KEY: {"dtype": value.dtype.str, "shape": list(value.shape),
                             "data": binascii.b2a_base64(np.ascontiguousarray(value).tobytes(), newline=False).decode("ascii")}}
    if isinstance(value, dict):
        return {str(key): encode_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise WireError("values of a type other than numbers, text, lists, dicts and numeric arrays cannot be sent")


def decode_value(data: Any, depth: int = 0) -> Any:
    """Inverse of :func:`encode_value`, refusing anything outside the allowed types or deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise WireError(f"message nested deeper than {MAX_DEPTH}")
    if isinstance(data, dict):
        if set(data) == {_ARRAY_KEY}:
            return _decode_array(data[_ARRAY_KEY])
        return {str(key): decode_value(item, depth + 1) for key, item in data.items()}
    if isinstance(data, list):
        return [decode_value(item, depth + 1) for item in data]
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    raise WireError("unexpected type in message")


def copy_value(value: Any) -> Any:
    """A deep copy of a decoded value (arrays copied, containers rebuilt): cheaper than decoding again."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {key: copy_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [copy_value(item) for item in value]
    return value


def _decode_array(header: Any) -> np.ndarray:
    if not isinstance(header, dict) or set(header) != {"dtype", "shape", "data"}:
        raise WireError("malformed array")
    code, shape, data = header["dtype"], header["shape"], header["data"]
    if not isinstance(code, str) or not _DTYPE_STR.fullmatch(code):
        raise WireError("array of a forbidden dtype")
    # Exact ints only (no bools, floats or strings), and the size in Python ints: np.prod
    # in int64 wraps around, so a huge claimed shape could pass as a small one.
    if (not isinstance(shape, list) or len(shape) > _MAX_ARRAY_DIMS
            or not all(type(n) is int and 0 <= n <= MAX_MESSAGE_BYTES for n in shape)):
        raise WireError("malformed array shape")
    try:
        dtype = np.dtype(code)
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
    except (TypeError, ValueError):
        raise WireError("malformed array header") from None
    if raw is None or dtype.kind not in _ALLOWED_DTYPE_KINDS or dtype.fields is not None:
        raise WireError("malformed array header")
    if len(raw) != dtype.itemsize * math.prod(shape):
        raise WireError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def frame(message: dict) -> bytes:
    """One length-prefixed JSON frame."""
    data = encode_value(message)
    payload = ("".join(_ENCODER(data, 0)) if _ENCODER else json.dumps(data, allow_nan=True)).encode("utf-8")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    return _HEADER.pack(len(payload)) + payload


def send_message(sock: socket.socket, message: dict) -> None:
    sock.sendall(frame(message))


def parse_message(payload: bytes) -> dict:
    """Decode one framed payload; the result is always a dict of allowed types."""
    # Counting brackets and commas is a C-speed scan; base64 array data holds none of them.
    if payload.count(b"[") + payload.count(b"{") > MAX_CONTAINERS or payload.count(b",") > MAX_ITEMS:
        raise WireError("message holds too many items")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WireError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise WireError("message is not a JSON object")
    return decode_value(data)


class MessageReader:
    """Incremental reader of length-prefixed frames from a non-blocking socket."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[dict]:
        return [message for message, _ in self.feed_sized(chunk)]

    def feed_sized(self, chunk: bytes) -> list[tuple[dict, int]]:
        """Like :meth:`feed`, with each message's payload size (what holding it costs, roughly)."""
        self._buffer.extend(chunk)
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (length,) = _HEADER.unpack_from(self._buffer)
            if length > MAX_MESSAGE_BYTES:
                raise WireError(f"message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
            if len(self._buffer) < _HEADER.size + length:
                break
            payload = bytes(self._buffer[_HEADER.size:_HEADER.size + length])
            del self._buffer[:_HEADER.size + length]
            messages.append((parse_message(payload), length))
        return messages


def recv_message(sock: socket.socket) -> dict | None:
    """Blocking read of one frame (used inside the sandbox, where the peer is trusted)."""
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    (length,) = _HEADER.unpack(header)
    if length > MAX_MESSAGE_BYTES:
        raise WireError("request too large")
    payload = _recv_exact(sock, length)
    if payload is None:
        return None
    return parse_message(payload)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks.extend(chunk)
    return bytes(chunks)
