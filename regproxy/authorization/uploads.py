"""Upload sessions belong to the principal that opened them (pure).

distribution hands out an upload session as a ``Location`` (``/v2/<name>/blobs/uploads/<id>``,
with its own ``_state``); anyone with push on the repository who learns it could otherwise read,
append to, finish or cancel it. regproxy seals each session it hands out: an HMAC over the
repository, the upload id and the principal rides in the rewritten ``Location`` as one more
query parameter (:data:`SEAL_PARAM`), which regproxy checks on every later request of that
session and strips before forwarding. Nothing is stored: any replica holding the same key
checks it, across restarts.

In front of another regproxy the ``Location`` already carries that regproxy's seal: ours is
appended after it, and only the last seal is ours to check and strip, so the upstream's own
seal travels back to it untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit

from regproxy.oci.routes import UPLOAD_SEAL_PARAM as SEAL_PARAM

__all__ = ["SEAL_PARAM", "UploadSealer", "sealed_locations"]

_SEAL_LENGTH = 43  # base64url of 32 bytes, unpadded


class UploadSealer:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("an upload session key needs at least 16 bytes")
        self._key = key

    def seal(self, principal_id: str, repository: str, upload_id: str) -> str:
        message = "\0".join(("upload-session-v1", repository, upload_id, principal_id)).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def verify(self, seal: str | None, principal_id: str, repository: str, upload_id: str) -> bool:
        if seal is None or len(seal) != _SEAL_LENGTH:
            return False
        return hmac.compare_digest(seal, self.seal(principal_id, repository, upload_id))

    def seal_location(self, location: str, principal_id: str, repository: str) -> str:
        """``location`` with the seal added when it names an upload session of ``repository``."""
        parts = urlsplit(location)
        prefix = f"/v2/{repository}/blobs/uploads/"
        if not parts.path.startswith(prefix):
            return location
        upload_id = parts.path[len(prefix) :]
        if not upload_id or "/" in upload_id:
            return location
        # The registry's own parameters pass byte for byte (its `_state` is signed), and so does
        # a seal already there: behind another regproxy, that is the inner one's, which it checks.
        # Ours goes last; the route parser takes the last seal as this regproxy's own.
        kept = [p for p in parts.query.split("&") if p]
        kept.append(f"{SEAL_PARAM}={self.seal(principal_id, repository, upload_id)}")
        return urlunsplit(parts._replace(query="&".join(kept)))


def sealed_locations(
    headers: list[tuple[str, str]], sealer: UploadSealer, principal_id: str, repository: str
) -> list[tuple[str, str]]:
    """The upload session a ``Location`` hands out, sealed to the principal that opened it."""
    return [
        (name, sealer.seal_location(value, principal_id, repository) if name.lower() == "location" else value)
        for name, value in headers
    ]
