"""A test OIDC issuer on loopback: discovery document, JWKS, and the ID tokens it signs.

What a CI system's workload-identity issuer does, reduced to its two public endpoints (OpenID
Connect Discovery 1.0 and RFC 7517): ``GET /.well-known/openid-configuration`` names the
``issuer`` and the ``jwks_uri``; ``GET /jwks`` serves the public key. The issuer signs RS256 ID
tokens with ``iss``, ``aud``, ``sub``, ``iat``, ``exp`` and whatever claims a test gives.

It is a real HTTP server (aiohttp, on 127.0.0.1, a port the kernel picks) running on an event
loop of its own in a thread, so tests stay synchronous; :meth:`OidcIssuer.stop` shuts it down
and joins the thread. Every path it served is recorded in :attr:`OidcIssuer.fetched`, so a
test can tell whether regproxy asked for the keys at all.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from jwt.algorithms import RSAAlgorithm

from tests.support.tokens import new_rsa_key, sign

START_TIMEOUT = 10.0


class OidcIssuer:
    def __init__(self, *, audience: str = "regproxy") -> None:
        self.audience = audience
        self.key = new_rsa_key()
        self.kid = f"test-{uuid.uuid4().hex[:8]}"
        self.fetched: list[str] = []
        self.url = ""  # known once started
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # -- the tokens it signs --------------------------------------------------------------
    def claims(self, lifetime: int = 300, **extra: Any) -> dict[str, Any]:
        """Standard claims for a token valid now; ``extra`` adds or replaces claims."""
        now = int(time.time())
        base: dict[str, Any] = {
            "iss": self.url,
            "aud": self.audience,
            "sub": "repo:acme/app:ref:refs/heads/main",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": uuid.uuid4().hex,
        }
        return base | extra

    def token(self, claims: Mapping[str, Any] | None = None, **extra: Any) -> str:
        """An RS256 ID token signed with the issuer's key (``claims`` default to :meth:`claims`)."""
        body = dict(claims) if claims is not None else self.claims(**extra)
        return sign(body, self.key, kid=self.kid)

    def jwks(self) -> dict[str, Any]:
        jwk = dict(RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True))
        return {"keys": [jwk | {"kid": self.kid, "use": "sig", "alg": "RS256"}]}

    # -- the server -----------------------------------------------------------------------
    def start(self) -> OidcIssuer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="oidc-issuer", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=START_TIMEOUT)
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._keys)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _discovery(self, request: web.Request) -> web.Response:
        self.fetched.append(request.path)
        return web.json_response({"issuer": self.url, "jwks_uri": f"{self.url}/jwks"})

    async def _keys(self, request: web.Request) -> web.Response:
        self.fetched.append(request.path)
        return web.json_response(self.jwks())

    def stop(self) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=START_TIMEOUT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=START_TIMEOUT)
        loop.close()
        self._loop = self._thread = self._runner = None
