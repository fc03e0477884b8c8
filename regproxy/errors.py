"""The error hierarchy and the one table of OCI error codes.

Every error that reaches a client is an :class:`OciError`, rendered by one middleware as
``{"errors": [{"code", "message", "detail"}]}`` (OCI distribution spec, "Error Codes")::

    RegproxyError                     base of everything regproxy raises on purpose
    ├── ConfigError                   a bad setting, named by its key (start-up only)
    ├── PolicyError                   a policy document that does not parse or validate
    │   └── PolicyErrors              several of them in one document, reported together
    ├── IdentityFileError             an identities file that does not parse or validate
    └── OciError                      an answer to a registry client, with status and code
        ├── RouteRefused              the request line is not one the proxy forwards
        ├── Unauthenticated           401: no or invalid credentials; carries the challenge
        ├── Denied                    403: authenticated, not allowed
        ├── TooManyRequests           429: a per-principal limit, a throttled login
        ├── UpstreamUnavailable       503: the registry (or an identity issuer) cannot be reached
        ├── BodyTooLarge              413: a body over its route's limit (never forwarded)
        ├── BodyStalled               408: a body that stopped arriving
        ├── BodyFramingError          400/431: broken chunk framing, trailers over the limit
        └── RedirectRefused           502: a registry redirect that would go around regproxy
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """OCI distribution error codes (spec "Error Codes"), plus the two distribution adds."""

    BLOB_UNKNOWN = "BLOB_UNKNOWN"
    BLOB_UPLOAD_INVALID = "BLOB_UPLOAD_INVALID"
    BLOB_UPLOAD_UNKNOWN = "BLOB_UPLOAD_UNKNOWN"
    DIGEST_INVALID = "DIGEST_INVALID"
    MANIFEST_BLOB_UNKNOWN = "MANIFEST_BLOB_UNKNOWN"
    MANIFEST_INVALID = "MANIFEST_INVALID"
    MANIFEST_UNKNOWN = "MANIFEST_UNKNOWN"
    NAME_INVALID = "NAME_INVALID"
    NAME_UNKNOWN = "NAME_UNKNOWN"
    SIZE_INVALID = "SIZE_INVALID"
    TAG_INVALID = "TAG_INVALID"
    UNAUTHORIZED = "UNAUTHORIZED"
    DENIED = "DENIED"
    UNSUPPORTED = "UNSUPPORTED"
    TOOMANYREQUESTS = "TOOMANYREQUESTS"
    UNAVAILABLE = "UNAVAILABLE"
    UNKNOWN = "UNKNOWN"


class RegproxyError(Exception):
    """Base of every error regproxy raises on purpose."""


class ConfigError(RegproxyError):
    """A setting that cannot be used; the message names the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config `{key}`: {message}")
        self.key = key


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """Where a policy or identity statement was written: file and 1-based line."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


class PolicyError(RegproxyError):
    """A policy document that does not parse or validate, with where it went wrong."""

    def __init__(self, location: SourceLocation, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


class PolicyErrors(PolicyError):
    """Every error of one document, so that ``regproxy check`` reports them all in one run."""

    def __init__(self, errors: list[PolicyError]) -> None:
        super().__init__(errors[0].location, errors[0].message)
        self.errors = errors

    @staticmethod
    def raise_any(errors: list[PolicyError]) -> None:
        """Raise what ``errors`` holds: nothing, the one error, or every error together."""
        flat = [e for error in errors for e in (error.errors if isinstance(error, PolicyErrors) else [error])]
        if len(flat) == 1:
            raise flat[0]
        if flat:
            raise PolicyErrors(flat)


class IdentityFileError(RegproxyError):
    """An identities file that does not parse or validate."""

    def __init__(self, location: SourceLocation, message: str) -> None:
        super().__init__(f"{location}: {message}")
        self.location = location
        self.message = message


class OciError(RegproxyError):
    """An error answered to a registry client in OCI error JSON."""

    status: int = 400
    code: ErrorCode = ErrorCode.UNKNOWN

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        status: int | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.detail = detail
        self.headers: dict[str, str] = dict(headers or {})

    def body(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return {"errors": [entry]}


class RouteRefused(OciError):
    """The request line is not one the proxy forwards (refused before authorization)."""

    status = 400
    code = ErrorCode.UNSUPPORTED


class Unauthenticated(OciError):
    """401: no credentials where they are needed, or credentials that do not verify."""

    status = 401
    code = ErrorCode.UNAUTHORIZED


class Denied(OciError):
    """403: the caller is known and the policy in force does not allow the request."""

    status = 403
    code = ErrorCode.DENIED


class TooManyRequests(OciError):
    """429: a per-principal rate or concurrency limit."""

    status = 429
    code = ErrorCode.TOOMANYREQUESTS


class UpstreamUnavailable(OciError):
    """503: the registry, or a service an identity depends on, cannot be reached."""

    status = 503
    code = ErrorCode.UNAVAILABLE


class BodyTooLarge(OciError):
    """413: the body is over its route's limit (never forwarded)."""

    status = 413
    code = ErrorCode.SIZE_INVALID


class BodyStalled(OciError):
    """408: the body stopped arriving for longer than the inactivity timeout."""

    status = 408
    code = ErrorCode.BLOB_UPLOAD_INVALID


class BodyFramingError(OciError):
    """The request body's framing is broken (a bad chunk, trailers over the limit)."""

    status = 400
    code = ErrorCode.BLOB_UPLOAD_INVALID


class RedirectRefused(OciError):
    """502: the registry redirected somewhere a client must not be sent around regproxy."""

    status = 502
    code = ErrorCode.UNKNOWN
