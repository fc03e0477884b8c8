"""The authenticator chain: each authenticator answers not-mine, valid, invalid or unavailable.

Contract (after cesanta/docker_auth): an authenticator returns :class:`NotMine` when the
credential is not of its kind (the next one is tried), :class:`Valid` with a principal,
:class:`Invalid` when the credential is of its kind and does not verify (stop: 401), or
:class:`Unavailable` when it could not decide because something it depends on is down (stop:
503). An exception inside an authenticator is an :class:`Invalid`, never an allow.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from regproxy.identity.principal import Principal


class Scheme(StrEnum):
    """The ``Authorization`` scheme a client used (``none``: it sent no credentials)."""

    NONE = "none"
    BASIC = "basic"
    BEARER = "bearer"


log = logging.getLogger("regproxy.identity")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What the client presented, parsed once. ``secret`` is a password or a token."""

    scheme: Scheme
    username: str = ""
    secret: str = ""

    def __repr__(self) -> str:  # never print a secret
        return f"Credentials(scheme={self.scheme.value!r}, username={self.username!r})"


NO_CREDENTIALS = Credentials(Scheme.NONE)


@dataclass(frozen=True, slots=True)
class NotMine:
    pass


@dataclass(frozen=True, slots=True)
class Valid:
    principal: Principal


@dataclass(frozen=True, slots=True)
class Invalid:
    reason: str  # for the log and the challenge's error_description; never a secret
    scheme: Scheme = Scheme.BASIC


@dataclass(frozen=True, slots=True)
class Unavailable:
    reason: str


AuthResult = NotMine | Valid | Invalid | Unavailable
NOT_MINE = NotMine()


class Authenticator(Protocol):
    async def authenticate(self, credentials: Credentials) -> AuthResult: ...


class MalformedCredentials(ValueError):
    pass


def parse_authorization(header: str | None) -> Credentials:
    """Parse an ``Authorization`` header; raise :class:`MalformedCredentials` if unreadable."""
    if not header:
        return NO_CREDENTIALS
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    kind = scheme.lower()
    if kind == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise MalformedCredentials("basic credentials are not base64 of utf-8") from exc
        username, sep, password = decoded.partition(":")
        if not sep or not username:
            raise MalformedCredentials("basic credentials need `user:password`")
        return Credentials(Scheme.BASIC, username, password)
    if kind == "bearer":
        if not value or " " in value:
            raise MalformedCredentials("bearer credentials need one token")
        return Credentials(Scheme.BEARER, "", value)
    raise MalformedCredentials(f"authorization scheme `{scheme}` is not supported")


async def run_chain(chain: Sequence[Authenticator], credentials: Credentials) -> AuthResult:
    """The first answer that is not :class:`NotMine`; an error is :class:`Invalid`."""
    for authenticator in chain:
        try:
            result = await authenticator.authenticate(credentials)
        except Exception:  # an authenticator's bug must deny, never allow
            log.exception("authenticator %s failed", type(authenticator).__name__)
            return Invalid("credentials could not be verified", credentials.scheme)
        if not isinstance(result, NotMine):
            return result
    if credentials.scheme is Scheme.NONE:
        return NOT_MINE
    return Invalid("credentials not recognised", credentials.scheme)
