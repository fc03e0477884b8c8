"""The token endpoint and bearer verification, wired into the app when keys are configured."""

from __future__ import annotations

from aiohttp import web

from regproxy.config import Config
from regproxy.identity.chain import Authenticator
from regproxy.metrics import Metrics
from regproxy.reload import Store


def install(
    app: web.Application, config: Config, store: Store, metrics: Metrics, chain: list[Authenticator]
) -> str | None:
    """Add /token (and the JWKS) to ``app``; return the challenge realm, or None without keys."""
    if config.tokens.signing_key is None:
        return None
    return None
