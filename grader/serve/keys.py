"""The service's secrets, created on first start in its data folder (mode 0600) and never printed or served:
the tool's RSA private key (its public half is the JWKS platforms fetch) and the session-cookie secret."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

KEY_FILE = "tool-private-key.pem"
SECRET_FILE = "session-secret"


@dataclass(frozen=True)
class ToolKey:
    path: Path       # the PEM file: grader.lms.lti signs AGS token requests with it
    kid: str         # RFC 7638 thumbprint of the public key
    public_jwk: dict

    def jwks(self) -> dict:
        return {"keys": [self.public_jwk]}


def private_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def _write_private(path: Path, data: bytes) -> None:
    """Created with mode 0600 from the start (never world-readable, even for a moment)."""
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process of this service made it first: use theirs
    with os.fdopen(handle, "wb") as out:
        out.write(data)


def tool_key(folder: Path) -> ToolKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = private_folder(folder) / KEY_FILE
    if not path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    numbers = private.public_key().public_numbers()
    jwk = {"e": _b64(numbers.e), "kty": "RSA", "n": _b64(numbers.n)}
    kid = base64.urlsafe_b64encode(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True)
                                                  .encode()).digest()).rstrip(b"=").decode()
    return ToolKey(path=path, kid=kid, public_jwk={**jwk, "kid": kid, "alg": "RS256", "use": "sig"})


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def session_secret(folder: Path) -> str:
    path = private_folder(folder) / SECRET_FILE
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(48).encode())
    return path.read_text().strip()
