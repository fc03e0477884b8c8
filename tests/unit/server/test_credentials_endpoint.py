"""POST /credentials: an authenticated principal mints a narrower short-lived credential for
itself; a scoped credential cannot mint one, and nobody mints for anyone else."""

from __future__ import annotations

import base64
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient

from regproxy.identity.chain import Credentials, Scheme, Valid, run_chain
from regproxy.identity.passwords import hash_password
from regproxy.oci.actions import Action
from regproxy.server.app import CHAIN, build_app, initial_store
from regproxy.server.tokens import load_keyset
from regproxy.settings.files import load_config
from tests.support.keys import write_pkcs8

PASSWORD = hash_password("pw", log_n=10)
IDENTITIES = f"""
users:
  - name: alice
    password: "{PASSWORD}"
    groups: [devs]
access_credentials:
  - id: alice-pull
    secret: "{PASSWORD}"
    principal: user:alice
    scope: containerRegistry:pull
"""


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def start(tmp_path: Path, aiohttp_client: object) -> TestClient[web.Request, web.Application]:
    write_pkcs8(tmp_path / "k.pem")
    (tmp_path / "ids.yaml").write_text(IDENTITIES)
    (tmp_path / "policies").mkdir()
    (tmp_path / "c.yaml").write_text(
        "identities: ids.yaml\npolicies: policies\ntokens:\n  signing_key: k.pem\naudit:\n  path: ''\n"
    )
    config = load_config(tmp_path / "c.yaml", env={})
    app = build_app(config, initial_store(config), keys=load_keyset(config))
    return await aiohttp_client(app)  # type: ignore[operator,no-any-return]


async def test_a_principal_mints_a_narrower_credential_for_itself(tmp_path: Path, aiohttp_client: object) -> None:
    client = await start(tmp_path, aiohttp_client)
    answer = await client.post(
        "/credentials",
        json={"ttl": 600, "actions": ["pull"], "repositories": ["team-a/*"]},
        headers=basic("alice", "pw"),
    )
    assert answer.status == 200
    minted = await answer.json()
    assert minted["username"].startswith("sts-") and minted["expires_at"]

    # the credential authenticates as alice, bounded by its session policy
    chain = client.app[CHAIN]
    result = await run_chain(chain, Credentials(Scheme.BASIC, minted["username"], minted["password"]))
    assert isinstance(result, Valid)
    principal = result.principal
    assert principal.id == "user:alice" and principal.groups == {"devs"}
    assert principal.scope_permits(Action.PULL, "team-a/app")
    assert not principal.scope_permits(Action.PUSH, "team-a/app")
    assert not principal.scope_permits(Action.PULL, "team-b/app")


async def test_a_scoped_credential_cannot_mint_and_anonymous_is_challenged(
    tmp_path: Path, aiohttp_client: object
) -> None:
    client = await start(tmp_path, aiohttp_client)
    body = {"actions": ["pull"], "repositories": ["team-a/*"]}
    scoped = await client.post("/credentials", json=body, headers=basic("alice-pull", "pw"))
    assert scoped.status == 403
    assert (await scoped.json())["errors"][0]["code"] == "DENIED"
    anonymous = await client.post("/credentials", json=body)
    assert anonymous.status == 401 and "WWW-Authenticate" in anonymous.headers
