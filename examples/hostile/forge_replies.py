# Forges the worker's replies: reads the probe requests the grader queued ahead (compute-ahead
# queues the whole plan before this file even loads) straight from the worker's socket and
# answers each one itself with a malformed value, cycling through MODES.
# It goes past the worker's first barriers as a determined attacker would (the review flag names
# each tool it uses): the socket was moved to a high fd, so every fd is tried, and replies must
# carry the worker's secret tag, which it reads from the dispatcher's frame.
import json, math, os, socket, stat, struct, sys

MODES = ["string", "nan", "describe", "exit", "overflow", "deep"]


def _worker_socket():
    for fd in sorted(int(n) for n in os.listdir("/proc/self/fd")):  # the socket sits at a random high fd
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return socket.fromfd(fd, socket.AF_UNIX, socket.SOCK_STREAM)
        except OSError:
            pass
    return None


def _queued_requests(sock):
    sock.settimeout(0.5)
    buffer = b""
    while True:
        try:
            chunk = sock.recv(1 << 16)
        except (socket.timeout, OSError):
            break
        if not chunk:
            break
        buffer += chunk
    while len(buffer) >= 4:
        (length,) = struct.unpack("!I", buffer[:4])
        if len(buffer) < 4 + length:
            break
        yield json.loads(buffer[4:4 + length])
        buffer = buffer[4 + length:]


def _worker_tag():
    frame = sys._getframe()
    while frame is not None and "tag" not in frame.f_locals:
        frame = frame.f_back
    return frame.f_locals["tag"] if frame is not None else None


TAG = json.dumps(_worker_tag())


def _forged(mode, ident):
    head = '{"tag": %s, "id": %d, "ok": true, "value": ' % (TAG, ident)
    if mode == "string":
        return head + '"not a dict"}'
    if mode == "nan":
        return head + "NaN}"
    if mode == "describe":  # describe()-shaped, but the shape does not match the array
        return head + '{"type": "ndarray", "dtype": "float64", "shape": [99], "array": 1.5}}'
    if mode == "exit":
        return '{"event": "exit", "status": {"signal": [11]}}'
    if mode == "overflow":  # 2**32 * 2**32 wraps to 0 in int64: an empty buffer "matches"
        return head + '{"__ndarray__": {"dtype": "<f8", "shape": [4294967296, 4294967296], "data": ""}}}'
    if mode == "deep":
        return head + "[" * 200_000 + "]" * 200_000 + "}"
    raise ValueError(mode)


def _forge():
    sock = _worker_socket()
    if sock is None:
        return
    for number, request in enumerate(_queued_requests(sock)):
        if request.get("op") == "probe":
            data = _forged(MODES[number % len(MODES)], request["id"]).encode()
            sock.sendall(struct.pack("!I", len(data)) + data)


_forge()
"""DeZero stage 1 (steps 1-10): variables, functions and an iterative backward pass.

Fill in every body that raises ``NotImplementedError``; the TODO comments say what to write.
Check yourself with ``grader check`` before you submit.
"""
import numpy as np


def as_array(x):
    """Return ``x`` as an ndarray; numpy operations on 0-d arrays yield scalars."""
    if np.isscalar(x):
        return np.array(x)
    return x


class Variable:
    """A box around an ndarray that remembers its gradient and the function that made it."""

    def __init__(self, data):
        if data is not None and not isinstance(data, np.ndarray):
            raise TypeError(f"{type(data)} is not supported")
        self.data = data
        self.grad = None
        self.creator = None

    def set_creator(self, func):
        self.creator = func

    def backward(self):
        """Fill in ``grad`` for every variable upstream of this one."""
        if self.grad is None:
            self.grad = np.ones_like(self.data)
        todo = [self.creator]
        while todo:
            f = todo.pop()
            if f is None:
                continue
            f.input.grad = f.backward(f.output.grad)
            todo.append(f.input.creator)


class Function:
    """Base class of every operation: wraps ``forward`` and links the graph."""

    def __call__(self, input):
        y = as_array(self.forward(input.data))
        out = Variable(y)
        out.set_creator(self)
        self.input, self.output = input, out
        return out

    def forward(self, x):
        raise NotImplementedError()

    def backward(self, gy):
        raise NotImplementedError()


class Square(Function):
    """y = x ** 2"""

    def forward(self, x):
        return x ** 2

    def backward(self, gy):
        return 2 * self.input.data * gy


class Exp(Function):
    """y = e ** x"""

    def forward(self, x):
        return np.exp(x)

    def backward(self, gy):
        return np.exp(self.input.data) * gy


def square(x):
    return Square()(x)


def exp(x):
    return Exp()(x)


def numerical_diff(f, x, eps=1e-4):
    """Central-difference estimate of df/dx at the Variable ``x``."""
    below = Variable(x.data - eps)
    above = Variable(x.data + eps)
    return (f(above).data - f(below).data) / (2 * eps)
