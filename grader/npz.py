"""A ``.npz`` file written by a submission, read in the trusted process as data only.

Student code may write any bytes where a probe expects ``np.savez``'s output (a model's
``save_weights``). The probe sends the bytes back as a uint8 array; this module is the only
way the trusted side reads them: the zip is read with bounded reads (``archives.read_zip``),
every member must be a plain ``.npy`` of a numeric dtype, read with ``allow_pickle=False``,
and the names, count and sizes are bounded before anything is built. Arrays going the other
way (weights for the reference to load) are written here too, so the reference only ever
loads a file the kit made.
"""
from __future__ import annotations

import io
import re
import zipfile

import numpy as np

from grader.archives import Unread, read_zip
from grader.errors import SubmissionError

MAX_NPZ_BYTES = 4 << 20      # the file as written
MAX_ARRAY_BYTES = 16 << 20   # all arrays together, decompressed
MAX_ARRAYS = 256
# A parameter path such as "block/conv/W": what save_weights names an array, and nothing else.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*){0,15}", re.ASCII)
_NUMERIC = set("biufc")


class NpzError(ValueError):
    """The bytes are not an .npz this kit reads; the text names why, never the file's contents."""


def as_bytes(blob: object) -> bytes:
    """The file's bytes from a probe's answer (a uint8 array), refusing anything else."""
    if isinstance(blob, (bytes, bytearray)):
        data = bytes(blob)
    elif isinstance(blob, np.ndarray) and blob.dtype == np.uint8 and blob.ndim == 1:
        data = blob.tobytes()
    else:
        raise NpzError("the file's bytes did not come back as a 1-d uint8 array")
    if len(data) > MAX_NPZ_BYTES:
        raise NpzError(f"the file is larger than {MAX_NPZ_BYTES >> 20} MiB")
    return data


def read_npz(blob: object) -> dict[str, np.ndarray]:
    """``{name: array}`` of an .npz's bytes; NpzError for anything but plain numeric arrays."""
    data = as_bytes(blob)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception:  # noqa: BLE001 - BadZipFile, or ValueError/EOFError on forged headers
        raise NpzError("the file is not an .npz (zip) archive") from None
    try:
        members = read_zip(archive, "weights", file_cap=MAX_ARRAY_BYTES, total_cap=MAX_ARRAY_BYTES,
                           skip=lambda name: False)
    except SubmissionError:
        raise NpzError(f"the arrays hold more than {MAX_ARRAY_BYTES >> 20} MiB") from None
    if len(members) > MAX_ARRAYS:
        raise NpzError(f"the file holds more than {MAX_ARRAYS} arrays")
    arrays = {}
    for member, content in members.items():
        name = member[:-4] if member.endswith(".npy") else None
        if name is None or not NAME.fullmatch(name):
            raise NpzError("the file holds a member that is not a parameter's .npy")
        if isinstance(content, Unread):
            raise NpzError("a member of the file could not be read")
        arrays[name] = _read_npy(content)
    return arrays


def _read_npy(content: bytes) -> np.ndarray:
    try:
        array = np.lib.format.read_array(io.BytesIO(content), allow_pickle=False)
    except Exception:  # noqa: BLE001 - ValueError for pickles and bad headers, EOFError, ...
        raise NpzError("a member of the file is not a plain numeric .npy array") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in _NUMERIC or array.dtype.fields is not None:
        raise NpzError("a member of the file is not a plain numeric .npy array")
    return array


def write_npz(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """The bytes of an .npz holding ``arrays`` (names checked), as a uint8 array a probe can take."""
    for name, array in arrays.items():
        if not NAME.fullmatch(name) or not isinstance(array, np.ndarray) or array.dtype.kind not in _NUMERIC:
            raise NpzError(f"{name!r}: not a parameter name with a numeric array")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return np.frombuffer(buffer.getvalue(), dtype=np.uint8).copy()
