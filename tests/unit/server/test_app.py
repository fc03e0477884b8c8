"""The public application in process (aiohttp_client(build_app(...))) in front of a fake
upstream on loopback: authentication, the decision, the relay and the refusals, end to end
through the real middleware and routes, without a subprocess."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from regproxy.identity.passwords import hash_password
from regproxy.server.app import build_app, initial_store
from regproxy.settings.files import load_config
from tests.support.fake_upstream import MANIFEST, FakeUpstream, serve

PASSWORD = hash_password("pw", log_n=10)
IDENTITIES = f"""
users:
  - name: alice
    password: "{PASSWORD}"
    groups: [devs]
  - name: bob
    password: "{PASSWORD}"
"""
POLICY = """version: 1
statements:
  - id: devs-pull-team
    effect: allow
    principals: [group:devs]
    actions: [pull]
    resources: ["team/**"]
"""

Client = TestClient[web.Request, web.Application]


def basic(user: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()}


@pytest.fixture
async def upstream(aiohttp_server: Any) -> FakeUpstream:
    return await serve(aiohttp_server, FakeUpstream())


@pytest.fixture
async def client(tmp_path: Path, upstream: FakeUpstream, aiohttp_client: Any) -> Client:
    (tmp_path / "ids.yaml").write_text(IDENTITIES)
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "team.yaml").write_text(POLICY)
    (tmp_path / "c.yaml").write_text("identities: ids.yaml\npolicies: policies\naudit:\n  path: ''\n")
    config = load_config(tmp_path / "c.yaml", env={}, overrides={"upstream.url": upstream.url})
    app = build_app(config, initial_store(config))
    test_client: Client = await aiohttp_client(app)
    return test_client


async def test_an_allowed_pull_is_relayed_from_the_upstream(client: Client, upstream: FakeUpstream) -> None:
    response = await client.get("/v2/team/app/manifests/v1", headers=basic("alice"))
    assert response.status == 200
    assert await response.read() == MANIFEST
    assert ("GET", "/v2/team/app/manifests/v1") in upstream.seen


async def test_a_denied_pull_never_reaches_the_upstream(client: Client, upstream: FakeUpstream) -> None:
    response = await client.get("/v2/team/app/manifests/v1", headers=basic("bob"))
    assert response.status == 403
    assert (await response.json())["errors"][0]["code"] == "DENIED"
    assert not any(path.startswith("/v2/team/") for _, path in upstream.seen)


async def test_anonymous_callers_are_challenged_in_the_spec_words(client: Client, upstream: FakeUpstream) -> None:
    response = await client.get("/v2/team/app/manifests/v1")
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert (await response.json())["errors"][0]["code"] == "UNAUTHORIZED"
    assert not any(path.startswith("/v2/team/") for _, path in upstream.seen)  # (only the start-up probe of /v2/)


async def test_wrong_credentials_are_unauthorized_not_anonymous(client: Client) -> None:
    headers = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}
    response = await client.get("/v2/team/app/manifests/v1", headers=headers)
    assert response.status == 401


async def test_an_upstream_404_reaches_the_client_as_the_registry_said_it(client: Client) -> None:
    response = await client.get("/v2/team/app/manifests/missing", headers=basic("alice"))
    assert response.status == 404
    assert (await response.json())["errors"][0]["code"] == "MANIFEST_UNKNOWN"


async def test_a_path_outside_the_v2_grammar_is_refused_before_authorization(client: Client) -> None:
    response = await client.get("/v2/Team/App/manifests/v1", headers=basic("alice"))
    assert response.status in (400, 404)
    assert "errors" in await response.json()


async def test_v2_without_its_slash_is_redirected(client: Client) -> None:
    response = await client.get("/v2", allow_redirects=False)
    assert response.status in (301, 302, 307, 308)
    assert response.headers["Location"].endswith("/v2/")
