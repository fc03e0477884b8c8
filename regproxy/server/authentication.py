"""One authentication for every endpoint: the ``Authorization`` header → a principal.

The registry handler, the token endpoint and the credentials endpoint all call
:meth:`Authentication.authenticate`; each turns a :class:`Refused` into its own challenge
(Bearer with scopes on ``/v2``, Basic at ``/token``). Two ``Authorization`` headers are refused
with 400: which one a server or a proxy in between reads is not defined, so neither is trusted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from aiohttp import web

from regproxy.errors import ErrorCode, OciError, RegproxyError, UpstreamUnavailable
from regproxy.identity.chain import (
    Authenticator,
    Credentials,
    Invalid,
    MalformedCredentials,
    NotMine,
    Scheme,
    Unavailable,
    Valid,
    parse_authorization,
    run_chain,
)
from regproxy.identity.principal import ANONYMOUS, Principal


class Refused(RegproxyError):
    """Credentials were presented and do not authenticate; the endpoint answers 401."""

    def __init__(self, reason: str, scheme: Scheme, *, malformed: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.scheme = scheme
        self.malformed = malformed


class Authentication:
    """The authenticator chain, built once by the composition root, and how to run it."""

    def __init__(self, chain: Sequence[Authenticator], clock: Callable[[], float] = time.time) -> None:
        self.chain = tuple(chain)
        self._clock = clock

    async def authenticate(
        self, request: web.Request, *, bearer: Callable[[str], Principal] | None = None
    ) -> Principal:
        """The request's principal (anonymous without credentials).

        ``bearer``, when given, reads a Bearer credential instead of the chain (the token
        endpoint takes refresh tokens there); it raises :class:`Refused`. Raises
        :class:`Refused`, :class:`UpstreamUnavailable` (503), or :class:`OciError` (400).
        """
        credentials = self.credentials(request)
        if bearer is not None and credentials.scheme is Scheme.BEARER:
            return bearer(credentials.secret)
        return await self.check(credentials)

    def credentials(self, request: web.Request) -> Credentials:
        """What the ``Authorization`` header presents, not yet checked (a login throttle looks
        at the user name first). Raises :class:`Refused` (malformed) or :class:`OciError` (400)."""
        headers = request.headers.getall("Authorization", [])
        if len(headers) > 1:
            raise OciError("more than one Authorization header", code=ErrorCode.UNSUPPORTED, status=400)
        try:
            return parse_authorization(headers[0] if headers else None)
        except MalformedCredentials as exc:
            raise Refused(str(exc), Scheme.NONE, malformed=True) from None

    async def check(self, credentials: Credentials) -> Principal:
        result = await run_chain(self.chain, credentials)
        if isinstance(result, Valid):
            principal = result.principal
            if principal.expires_at is not None and principal.expires_at <= self._clock():
                raise Refused("credential expired", credentials.scheme)
            return principal
        if isinstance(result, NotMine):
            return ANONYMOUS
        if isinstance(result, Unavailable):
            raise UpstreamUnavailable(f"cannot verify credentials now: {result.reason}")
        assert isinstance(result, Invalid)
        raise Refused(result.reason, result.scheme)
