"""The Docker token flow through regproxy, against the real registry: a client that asks the
token endpoint for exactly the scopes it is challenged with gets exactly what policy allows.

- a cross-repository mount is challenged for the target's ``pull,push`` and the source's
  ``pull``: with pull on the source granted the mount happens (201), without it the request
  becomes a plain upload (202) and nothing about the source is revealed;
- a pull-only token on an upload is answered 401 ``error="insufficient_scope"`` naming
  ``pull,push`` when policy would grant push, and 403 DENIED when it would not;
- the same pull-only token presented again for the same upload is answered 403 ``DENIED`` with
  the same challenge (oras-py fetches a new token only then); another token still gets the 401;
- two ``Authorization`` headers are refused with 400, never forwarded.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, Response, request
from tests.support.distribution import push_blob
from tests.support.examples import ALICE, BOB, unique
from tests.support.oci import random_blob
from tests.support.tokens import claims_of, write_ec_key

pytestmark = pytest.mark.integration

_PARAM = re.compile(r'(\w+)="([^"]*)"')


@pytest.fixture
def gate(make_proxy: MakeProxy, tmp_path: Path) -> Proxy:
    return make_proxy(settings={"tokens": {"signing_key": str(write_ec_key(tmp_path / "signing.pem"))}})


def challenge(response: Response) -> dict[str, str]:
    header = response.header("WWW-Authenticate") or ""
    assert header.startswith("Bearer "), header
    return dict(_PARAM.findall(header))


def token_for(proxy: Proxy, who: tuple[str, str], scope: str) -> str:
    query = "service=regproxy" + "".join(f"&scope={quote(s, safe='')}" for s in scope.split())
    response = request(proxy.url, "GET", f"/token?{query}", auth=who)
    assert response.status == 200, response.body
    token: str = response.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_mount_with_exactly_the_challenged_scopes(gate: Proxy, registry: Registry) -> None:
    base = unique("mount")
    readable, unreadable, target = f"team-a/{base}/src", f"team-b/{base}/secret", f"team-a/{base}/dst"
    blob = random_blob(4096)
    push_blob(registry.url, readable, blob)
    push_blob(registry.url, unreadable, blob)

    for source, status in ((readable, 201), (unreadable, 202)):
        path = f"/v2/{target}/blobs/uploads/?mount={blob.digest}&from={source}"
        challenged = request(gate.url, "POST", path, body=b"")
        assert challenged.status == 401
        scope = challenge(challenged)["scope"]
        assert scope == f"repository:{target}:pull,push repository:{source}:pull"
        answer = request(gate.url, "POST", path, headers=bearer(token_for(gate, ALICE, scope)), body=b"")
        assert answer.status == status, answer.body
    # the refused source's mount was never forwarded: a plain upload reached the registry
    forwarded = [line for line in registry.requests() if f"/v2/{target}/blobs/uploads/" in line]
    assert not any(f"from={unreadable}" in line or quote(unreadable, safe="") in line for line in forwarded)


def test_a_pull_only_token_on_an_upload(gate: Proxy, registry: Registry) -> None:
    repo = f"team-a/{unique('insufficient')}/app"
    mark = len(registry.requests())
    alices = token_for(gate, ALICE, f"repository:{repo}:pull")
    answer = request(gate.url, "POST", f"/v2/{repo}/blobs/uploads/", headers=bearer(alices), body=b"")
    assert answer.status == 401 and answer.error_codes() == ["UNAUTHORIZED"]
    params = challenge(answer)
    assert params["scope"] == f"repository:{repo}:pull,push"
    assert params["error"] == "insufficient_scope"
    assert params["realm"] == f"{gate.url}/token" and params["service"] == "regproxy"
    # asking exactly that scope gets a token that pushes
    better = token_for(gate, ALICE, params["scope"])
    assert request(gate.url, "POST", f"/v2/{repo}/blobs/uploads/", headers=bearer(better), body=b"").status == 202

    bobs = token_for(gate, BOB, f"repository:{repo}:pull,push")  # bob may not push: no new token helps
    denied = request(gate.url, "POST", f"/v2/{repo}/blobs/uploads/", headers=bearer(bobs), body=b"")
    assert denied.status == 403 and denied.error_codes() == ["DENIED"]
    assert denied.header("WWW-Authenticate") is None
    uploads = [line for line in registry.requests()[mark:] if f'"POST /v2/{repo}/blobs/uploads/' in line]
    assert len(uploads) == 1


def test_the_same_token_after_an_insufficient_scope_challenge(gate: Proxy, registry: Registry) -> None:
    repo = f"team-a/{unique('rechallenge')}/app"
    mark = len(registry.requests())
    held = token_for(gate, ALICE, f"repository:{repo}:pull")
    first = request(gate.url, "POST", f"/v2/{repo}/blobs/uploads/", headers=bearer(held), body=b"")
    assert first.status == 401 and challenge(first)["error"] == "insufficient_scope"
    again = request(gate.url, "POST", f"/v2/{repo}/blobs/uploads/", headers=bearer(held), body=b"")
    assert again.status == 403 and again.error_codes() == ["DENIED"]
    assert again.header("WWW-Authenticate") == first.header("WWW-Authenticate")
    # another pull-only token is a first presentation: the 401 challenge, as Docker expects
    other = token_for(gate, ALICE, f"repository:{repo}:pull")
    assert other != held
    fresh = request(gate.url, "POST", f"/v2/{repo}/blobs/uploads/", headers=bearer(other), body=b"")
    assert fresh.status == 401 and challenge(fresh)["error"] == "insufficient_scope"
    # the challenged scopes then push
    better = token_for(gate, ALICE, challenge(again)["scope"])
    assert request(gate.url, "POST", f"/v2/{repo}/blobs/uploads/", headers=bearer(better), body=b"").status == 202
    uploads = [line for line in registry.requests()[mark:] if f'"POST /v2/{repo}/blobs/uploads/' in line]
    assert len(uploads) == 1


def test_catalog_scope_only_when_asked_and_only_to_who_may_see_the_catalog(gate: Proxy) -> None:
    repo = f"team-a/{unique('catalog')}/app"
    response = request(gate.url, "GET", f"/token?service=regproxy&scope=repository:{repo}:pull", auth=BOB)
    assert [a["type"] for a in claims_of(response.json()["token"])["access"]] == ["repository"]
    asked = request(gate.url, "GET", "/token?service=regproxy&scope=registry:catalog:*", auth=BOB)
    assert claims_of(asked.json()["token"])["access"] == [{"type": "registry", "name": "catalog", "actions": ["*"]}]


def test_two_authorization_headers_are_refused(gate: Proxy, registry: Registry) -> None:
    marker = unique("two-headers")
    response = request(
        gate.url,
        "GET",
        f"/v2/team-a/{marker}/tags/list",
        headers={"Authorization": "Basic YWxpY2U6YWxpY2UtcGFzc3dvcmQ=", "authorization": "Bearer x"},
    )
    assert response.status == 400
    assert [line for line in registry.requests() if marker in line] == []
