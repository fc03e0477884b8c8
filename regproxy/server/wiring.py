"""The composition root: every part the application needs, built once, in order, from settings.

The authenticator chain is fixed here and nowhere else: regproxy's short-lived credentials,
its own access tokens, OIDC issuers (their key fetcher starts with the application), and Basic
last. The token service, the upload-session sealer and the one :class:`Authentication` every
endpoint uses come from the same place.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from regproxy.authorization.uploads import UploadSealer
from regproxy.config import Config
from regproxy.identity.basic import BasicAuthenticator
from regproxy.identity.chain import Authenticator, AuthResult, Credentials, Unavailable
from regproxy.identity.jwks import JwksCache
from regproxy.identity.keys import KeySet
from regproxy.identity.oidc import OidcAuthenticator, OidcIssuerConfig
from regproxy.identity.principal import Principal
from regproxy.identity.sts import StsAuthenticator
from regproxy.identity.token_auth import TokenAuthenticator
from regproxy.identity.tokens import TokenService
from regproxy.reload import Store
from regproxy.server.authentication import Authentication
from regproxy.server.tokens import TOKEN_PATH, oidc_configs

Lifecycle = Callable[[web.Application], AsyncIterator[None]]


class StartedOidc:
    """The OIDC authenticator, whose JWKS fetcher needs an HTTP session the running application
    owns: the chain holds this from the start; it answers once the application has started."""

    def __init__(self, issuers: list[OidcIssuerConfig]) -> None:
        self._issuers = issuers
        self._authenticator: OidcAuthenticator | None = None

    async def authenticate(self, credentials: Credentials) -> AuthResult:
        if self._authenticator is None:
            return Unavailable("the OIDC verifier is not started")
        return await self._authenticator.authenticate(credentials)

    async def lifecycle(self, app: web.Application) -> AsyncIterator[None]:
        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=10, connect=3), cookie_jar=aiohttp.DummyCookieJar()
        )
        self._authenticator = OidcAuthenticator(self._issuers, JwksCache(session))
        try:
            yield
        finally:
            self._authenticator = None
            await session.close()


@dataclass(frozen=True, slots=True)
class Wiring:
    authentication: Authentication
    token_service: TokenService | None
    token_realm: str | None  # None: clients get a Basic challenge
    sealer: UploadSealer
    lifecycles: tuple[Lifecycle, ...] = field(default=())


def wire(config: Config, store: Store, keys: KeySet | None) -> Wiring:
    chain: list[Authenticator] = []
    lifecycles: list[Lifecycle] = []
    service: TokenService | None = None
    if keys is not None:
        service = TokenService(
            issuer=config.tokens.issuer or config.public_url,
            service=config.service,
            keys=keys,
            lifetime=config.tokens.lifetime,
            max_lifetime=config.tokens.max_lifetime,
            refresh_lifetime=config.tokens.refresh_lifetime,
            revoked=lambda: store.identities.revoked,
        )

        def resolve(principal_id: str) -> Principal | None:
            account = store.identities.account(principal_id)
            return account.principal() if account is not None else None

        chain.append(
            StsAuthenticator(
                keys=keys,
                issuer=service.issuer,
                audience=service.service,
                resolve=resolve,
                revoked=lambda: store.identities.revoked,
            )
        )
        chain.append(TokenAuthenticator(service))
    issuers = oidc_configs(config)
    if issuers:
        oidc = StartedOidc(issuers)
        chain.append(oidc)
        lifecycles.append(oidc.lifecycle)
    chain.append(BasicAuthenticator(lambda: store.identities))
    return Wiring(
        authentication=Authentication(chain),
        token_service=service,
        token_realm=f"{config.public_url}{TOKEN_PATH}" if service is not None else None,
        sealer=UploadSealer(upload_session_key(keys)),
        lifecycles=tuple(lifecycles),
    )


# Made when this module is first imported; a supervisor hands its own to every worker it starts
# (:func:`adopt_host_key`), so the workers of one host share it.
_HOST_KEY = secrets.token_bytes(32)


def host_key() -> bytes:
    """This process's upload-session key for deployments without a signing key."""
    return _HOST_KEY


def adopt_host_key(key: bytes) -> None:
    """A worker takes its supervisor's key, so a session opened on one worker is honoured by all."""
    global _HOST_KEY  # noqa: PLW0603 - one key per process tree, set once at worker start
    if len(key) < 16:
        raise ValueError("an upload session key needs at least 16 bytes")
    _HOST_KEY = key


def upload_session_key(keys: KeySet | None) -> bytes:
    """The key that seals upload sessions to their principal.

    Derived from the token signing key when there is one: every replica of a deployment already
    shares it (a Kubernetes Secret), so a session opened on one replica is honoured by another
    and after a restart, with nothing stored. Without a signing key (Basic-only deployments) a
    random key made at start-up and shared by the workers of one process tree: an upload then
    finishes on the replica that started it, and not across a restart. Several replicas behind
    one Service therefore configure ``tokens.signing_key``.
    """
    if keys is None or keys.signing is None:
        return host_key()
    der = keys.signing.private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return hashlib.sha256(b"regproxy upload sessions v1\0" + der).digest()
