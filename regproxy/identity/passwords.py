"""Password hashes: distribution's htpasswd bcrypt as it is, scrypt for regproxy's own.

    $2y$... / $2b$... / $2a$...        bcrypt (what `htpasswd -B` writes, what distribution reads)
    $scrypt$ln=15,r=8,p=1$SALT$HASH    scrypt (RFC 7914), salt and hash base64 without padding

Verification is constant-time and costs the same whether or not the user exists: an unknown
user is checked against :data:`DUMMY_HASH`. These functions block for tens of milliseconds by
design; callers run them in a thread, never on the event loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

import bcrypt

SCRYPT_LOG_N = 15
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 128 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, log_n: int = SCRYPT_LOG_N) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=1 << log_n, r=SCRYPT_R, p=SCRYPT_P, maxmem=_MAXMEM, dklen=32
    )
    return f"$scrypt$ln={log_n},r={SCRYPT_R},p={SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def is_supported_hash(stored: str) -> bool:
    return stored.startswith(("$2y$", "$2b$", "$2a$")) or _parse_scrypt(stored) is not None


def _parse_scrypt(stored: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 5 or parts[0] or parts[1] != "scrypt":
        return None
    try:
        params = dict(p.split("=", 1) for p in parts[2].split(","))
        log_n, r, p = int(params["ln"]), int(params["r"]), int(params["p"])
        salt, digest = _unb64(parts[3]), _unb64(parts[4])
    except (KeyError, ValueError):
        return None
    if not (10 <= log_n <= 20 and 1 <= r <= 32 and 1 <= p <= 16 and len(digest) >= 16):
        return None
    return log_n, r, p, salt, digest


def verify_password(stored: str, password: str) -> bool:
    """Constant-time check of ``password`` against ``stored``; False for unknown formats."""
    if stored.startswith(("$2y$", "$2b$", "$2a$")):
        # bcrypt reads $2y$ as $2b$; only the first 72 bytes count, as in htpasswd.
        candidate = stored.replace("$2y$", "$2b$", 1).encode()
        try:
            return bcrypt.checkpw(password.encode()[:72], candidate)
        except ValueError:
            return False
    parsed = _parse_scrypt(stored)
    if parsed is None:
        return False
    log_n, r, p, salt, digest = parsed
    computed = hashlib.scrypt(password.encode(), salt=salt, n=1 << log_n, r=r, p=p, maxmem=_MAXMEM, dklen=len(digest))
    return hmac.compare_digest(computed, digest)


# Checked for unknown users, so that a miss costs what a hit costs.
DUMMY_HASH = "$scrypt$ln=15,r=8,p=1$cmVncHJveHktZHVtbXk$Lk3b8I4cWb3kq8bqkzS6cF0Tz0s2CkqkEdbCkOIRl5c"
