"""Plain data across the sandbox boundary: JSON with ndarrays as base64 ``.npy`` (no pickle).

Everything the student's process sends is untrusted: messages are length-prefixed and
size-capped, decoded with ``allow_pickle=False``, and only a small set of types survive.
"""
from __future__ import annotations

import base64
import io
import json
import socket
import struct
from typing import Any

import numpy as np

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
_HEADER = struct.Struct("!I")
_ARRAY_KEY = "__ndarray__"
# Object, void and string arrays are refused: only numbers and booleans cross the boundary.
_ALLOWED_DTYPE_KINDS = set("biufc")


class WireError(Exception):
    """A message that is malformed, too large or of a forbidden type."""


def encode_value(value: Any) -> Any:
    """Turn probe output into JSON-ready data; arrays become base64 ``.npy`` blobs."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in _ALLOWED_DTYPE_KINDS:
            raise WireError(f"arrays of dtype {value.dtype} cannot be sent")
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        return {_ARRAY_KEY: base64.b64encode(buffer.getvalue()).decode("ascii")}
    if isinstance(value, dict):
        return {str(key): encode_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_value(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise WireError(f"values of type {type(value).__name__} cannot be sent")


def decode_value(data: Any) -> Any:
    """Inverse of :func:`encode_value`, refusing anything outside the allowed types."""
    if isinstance(data, dict):
        if set(data) == {_ARRAY_KEY}:
            return _decode_array(data[_ARRAY_KEY])
        return {str(key): decode_value(item) for key, item in data.items()}
    if isinstance(data, list):
        return [decode_value(item) for item in data]
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    raise WireError(f"unexpected {type(data).__name__} in message")


def _decode_array(blob: Any) -> np.ndarray:
    if not isinstance(blob, str):
        raise WireError("array payload is not text")
    try:
        array = np.load(io.BytesIO(base64.b64decode(blob, validate=True)), allow_pickle=False)
    except Exception as exc:  # any malformed payload is the sender's fault
        raise WireError(f"bad array payload: {type(exc).__name__}") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in _ALLOWED_DTYPE_KINDS:
        raise WireError("array of a forbidden dtype")
    return array


def send_message(sock: socket.socket, message: dict) -> None:
    payload = json.dumps(encode_value(message), allow_nan=True).encode("utf-8")
    if len(payload) > MAX_MESSAGE_BYTES:
        raise WireError(f"message of {len(payload)} bytes exceeds {MAX_MESSAGE_BYTES}")
    sock.sendall(_HEADER.pack(len(payload)) + payload)


def parse_message(payload: bytes) -> dict:
    """Decode one framed payload; the result is always a dict of allowed types."""
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WireError("message is not valid JSON") from None
    if not isinstance(data, dict):
        raise WireError("message is not a JSON object")
    return decode_value(data)


class MessageReader:
    """Incremental reader of length-prefixed frames from a non-blocking socket."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[dict]:
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
            messages.append(parse_message(payload))
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
