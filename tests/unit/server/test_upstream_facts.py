"""The edge's answers to the flow's facts, asked of a registry stand-in on loopback: a tag is
there (200) or not (404); anything else, or no registry at all, is unknown (the stricter branch)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from regproxy.authorization.verdict import RepositoryExists, TagExists, UpstreamSupports
from regproxy.config import Config
from regproxy.oci.capability import Capability
from regproxy.proxy.upstream import UpstreamClient
from regproxy.server.upstream_facts import MANIFEST_ACCEPT, UpstreamFacts


class Registry:
    """Answers tag lists and manifest HEADs for `team/app` (tag `v1`); `broken/app` answers 500."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []  # (method, path, accept)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/{name:.+}/tags/list", self.tags)
        app.router.add_route("HEAD", "/v2/{name:.+}/manifests/{reference}", self.manifest)
        return app

    async def tags(self, request: web.Request) -> web.StreamResponse:
        self.asked.append((request.method, request.path, request.headers.get("Accept", "")))
        name = request.match_info["name"]
        if name == "broken/app":
            return web.Response(status=500)
        if name != "team/app":
            return web.json_response({"errors": [{"code": "NAME_UNKNOWN"}]}, status=404)
        return web.json_response({"name": name, "tags": ["v1"]})

    async def manifest(self, request: web.Request) -> web.StreamResponse:
        self.asked.append((request.method, request.path, request.headers.get("Accept", "")))
        if request.match_info["name"] == "broken/app":
            return web.Response(status=500)
        ok = request.match_info["name"] == "team/app" and request.match_info["reference"] == "v1"
        return web.Response(status=200 if ok else 404)


@pytest.fixture
async def registry(aiohttp_server: Any) -> AsyncIterator[tuple[Registry, UpstreamFacts]]:
    stand_in = Registry()
    server = await aiohttp_server(stand_in.app())
    config = Config()
    upstream = UpstreamClient(dataclasses.replace(config.upstream, url=f"http://127.0.0.1:{server.port}"))
    await upstream.start()
    yield stand_in, UpstreamFacts(upstream, None)
    await upstream.close()


async def test_a_repository_exists_when_its_tag_list_answers_and_is_remembered(
    registry: tuple[Registry, UpstreamFacts],
) -> None:
    stand_in, facts = registry
    assert await facts.answer(RepositoryExists("team/app")) is True
    assert await facts.answer(RepositoryExists("team/app")) is True
    assert [a[:2] for a in stand_in.asked] == [("GET", "/v2/team/app/tags/list")]  # once
    assert await facts.answer(RepositoryExists("team/new")) is False
    assert await facts.answer(RepositoryExists("broken/app")) is None


async def test_a_tag_exists_when_its_manifest_answers_to_every_manifest_type(
    registry: tuple[Registry, UpstreamFacts],
) -> None:
    stand_in, facts = registry
    assert await facts.answer(TagExists("team/app", "v1")) is True
    assert await facts.answer(TagExists("team/app", "v2")) is False
    assert await facts.answer(TagExists("broken/app", "v1")) is None
    assert all(accept == MANIFEST_ACCEPT for _, _, accept in stand_in.asked)


async def test_no_registry_is_unknown_and_no_probe_is_unknown_support() -> None:
    config = Config()
    upstream = UpstreamClient(dataclasses.replace(config.upstream, url="http://127.0.0.1:9", connect_timeout=1))
    await upstream.start()
    try:
        facts = UpstreamFacts(upstream, None)
        assert await facts.answer(RepositoryExists("team/app")) is None
        assert await facts.answer(TagExists("team/app", "v1")) is None
        assert await facts.answer(UpstreamSupports(Capability.TAG_DELETION)) is None
    finally:
        await upstream.close()
