"""regproxy in front of a registry that runs its own token auth (distribution's ``auth: token``).

The registry is the real docker-registry validating real JWTs against its ``rootcertbundle``; the
issuer is the test's (tests/support/token_issuer.py). regproxy does the Docker token-auth flow
with its service credential: a token per scope, cached, refreshed before it expires; a revoked
service credential is a 503 with the reason in regproxy's log, and the registry's challenge
(its realm, its service) never reaches a client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy
from tests.support.distribution import manifest_headers, push_image
from tests.support.examples import ADMIN, ALICE, BOB, unique
from tests.support.http import request
from tests.support.oci import build_image
from tests.support.processes import wait_until
from tests.support.token_issuer import TokenIssuer
from tests.support.upstreams import UpstreamRegistry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenIssuer]:
    accounts = {"svc": "svc-secret", "svc-revocable": "revocable-secret", "svc-short": "short-secret"}
    server = TokenIssuer(tmp_path_factory.mktemp("token-issuer"), accounts=accounts).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_registry(issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstreamRegistry]:
    registry = UpstreamRegistry(tmp_path_factory.mktemp("token-registry"), auth=issuer.registry_auth()).start()
    yield registry
    registry.stop()


def bearer_proxy(
    make_proxy: MakeProxy, registry: UpstreamRegistry, tmp_path: Path, account: str, password: str
) -> Proxy:
    secret = tmp_path / f"{account}.password"
    secret.write_text(password + "\n")
    upstream = {"url": registry.url, "auth": "bearer", "username": account, "password_file": str(secret)}
    return make_proxy(upstream_url=registry.url, settings={"upstream": upstream})


@pytest.fixture
def proxy_svc(make_proxy: MakeProxy, token_registry: UpstreamRegistry, tmp_path: Path) -> Proxy:
    return bearer_proxy(make_proxy, token_registry, tmp_path, "svc", "svc-secret")


def test_the_registry_really_demands_tokens_from_its_issuer(
    token_registry: UpstreamRegistry, issuer: TokenIssuer
) -> None:
    """The setup is real: without a token the registry challenges; a token signed by a key the
    rootcertbundle does not hold is refused; the issuer's own token is accepted."""
    bare = request(token_registry.url, "GET", "/v2/")
    assert bare.status == 401 and issuer.realm in (bare.header("WWW-Authenticate") or "")
    stranger = TokenIssuer(issuer.workdir / "stranger", service=issuer.service, issuer=issuer.issuer)
    forged = stranger.sign("svc", ())
    assert request(token_registry.url, "GET", "/v2/", headers={"Authorization": f"Bearer {forged}"}).status == 401
    good = issuer.sign("svc", ())
    assert request(token_registry.url, "GET", "/v2/", headers={"Authorization": f"Bearer {good}"}).status == 200


def test_push_pull_and_delete_through_a_token_auth_registry(
    proxy_svc: Proxy, token_registry: UpstreamRegistry, issuer: TokenIssuer
) -> None:
    """alice pushes, bob pulls, admin deletes the manifest: each forwarded with a token for the
    request's own scope (push asks pull,push; delete asks delete), and the registry's realm is
    never shown to a client."""
    repository = unique("team-a/token")
    image = build_image()
    push_image(proxy_svc.url, repository, image, "latest", auth=ALICE)
    pulled = request(proxy_svc.url, "GET", f"/v2/{repository}/manifests/latest", auth=BOB, headers=manifest_headers())
    assert pulled.status == 200 and pulled.body == image.manifest.data
    for blob in image.blobs:
        got = request(proxy_svc.url, "GET", f"/v2/{repository}/blobs/{blob.digest}", auth=BOB)
        assert got.status == 200 and got.body == blob.data

    deleted = request(proxy_svc.url, "DELETE", f"/v2/{repository}/manifests/{image.manifest.digest}", auth=ADMIN)
    assert deleted.status == 202, (deleted.status, deleted.body)
    gone = request(proxy_svc.url, "GET", f"/v2/{repository}/manifests/latest", auth=BOB, headers=manifest_headers())
    assert gone.status == 404

    assert issuer.fetches(f"repository:{repository}:pull,push")
    assert issuer.fetches(f"repository:{repository}:delete")
    assert all(r.account == "svc" and r.service == issuer.service for r in issuer.fetches())
    anonymous = request(proxy_svc.url, "GET", f"/v2/{repository}/tags/list")
    assert anonymous.status == 401
    assert issuer.realm not in (anonymous.header("WWW-Authenticate") or "")


def test_tokens_are_cached_per_scope(proxy_svc: Proxy, issuer: TokenIssuer) -> None:
    """Ten pulls of one repository cost one token; another repository costs its own."""
    first, second = unique("team-a/cached"), unique("team-a/cached")
    for _ in range(10):
        assert request(proxy_svc.url, "GET", f"/v2/{first}/tags/list", auth=BOB).status == 404
    assert request(proxy_svc.url, "GET", f"/v2/{second}/tags/list", auth=BOB).status == 404
    assert len(issuer.fetches(f"repository:{first}:pull")) == 1
    assert len(issuer.fetches(f"repository:{second}:pull")) == 1


def test_a_token_is_fetched_again_when_it_is_about_to_expire(
    make_proxy: MakeProxy, token_registry: UpstreamRegistry, issuer: TokenIssuer, tmp_path: Path
) -> None:
    """Tokens of 11 s are kept 1 s (refreshed 10 s before expiry): repeated pulls fetch a new
    one and every pull succeeds across the change."""
    issuer.lifetime = 11
    try:
        proxy = bearer_proxy(make_proxy, token_registry, tmp_path, "svc-short", "short-secret")
        repository = unique("team-a/refresh")
        scope = f"repository:{repository}:pull"

        def refreshed() -> bool:
            assert request(proxy.url, "GET", f"/v2/{repository}/tags/list", auth=BOB).status == 404
            return len(issuer.fetches(scope)) >= 2

        wait_until(refreshed, timeout=30, what="a second token for the same scope")
    finally:
        issuer.lifetime = 300
    assert {r.account for r in issuer.fetches(scope)} == {"svc-short"}


def test_a_revoked_service_credential_is_a_503_with_the_reason_in_the_log(
    make_proxy: MakeProxy, token_registry: UpstreamRegistry, issuer: TokenIssuer, tmp_path: Path
) -> None:
    proxy = bearer_proxy(make_proxy, token_registry, tmp_path, "svc-revocable", "revocable-secret")
    assert request(proxy.url, "GET", f"/v2/{unique('team-a/before')}/tags/list", auth=BOB).status == 404
    issuer.revoke("svc-revocable")
    response = request(proxy.url, "GET", f"/v2/{unique('team-a/after')}/tags/list", auth=BOB)
    assert response.status == 503
    assert response.error_codes() == ["UNAVAILABLE"]
    challenge = response.header("WWW-Authenticate") or ""
    assert issuer.realm not in challenge and issuer.service not in challenge
    assert response.json()["errors"][0]["message"] == (
        "the registry's token service refused regproxy's service credential"
    )  # the upstream's own words stay in the log
    log = wait_until(
        lambda: proxy.log_text() if "svc-revocable" in proxy.log_text() else None,
        timeout=10,
        what="regproxy to log the refusal",
    )
    assert "refused regproxy's service credential `svc-revocable`: 401: credential refused" in log
    assert "revocable-secret" not in log
