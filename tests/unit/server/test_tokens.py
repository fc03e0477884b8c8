"""A refresh token follows the identities file: a deleted account cannot refresh, and group
changes apply at the next refresh. (The token endpoint in-process; no upstream is needed.)"""

from __future__ import annotations

import base64
from pathlib import Path

import jwt
from aiohttp import web
from aiohttp.test_utils import TestClient

from regproxy.errors import SourceLocation
from regproxy.identity.identities import parse_identities
from regproxy.identity.passwords import hash_password
from regproxy.server.app import build_app, initial_store
from regproxy.server.tokens import load_keyset
from regproxy.settings.files import load_config
from tests.support.keys import write_pkcs8

PASSWORD = hash_password("pw", log_n=10)


def identities(groups: str) -> str:
    return f'users:\n  - name: alice\n    password: "{PASSWORD}"\n    groups: [{groups}]\n'


async def test_refresh_follows_the_identities_file(tmp_path: Path, aiohttp_client: object) -> None:
    write_pkcs8(tmp_path / "k.pem")
    (tmp_path / "ids.yaml").write_text(identities("devs"))
    (tmp_path / "policies").mkdir()
    (tmp_path / "c.yaml").write_text(
        "identities: ids.yaml\npolicies: policies\ntokens:\n  signing_key: k.pem\naudit:\n  path: ''\n"
    )
    config = load_config(tmp_path / "c.yaml", env={})
    store = initial_store(config)
    app = build_app(config, store, keys=load_keyset(config))
    client: TestClient[web.Request, web.Application] = await aiohttp_client(app)  # type: ignore[operator]

    basic = "Basic " + base64.b64encode(b"alice:pw").decode()
    first = await client.get(
        "/token", params={"service": "regproxy", "offline_token": "true"}, headers={"Authorization": basic}
    )
    assert first.status == 200
    refresh = (await first.json())["refresh_token"]

    store.identities = parse_identities(identities("ops"), SourceLocation("ids.yaml"))
    renewed = await client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "regproxy"}
    )
    assert renewed.status == 200
    claims = jwt.decode((await renewed.json())["access_token"], options={"verify_signature": False})
    assert "ops" in str(claims) and "devs" not in str(claims)

    store.identities = parse_identities("users: []\n", SourceLocation("ids.yaml"))
    refused = await client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": refresh, "service": "regproxy"}
    )
    assert refused.status == 401 and (await refused.json())["error"] == "invalid_grant"
