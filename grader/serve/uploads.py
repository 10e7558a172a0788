"""An upload, checked before anything is stored: its name made safe, its size within the caps of
``grader grade`` (5 MiB for a .py or .ipynb, 50 MiB for a zip; what a zip unzips to is bounded when it
is graded, by the same reader ``grader grade`` uses). What it contains is the grader's business, later,
in the sandbox: here a file is only bytes with a name."""
from __future__ import annotations

import re
import unicodedata

from grader.submission import MAX_FILE_BYTES, MAX_ZIP_BYTES

KINDS = (".py", ".ipynb", ".zip")
NAME_LENGTH = 100
# The multipart request around the file: boundaries, headers, the assignment field.
FORM_OVERHEAD = 64 << 10
MAX_UPLOAD_BYTES = MAX_ZIP_BYTES + FORM_OVERHEAD
_UNSAFE = re.compile(r"[^\w.\- ]+")


class UploadRefused(ValueError):
    """Why an upload is refused, as the text key of ``texts`` and its parameters."""

    def __init__(self, key: str, **params) -> None:
        super().__init__(key)
        self.key, self.params = key, params


def safe_name(name: str) -> str:
    """The file's own name, without folders, control or markup characters, leading dots, or excess length.

    It labels feedback and decides how the file is read, so its kind (.py, .ipynb, .zip) must survive.
    """
    base = unicodedata.normalize("NFC", str(name or "")).replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .") or "upload"
    stem, dot, suffix = base.rpartition(".")
    if not dot:
        return base[:NAME_LENGTH]
    keep = NAME_LENGTH - len(suffix) - 1
    return f"{stem[:max(keep, 1)]}.{suffix[:NAME_LENGTH - 2]}"


def check_upload(name: str, data: bytes) -> str:
    """The safe name of an acceptable upload; ``UploadRefused`` says why one is not."""
    safe = safe_name(name)
    kind = next((k for k in KINDS if safe.lower().endswith(k)), None)
    if kind is None:
        raise UploadRefused("upload.wrong_kind", name=safe)
    if not data:
        raise UploadRefused("upload.empty", name=safe)
    cap = MAX_ZIP_BYTES if kind == ".zip" else MAX_FILE_BYTES
    if len(data) > cap:
        raise UploadRefused("upload.too_large", name=safe, mib=cap >> 20)
    return safe
