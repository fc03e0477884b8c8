"""An OIDC issuer in process: discovery document and JWKS, with switches to make it misbehave.

The seam the JWKS cache and the OIDC authenticator talk to in unit tests (an aiohttp app on
loopback, started by pytest-aiohttp's ``aiohttp_server``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


class FakeJwksIssuer:
    def __init__(self, keys: list[dict[str, Any]]) -> None:
        self.url = ""
        self.keys = keys
        self.discovery_hits = 0
        self.jwks_hits = 0
        self.status = 200  # what both documents answer with when not 200
        self.claimed_issuer: str | None = None  # the discovery document's `issuer`, when not ours
        self.raw_jwks: bytes | None = None  # a JWKS body verbatim
        self.release: asyncio.Event | None = None  # when set, /jwks waits for it

    @property
    def up(self) -> bool:
        return self.status == 200

    @up.setter
    def up(self, value: bool) -> None:
        self.status = 200 if value else 503

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/jwks", self.jwks)
        return app

    async def discovery(self, request: web.Request) -> web.StreamResponse:
        self.discovery_hits += 1
        if self.status != 200:
            return web.Response(status=self.status)
        issuer = self.claimed_issuer or self.url
        return web.json_response({"issuer": issuer, "jwks_uri": f"{self.url}/jwks"})

    async def jwks(self, request: web.Request) -> web.StreamResponse:
        self.jwks_hits += 1
        if self.release is not None:
            await self.release.wait()
        if self.status != 200:
            return web.Response(status=self.status)
        if self.raw_jwks is not None:
            return web.Response(body=self.raw_jwks, content_type="application/json")
        return web.json_response({"keys": self.keys})


async def serve(aiohttp_server: Any, issuer: FakeJwksIssuer) -> FakeJwksIssuer:
    server: TestServer = await aiohttp_server(issuer.app())
    issuer.url = f"http://127.0.0.1:{server.port}"
    return issuer
