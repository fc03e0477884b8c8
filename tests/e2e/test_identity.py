"""Identity end to end: every kind of credential regproxy accepts, through the token flow that
podman and skopeo speak, and every forged, stale or revoked one refused before the registry.

The proxy here has a signing key (``tokens.signing_key``), so its 401 challenge is
``Bearer realm="…/token",service="regproxy",scope=…`` and clients exchange what they log in
with for regproxy's own tokens. A test OIDC issuer (tests/support/oidc.py: discovery document
and JWKS on loopback, RS256 ID tokens) stands for a CI system's workload identity; a second
configured issuer points at a port that refuses connections, the issuer that is down.

Refusals are proved twice: by the answer (status, OCI error code, ``WWW-Authenticate``) and by
the registry's access log, which has no line for a refused request. Where a test needs
identities or policies of its own (revocations, a reloaded deny) it starts its own regproxy.
"""

from __future__ import annotations

import functools
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlencode

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import ec

from regproxy.identity.passwords import hash_password
from tests.conftest import MakeProxy
from tests.e2e.conftest import MakePodman
from tests.support import (
    Image,
    Podman,
    Proxy,
    Registry,
    Response,
    Run,
    Skopeo,
    build_image,
    digest_of,
    request,
    wait_until,
    write_layout,
)
from tests.support.distribution import push_image
from tests.support.examples import unique
from tests.support.oci import MANIFEST_TYPE
from tests.support.oidc import OidcIssuer
from tests.support.proxy import EXAMPLES
from tests.support.tokens import (
    PrivateKey,
    claims_of,
    header_of,
    hs256_with_public_key,
    new_ec_key,
    new_rsa_key,
    read_private_key,
    sign,
    tampered,
    unsigned,
    with_claims,
    write_ec_key,
)

pytestmark = pytest.mark.e2e

SERVICE = "regproxy"  # the config's default `service`: the challenge's service and tokens' aud
OIDC_AUDIENCE = "regproxy-e2e"
LAYERS = (64 * 1024, 16 * 1024)
RELOAD_TIMEOUT = 15.0  # the proxy re-reads its files within about a second

ALICE = ("alice", "alice-e2e-password")  # team-a-devs: push and pull in team-a/**
BOB = ("bob", "bob-e2e-password")  # team-a-readers: pull in team-a/** only
CI_PULL = ("ci-pull", "ci-pull-e2e-secret")  # service-account:ci (team-a-devs), scope containerRegistry:pull
CI_EXPIRED = ("ci-expired", "ci-expired-e2e-secret")  # the same account; expired in 2020
CI_REVOKED = ("ci-revoked", "ci-revoked-e2e-secret")  # the same account; listed under `revoked:`

# The OIDC workload of the in-test issuer: `repository` names it, `repository_owner` its group.
WORKLOAD_POLICY = """\
version: 1
statements:
  - id: acme-app-workload
    effect: allow
    principals: ["service-account:gh:acme/app"]
    actions: [pull, list, push, tag-create, tag-overwrite, create-repository]
    resources: ["acme/app/**"]
  - id: acme-workloads-pull
    effect: allow
    principals: ["group:acme"]
    actions: [pull, list]
    resources: ["acme/**"]
"""


def policies() -> dict[str, str]:
    return {
        "team-a.yaml": (EXAMPLES / "policies" / "team-a.yaml").read_text(),
        "acme.yaml": WORKLOAD_POLICY,
    }


@functools.cache
def _hash(secret: str) -> str:
    return hash_password(secret, log_n=10)  # cheap on purpose: the proxy verifies it often


def identities(revoked: Iterable[str] = ()) -> str:
    data: dict[str, Any] = {
        "users": [
            {"name": ALICE[0], "password": _hash(ALICE[1]), "groups": ["team-a-devs"]},
            {"name": BOB[0], "password": _hash(BOB[1]), "groups": ["team-a-readers"]},
        ],
        "service_accounts": [{"name": "ci", "groups": ["team-a-devs"]}],
        "access_credentials": [
            {
                "id": CI_PULL[0],
                "secret": _hash(CI_PULL[1]),
                "principal": "service-account:ci",
                "scope": "containerRegistry:pull",
            },
            {
                "id": CI_EXPIRED[0],
                "secret": _hash(CI_EXPIRED[1]),
                "principal": "service-account:ci",
                "scope": "containerRegistry",
                "expires": "2020-01-01T00:00:00Z",
            },
            {
                "id": CI_REVOKED[0],
                "secret": _hash(CI_REVOKED[1]),
                "principal": "service-account:ci",
                "scope": "containerRegistry",
            },
        ],
        "revoked": [CI_REVOKED[0], *revoked],
    }
    return yaml.safe_dump(data, sort_keys=False)


def creds(account: tuple[str, str]) -> str:
    return f"{account[0]}:{account[1]}"


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def signing_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The token service's key, made as the README says (a P-256 SEC1 PEM)."""
    return write_ec_key(tmp_path_factory.mktemp("keys") / "signing.pem")


@pytest.fixture(scope="module")
def issuer() -> Iterator[OidcIssuer]:
    server = OidcIssuer(audience=OIDC_AUDIENCE).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def down_issuer() -> Iterator[str]:
    """A configured issuer whose discovery and JWKS cannot be fetched. Its port is bound and
    never listened on: connections are refused, and nothing else can take the port meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


@pytest.fixture(scope="module")
def settings(signing_key: Path, issuer: OidcIssuer, down_issuer: str) -> dict[str, Any]:
    return {
        "tokens": {"signing_key": str(signing_key)},
        "oidc": {
            "issuers": [
                {
                    "issuer": issuer.url,
                    "audience": OIDC_AUDIENCE,
                    "username_claim": "repository",
                    "name_prefix": "gh:",
                    "kind": "service-account",
                    "groups_claim": "repository_owner",
                    "groups": ["ci-workloads"],
                    "required_claims": {"repository_owner": ["acme"]},
                },
                {"issuer": down_issuer, "audience": OIDC_AUDIENCE},
            ]
        },
    }


@pytest.fixture(scope="module")
def gate(registry: Registry, tmp_path_factory: pytest.TempPathFactory, settings: dict[str, Any]) -> Iterator[Proxy]:
    """regproxy with the token service and the two OIDC issuers, shared by the read-only tests."""
    server = Proxy(
        tmp_path_factory.mktemp("regproxy-identity"),
        registry.url,
        policies=policies(),
        identities=identities(),
        settings=settings,
    ).start()
    yield server
    server.stop()


@pytest.fixture
def own_gate(make_proxy: MakeProxy, settings: dict[str, Any]) -> Proxy:
    """A regproxy of the test's own, for tests that change its identities or policies."""
    return make_proxy(policies=policies(), identities=identities(), settings=settings)


@pytest.fixture
def image() -> Image:
    return build_image(LAYERS)


@pytest.fixture
def layout(tmp_path: Path, image: Image) -> Path:
    return write_layout(tmp_path / "layout", image)


# -- helpers --------------------------------------------------------------------------------
def get_token(
    proxy: Proxy,
    *scopes: str,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    service: str = SERVICE,
    **params: str,
) -> Response:
    """``GET /token?service=…&scope=…&scope=…`` as docker, podman and skopeo send it."""
    query = urlencode([("service", service), *(("scope", s) for s in scopes), *params.items()])
    return request(proxy.url, "GET", f"/token?{query}", auth=auth, headers=headers)


def token_for(proxy: Proxy, auth: tuple[str, str], *scopes: str, **params: str) -> dict[str, Any]:
    response = get_token(proxy, *scopes, auth=auth, headers=None, **params)
    assert response.status == 200, (response.status, response.body)
    body: dict[str, Any] = response.json()
    return body


def post_token(proxy: Proxy, form: dict[str, str]) -> Response:
    return request(
        proxy.url,
        "POST",
        "/token",
        body=urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def get_manifest(
    proxy: Proxy,
    repository: str,
    reference: str,
    *,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return request(
        proxy.url,
        "GET",
        f"/v2/{repository}/manifests/{reference}",
        auth=auth,
        headers={"Accept": MANIFEST_TYPE, **(headers or {})},
    )


def start_upload(
    proxy: Proxy, repository: str, *, auth: tuple[str, str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    return request(proxy.url, "POST", f"/v2/{repository}/blobs/uploads/", auth=auth, headers=headers, body=b"")


def assert_invalid_token(response: Response) -> None:
    """A refused Bearer credential: 401 UNAUTHORIZED, a fresh Bearer challenge naming the token
    service, with ``error="invalid_token"`` (RFC 6750 §3.1)."""
    assert response.status == 401, (response.status, response.body)
    assert response.error_codes() == ["UNAUTHORIZED"]
    challenge = response.header("WWW-Authenticate") or ""
    assert challenge.startswith("Bearer realm="), challenge
    assert 'error="invalid_token"' in challenge, challenge


def assert_unauthorized(response: Response) -> None:
    assert response.status == 401, (response.status, response.body)
    assert response.error_codes() == ["UNAUTHORIZED"]
    assert (response.header("WWW-Authenticate") or "").startswith("Bearer realm="), response.headers


def assert_denied(response: Response) -> None:
    assert response.status == 403, (response.status, response.body)
    assert response.error_codes() == ["DENIED"]


def assert_client_denied(run: Run) -> None:
    assert not run.ok, str(run)
    text = str(run).lower()
    assert "denied" in text or "403" in text or "forbidden" in text, text


def assert_client_unauthorized(run: Run) -> None:
    assert not run.ok, str(run)
    text = str(run).lower()
    assert "unauthorized" in text or "401" in text or "invalid username/password" in text, text


def seed(registry: Registry, repository: str, image: Image, tag: str = "v1") -> None:
    """Put ``image`` straight into the registry (bypassing regproxy)."""
    push_image(registry.url, repository, image, tag)


def load_into(client: Podman, layout: Path) -> str:
    """Import the layout's image into ``client``'s storage; its image id."""
    loaded = client.pull(f"oci:{layout}:latest")
    assert loaded.ok, str(loaded)
    return loaded.stdout.strip().splitlines()[-1]


def log_has(proxy: Proxy, text: str) -> bool:
    return text in proxy.log_text()


def audit_events_where(proxy: Proxy, what: str, *, at_least: int = 1, **match: Any) -> list[dict[str, Any]]:
    """The audit events whose fields equal ``match``, polled until ``at_least`` are written (the
    audit writer is asynchronous)."""

    def found() -> list[dict[str, Any]] | None:
        events = [e for e in proxy.audit_events() if all(e.get(k) == v for k, v in match.items())]
        return events if len(events) >= at_least else None

    return wait_until(found, timeout=10, what=what)


def issue_short_lived(proxy: Proxy, *, ttl: str, repository: str = "team-a/*", scope: str = "pull") -> tuple[str, str]:
    """``regproxy credentials issue`` as an operator runs it; (username, password)."""
    completed = proxy.cli(
        "credentials",
        "issue",
        "--principal",
        "service-account:ci",
        "--ttl",
        ttl,
        "--scope",
        scope,
        "--repository",
        repository,
        "--json",
    )
    assert completed.returncode == 0, completed.stderr
    issued = json.loads(completed.stdout)
    assert issued["username"].startswith("sts-"), issued
    return issued["username"], issued["password"]


def jwks_kids(proxy: Proxy) -> set[str]:
    response = request(proxy.url, "GET", "/.well-known/jwks.json")
    assert response.status == 200, response.body
    return {key["kid"] for key in response.json()["keys"]}


# -- the challenge --------------------------------------------------------------------------
def test_the_challenge_sends_clients_to_regproxys_token_service(gate: Proxy) -> None:
    """With a signing key, every 401 is a Bearer challenge naming ``/token`` on the proxy's own
    origin, the service, and the scope the refused request needed; the JWKS is published."""
    base = request(gate.url, "GET", "/v2/")
    assert base.status == 401
    assert base.header("WWW-Authenticate") == f'Bearer realm="{gate.url}/token",service="{SERVICE}"'

    pull = get_manifest(gate, "team-a/some/app", "v1")
    assert pull.header("WWW-Authenticate") == (
        f'Bearer realm="{gate.url}/token",service="{SERVICE}",scope="repository:team-a/some/app:pull"'
    )
    push = start_upload(gate, "team-a/some/app")
    assert push.status == 401
    assert 'scope="repository:team-a/some/app:pull,push"' in (push.header("WWW-Authenticate") or "")

    keys = request(gate.url, "GET", "/.well-known/jwks.json").json()["keys"]
    assert [(k["kty"], k["crv"], k["alg"], k["use"]) for k in keys] == [("EC", "P-256", "ES256", "sig")]


# -- (a) a Basic user, through podman's token flow --------------------------------------------
def test_podman_exchanges_a_basic_login_for_tokens_and_pushes_and_pulls(
    podman_for: MakePodman, gate: Proxy, registry: Registry, layout: Path, tmp_path: Path
) -> None:
    """podman logs in as alice and pushes; bob pulls on another machine. podman meets the
    Bearer challenge, so it takes its Basic credentials to ``/token`` and sends the token it
    gets: the proxy's log names each token issued (for exactly this repository, push for
    alice, pull for bob), and the audit log shows the requests made with them allowed."""
    repo = f"team-a/{unique('podman-token')}/app"
    alice = podman_for("alice")
    local = load_into(alice, layout)
    login = alice.login(gate.address, *ALICE)
    assert login.ok, str(login)
    assert "Login Succeeded" in login.stdout
    digestfile = tmp_path / "pushed.digest"
    pushed = alice.push(local, f"{gate.address}/{repo}:v1", digestfile=digestfile)
    assert pushed.ok, str(pushed)
    pushed_digest = digestfile.read_text().strip()
    direct = request(registry.url, "GET", f"/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_TYPE})
    assert digest_of(direct.body) == pushed_digest

    bob = podman_for("bob")
    assert bob.login(gate.address, *BOB).ok
    pulled = bob.pull(f"{gate.address}/{repo}:v1")
    assert pulled.ok, str(pulled)
    assert bob.image_digest(f"{gate.address}/{repo}:v1") == pushed_digest

    wait_until(
        lambda: log_has(gate, f"token issued to user:alice: {repo}:pull,push"),
        timeout=10,
        what="the log line of alice's push token",
    )
    wait_until(
        lambda: log_has(gate, f"token issued to user:bob: {repo}:pull"),
        timeout=10,
        what="the log line of bob's pull token",
    )
    put = audit_events_where(gate, "alice's manifest PUT", method="PUT", path=f"/v2/{repo}/manifests/v1")
    assert [(e["principal"], e["decision"], e["status"]) for e in put] == [("user:alice", "allowed", 201)]
    got = audit_events_where(
        gate, "bob's manifest GET", method="GET", repository=repo, principal="user:bob", route="manifest"
    )
    assert {e["decision"] for e in got} == {"allowed"}


# -- (b) the token flow, by skopeo and by hand ---------------------------------------------
def test_skopeo_with_creds_follows_the_challenge(
    skopeo: Skopeo, gate: Proxy, registry: Registry, layout: Path, image: Image
) -> None:
    """skopeo given ``--creds`` meets the Bearer challenge and fetches tokens by itself: alice's
    push and bob's read work, and each went through a token issued for that repository."""
    repo = f"team-a/{unique('skopeo-token')}/app"
    pushed = skopeo.copy(f"oci:{layout}:latest", f"docker://{gate.address}/{repo}:v1", dest_creds=creds(ALICE))
    assert pushed.ok, str(pushed)
    through = skopeo.inspect_raw(f"docker://{gate.address}/{repo}:v1", creds=creds(BOB))
    assert through.ok, str(through)
    assert digest_of(through.stdout.encode()) == image.digest
    assert (
        request(registry.url, "GET", f"/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_TYPE}).body
        == image.manifest.data
    )
    wait_until(
        lambda: log_has(gate, f"token issued to user:alice: {repo}:pull,push"),
        timeout=10,
        what="the log line of alice's push token",
    )
    wait_until(
        lambda: log_has(gate, f"token issued to user:bob: {repo}:pull"),
        timeout=10,
        what="the log line of bob's pull token",
    )


def test_get_token_with_basic_and_two_scopes(gate: Proxy, registry: Registry, image: Image) -> None:
    """``GET /token`` with Basic and two ``scope`` parameters answers token, access_token,
    expires_in and issued_at; the token is an ES256 JWT of the published key whose ``access`` is
    each scope as the policy allows it; ``offline_token=true`` adds a refresh token; and the token
    pulls a manifest through ``/v2`` as ``Authorization: Bearer``."""
    repo = f"team-a/{unique('get-token')}/app"
    other = f"team-a/{unique('get-token')}/other"
    seed(registry, repo, image)
    response = get_token(gate, f"repository:{repo}:pull,push", f"repository:{other}:pull", auth=ALICE)
    assert response.status == 200, response.body
    assert response.header("Cache-Control") == "no-store"
    body = response.json()
    assert set(body) == {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    issued_at = datetime.fromisoformat(body["issued_at"])
    assert issued_at.tzinfo is not None and abs(issued_at.timestamp() - time.time()) < 60

    claims = claims_of(body["token"])
    assert (claims["iss"], claims["aud"], claims["sub"]) == (gate.url, SERVICE, "user:alice")
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert claims["access"] == [
        {"type": "repository", "name": repo, "actions": ["pull", "push"]},
        {"type": "repository", "name": other, "actions": ["pull"]},
    ]
    header = header_of(body["token"])
    assert header["alg"] == "ES256" and header["kid"] in jwks_kids(gate)

    offline = token_for(gate, ALICE, f"repository:{repo}:pull", offline_token="true")
    assert "refresh_token" in offline
    assert claims_of(offline["refresh_token"])["regproxy"]["use"] == "refresh"

    pulled = get_manifest(gate, repo, "v1", headers=bearer(body["token"]))
    assert pulled.status == 200, pulled.body
    assert pulled.body == image.manifest.data
    assert pulled.header("Docker-Content-Digest") == image.digest
    assert registry.saw(f'"GET /v2/{repo}/manifests/v1 ')

    wrong = get_token(gate, f"repository:{repo}:pull", auth=(ALICE[0], "not-her-password"))
    assert wrong.status == 401
    assert "token" not in wrong.body.decode()


def test_post_token_password_and_refresh_grants(gate: Proxy, registry: Registry, image: Image) -> None:
    """The OAuth2 form (``POST /token``, as containerd and podman send it): grant_type=password
    returns an access token (and a refresh token with ``access_type=offline``);
    grant_type=refresh_token exchanges the refresh token for a new access token, which pulls."""
    repo = f"team-a/{unique('post-token')}/app"
    seed(registry, repo, image)
    scope = f"repository:{repo}:pull"
    password = post_token(
        gate,
        {
            "grant_type": "password",
            "username": BOB[0],
            "password": BOB[1],
            "service": SERVICE,
            "scope": scope,
            "client_id": "regproxy-e2e",
            "access_type": "offline",
        },
    )
    assert password.status == 200, password.body
    granted = password.json()
    assert granted["scope"] == scope
    assert {"access_token", "refresh_token", "expires_in", "issued_at"} <= set(granted)
    assert get_manifest(gate, repo, "v1", headers=bearer(granted["access_token"])).status == 200

    refreshed = post_token(
        gate,
        {
            "grant_type": "refresh_token",
            "refresh_token": granted["refresh_token"],
            "service": SERVICE,
            "scope": scope,
            "client_id": "regproxy-e2e",
        },
    )
    assert refreshed.status == 200, refreshed.body
    renewed = refreshed.json()
    assert renewed["access_token"] != granted["access_token"]
    assert claims_of(renewed["access_token"])["sub"] == "user:bob"
    pulled = get_manifest(gate, repo, "v1", headers=bearer(renewed["access_token"]))
    assert pulled.status == 200 and pulled.body == image.manifest.data

    # a refresh token is for the token endpoint only, never a key to /v2
    assert_invalid_token(get_manifest(gate, repo, "v1", headers=bearer(granted["refresh_token"])))
    refused = post_token(
        gate,
        {
            "grant_type": "password",
            "username": BOB[0],
            "password": "wrong",
            "service": SERVICE,
            "scope": scope,
            "client_id": "regproxy-e2e",
        },
    )
    assert refused.status == 401
    assert refused.json()["error"] == "invalid_grant"


# -- (c) a pull-only access credential ------------------------------------------------------
def test_a_pull_only_access_credential_pulls_but_cannot_push(
    podman_for: MakePodman, gate: Proxy, registry: Registry, layout: Path, image: Image
) -> None:
    """ci-pull is an access credential of service-account:ci, whose group may push in team-a;
    its scope containerRegistry:pull bounds it to pulling: the token it gets for push names pull
    only, podman pulls and cannot push, and the push never reaches the registry."""
    repo = f"team-a/{unique('ci-pull')}/app"
    seed(registry, repo, image, "latest")
    before = len(registry.requests())
    explained = gate.cli(
        "explain", "--principal", "service-account:ci", "--action", "push", "--repository", repo
    )  # the policy alone would let the account push
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("ALLOW"), explained.stdout

    granted = token_for(gate, CI_PULL, f"repository:{repo}:pull,push")
    assert claims_of(granted["token"])["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    assert_denied(start_upload(gate, repo, headers=bearer(granted["token"])))
    assert_denied(start_upload(gate, repo, auth=CI_PULL))

    ci = podman_for("ci")
    assert ci.login(gate.address, *CI_PULL).ok
    pulled = ci.pull(f"{gate.address}/{repo}:latest")
    assert pulled.ok, str(pulled)
    assert ci.image_digest(f"{gate.address}/{repo}:latest") == image.digest
    assert_client_denied(ci.push(f"{gate.address}/{repo}:latest", f"{gate.address}/{repo}:from-ci"))

    assert request(registry.url, "GET", f"/v2/{repo}/tags/list").json()["tags"] == ["latest"]
    writes = [
        line
        for line in registry.requests()[before:]
        if any(f'"{method} /v2/{repo}/' in line for method in ("POST", "PUT", "PATCH"))
    ]
    assert writes == []
    denied = audit_events_where(gate, "the credential's denied upload", method="POST", repository=repo)
    assert {(e["principal"], e["credential"], e["decision"]) for e in denied} == {
        ("service-account:ci", "ci-pull", "scope-deny")
    }


# -- (d) short-lived credentials ------------------------------------------------------------
def test_a_short_lived_credential_works_until_it_expires(
    podman_for: MakePodman, gate: Proxy, registry: Registry, image: Image
) -> None:
    """``regproxy credentials issue --ttl 5s --scope pull --repository 'team-a/*'``: podman logs
    in and pulls with it; it is narrower than its principal (no push, nothing outside its glob);
    once its ``exp`` passes it is refused at /v2 and at /token, and podman can no longer pull."""
    repo = f"team-a/{unique('sts')}"  # one level below team-a: what the glob team-a/* covers
    seed(registry, repo, image)
    user, password = issue_short_lived(gate, ttl="5s")
    expires = claims_of(password)["exp"]

    ci = podman_for("sts")
    login = ci.login(gate.address, user, password)
    assert login.ok, str(login)
    pulled = ci.pull(f"{gate.address}/{repo}:v1")
    assert pulled.ok, str(pulled)
    assert ci.image_digest(f"{gate.address}/{repo}:v1") == image.digest
    assert_denied(start_upload(gate, repo, auth=(user, password)))  # ci may push; the credential may not
    assert_denied(get_manifest(gate, f"{repo}/deeper", "v1", auth=(user, password)))  # outside team-a/*

    def refused() -> Response | None:
        response = get_manifest(gate, repo, "v1", auth=(user, password))
        return response if response.status != 200 else None

    after = wait_until(refused, timeout=expires - time.time() + 20, what="the short-lived credential to expire")
    assert time.time() >= expires  # refused at its expiry, not before
    assert_unauthorized(after)
    assert get_token(gate, f"repository:{repo}:pull", auth=(user, password)).status == 401
    assert_client_unauthorized(ci.pull(f"{gate.address}/{repo}:v1"))


def test_a_short_lived_credential_is_revoked_early(
    podman_for: MakePodman, own_gate: Proxy, registry: Registry, image: Image
) -> None:
    """A one-hour credential is revoked by adding its jti to ``revoked:`` in the identities
    file, as ``credentials issue`` says: the proxy reloads the file and refuses it at once (no
    restart), podman can no longer pull, and refused requests never reach the registry."""
    repo = f"team-a/{unique('sts-revoked')}"
    seed(registry, repo, image)
    user, password = issue_short_lived(own_gate, ttl="1h")
    jti = claims_of(password)["jti"]
    assert user == f"sts-{jti}"

    ci = podman_for("sts")
    assert ci.login(own_gate.address, user, password).ok
    assert ci.pull(f"{own_gate.address}/{repo}:v1").ok

    own_gate.identities_path.write_text(identities(revoked=[jti]))
    tag = f"probe-{uuid.uuid4().hex[:8]}"  # the probe's own reference: its lines in the access log
    forwarded = 0

    def refused() -> Response | None:
        nonlocal forwarded
        response = get_manifest(own_gate, repo, tag, auth=(user, password))
        if response.status == 404:  # still accepted: the registry answered for the missing tag
            forwarded += 1
            return None
        return response

    assert_unauthorized(wait_until(refused, timeout=RELOAD_TIMEOUT, what="the revocation to be read"))
    assert len(registry.saw(f"/v2/{repo}/manifests/{tag} ")) == forwarded
    assert_client_unauthorized(ci.pull(f"{own_gate.address}/{repo}:v1"))
    assert get_token(own_gate, f"repository:{repo}:pull", auth=(user, password)).status == 401


def test_revoking_a_credential_revokes_the_tokens_minted_from_it(
    own_gate: Proxy, registry: Registry, image: Image
) -> None:
    """Tokens exchanged for a credential before it was revoked die with it: access tokens at
    /v2 and refresh tokens at /token, for an access credential (revoked by id) and for a
    short-lived credential (revoked by its username ``sts-<jti>``, the name audit lines show)."""
    repo = f"team-a/{unique('revoked-tokens')}"
    seed(registry, repo, image)
    scope = f"repository:{repo}:pull"
    sts = issue_short_lived(own_gate, ttl="1h")
    minted = {
        name: token_for(own_gate, account, scope, offline_token="true")
        for name, account in (("ci-pull", CI_PULL), ("sts", sts))
    }
    for granted in minted.values():
        assert get_manifest(own_gate, repo, "v1", headers=bearer(granted["token"])).status == 200

    own_gate.identities_path.write_text(identities(revoked=[CI_PULL[0], sts[0]]))
    wait_until(
        lambda: get_manifest(own_gate, repo, "v1", auth=CI_PULL).status == 401,
        timeout=RELOAD_TIMEOUT,
        what="the revocation to be read",
    )
    assert get_manifest(own_gate, repo, "v1", auth=sts).status == 401
    before = len(registry.saw(f"/v2/{repo}/manifests/v1 "))
    for name, granted in minted.items():
        assert_invalid_token(get_manifest(own_gate, repo, "v1", headers=bearer(granted["token"])))
        refreshed = get_token(own_gate, scope, headers=bearer(granted["refresh_token"]))
        assert refreshed.status == 401, (name, refreshed.body)
        form = post_token(
            own_gate,
            {
                "grant_type": "refresh_token",
                "refresh_token": granted["refresh_token"],
                "service": SERVICE,
                "scope": scope,
                "client_id": "regproxy-e2e",
            },
        )
        assert form.status == 401, (name, form.body)
    assert len(registry.saw(f"/v2/{repo}/manifests/v1 ")) == before


# -- (e) OIDC workload identity -------------------------------------------------------------
def test_an_oidc_workload_logs_in_with_podman_and_pushes_where_policy_allows(
    podman_for: MakePodman,
    gate: Proxy,
    registry: Registry,
    issuer: OidcIssuer,
    layout: Path,
    image: Image,
    tmp_path: Path,
) -> None:
    """``podman login -u oidc -p <jwt>`` with an ID token for repository acme/app: the claims map
    to service-account:gh:acme/app (group acme), which pushes under acme/app/ and nowhere else;
    another workload of the same owner (acme/tools) pulls what it pushed but cannot push; the
    ID token also works as a Bearer credential straight on /v2."""
    repo = f"acme/app/{unique('oidc')}"
    elsewhere = f"acme/{unique('not-app')}"
    workload = issuer.token(repository="acme/app", repository_owner="acme", ref="refs/heads/main")

    ci = podman_for("acme-app")
    local = load_into(ci, layout)
    login = ci.login(gate.address, "oidc", workload)
    assert login.ok, str(login)
    digestfile = tmp_path / "pushed.digest"
    pushed = ci.push(local, f"{gate.address}/{repo}:v1", digestfile=digestfile)
    assert pushed.ok, str(pushed)
    pushed_digest = digestfile.read_text().strip()
    direct = request(registry.url, "GET", f"/v2/{repo}/manifests/v1", headers={"Accept": MANIFEST_TYPE})
    assert direct.status == 200 and digest_of(direct.body) == pushed_digest
    assert_client_denied(ci.push(local, f"{gate.address}/{elsewhere}:v1"))
    assert not registry.has_repository(elsewhere)
    wait_until(
        lambda: log_has(gate, f"token issued to service-account:gh:acme/app: {repo}:pull,push"),
        timeout=10,
        what="the log line of the workload's push token",
    )
    put = audit_events_where(gate, "the workload's manifest PUT", method="PUT", path=f"/v2/{repo}/manifests/v1")
    assert [(e["principal"], e["decision"], e["statements"]) for e in put] == [
        ("service-account:gh:acme/app", "allowed", ["acme.yaml#acme-app-workload"])
    ]

    tools = podman_for("acme-tools")
    other_workload = issuer.token(repository="acme/tools", repository_owner="acme")
    assert tools.login(gate.address, "oidc", other_workload).ok
    pulled = tools.pull(f"{gate.address}/{repo}:v1")
    assert pulled.ok, str(pulled)
    assert tools.image_digest(f"{gate.address}/{repo}:v1") == pushed_digest
    assert_client_denied(tools.push(f"{gate.address}/{repo}:v1", f"{gate.address}/{repo}:from-tools"))
    assert request(registry.url, "GET", f"/v2/{repo}/tags/list").json()["tags"] == ["v1"]

    straight = get_manifest(gate, repo, "v1", headers=bearer(workload))
    assert straight.status == 200 and straight.body == direct.body
    assert_denied(start_upload(gate, elsewhere, headers=bearer(workload)))


def test_an_oidc_token_outside_the_issuers_required_claims_is_refused(
    podman_for: MakePodman, gate: Proxy, registry: Registry, issuer: OidcIssuer
) -> None:
    """The issuer's ``required_claims`` (repository_owner: acme) pin which workloads may log in
    at all: a genuine token of another owner is refused at login, at /token and on /v2."""
    stranger = issuer.token(repository="evil/app", repository_owner="evil")
    assert_client_unauthorized(podman_for("evil").login(gate.address, "oidc", stranger))
    assert get_token(gate, "repository:acme/app/x:pull", auth=("oidc", stranger)).status == 401
    tag = f"probe-{uuid.uuid4().hex[:8]}"
    assert_invalid_token(get_manifest(gate, "acme/app/x", tag, headers=bearer(stranger)))
    assert_unauthorized(get_manifest(gate, "acme/app/x", tag, auth=("oidc", stranger)))
    assert registry.saw(f"/manifests/{tag}") == []


def test_an_issuer_that_is_down_gives_503_never_401_never_an_allow(
    podman_for: MakePodman, gate: Proxy, registry: Registry, down_issuer: str
) -> None:
    """A token of a configured issuer whose keys cannot be fetched cannot be verified: the
    answer is 503 UNAVAILABLE (try later), not 401 (your token is bad) and never an allow, on
    /v2 (Bearer or Basic ``oidc``) and at /token; podman login fails; nothing is forwarded."""
    key = new_rsa_key()
    now = int(time.time())
    claims = {"iss": down_issuer, "aud": OIDC_AUDIENCE, "sub": "workload", "iat": now, "exp": now + 300}
    token = sign(claims, key, kid="down-1")
    tag = f"probe-{uuid.uuid4().hex[:8]}"
    for response in (
        get_manifest(gate, "acme/app/x", tag, headers=bearer(token)),
        get_manifest(gate, "acme/app/x", tag, auth=("oidc", token)),
        get_token(gate, "repository:acme/app/x:pull", auth=("oidc", token)),
    ):
        assert response.status == 503, (response.status, response.body)
        assert response.error_codes() == ["UNAVAILABLE"]
    assert registry.saw(f"/manifests/{tag}") == []
    login = podman_for("down").login(gate.address, "oidc", token)
    assert not login.ok, str(login)
    assert "Login Succeeded" not in login.stdout


# -- refusals: forged and invalid tokens ------------------------------------------------------
class Genuine(NamedTuple):
    """A genuine token of one source, and what forging variants of it takes."""

    token: str
    claims: dict[str, Any]
    key: PrivateKey  # the key the verifier trusts: the test holds it, so it can sign bad claims
    kid: str
    repository: str  # one the token's principal may pull


def _without(claims: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k != name}


def _expired(claims: dict[str, Any]) -> dict[str, Any]:  # an hour ago: far beyond any leeway
    now = int(time.time())
    return claims | {"iat": now - 3900, "nbf": now - 3900, "exp": now - 3600}


def _stranger(key: PrivateKey) -> PrivateKey:
    """A key of the same type that the verifier has never seen."""
    return new_ec_key() if isinstance(key, ec.EllipticCurvePrivateKey) else new_rsa_key()


FORGERIES: dict[str, Callable[[Genuine], str]] = {
    "tampered-signature": lambda g: tampered(g.token),
    "edited-claims": lambda g: with_claims(g.token, sub="user:admin", repository="acme/other"),
    "alg-none": lambda g: unsigned(g.claims, kid=g.kid),
    "hs256-with-the-public-key": lambda g: hs256_with_public_key(g.claims, g.key, kid=g.kid),
    "unknown-kid": lambda g: sign(g.claims, _stranger(g.key), kid="no-such-key"),
    "missing-exp": lambda g: sign(_without(g.claims, "exp"), g.key, kid=g.kid),
    "expired": lambda g: sign(_expired(g.claims), g.key, kid=g.kid),
    "wrong-aud": lambda g: sign(g.claims | {"aud": "another-registry"}, g.key, kid=g.kid),
    "wrong-iss": lambda g: sign(g.claims | {"iss": "https://issuer.invalid"}, g.key, kid=g.kid),
}


@pytest.fixture(params=["regproxy", "oidc"])
def genuine(request: pytest.FixtureRequest, gate: Proxy, issuer: OidcIssuer, signing_key: Path) -> Genuine:
    """A token from regproxy's own token service (alice's) or from the OIDC issuer (acme/app's)."""
    if request.param == "regproxy":
        repo = "team-a/forgeries/app"
        token = token_for(gate, ALICE, f"repository:{repo}:pull")["token"]
        return Genuine(token, claims_of(token), read_private_key(signing_key), header_of(token)["kid"], repo)
    token = issuer.token(repository="acme/app", repository_owner="acme")
    return Genuine(token, claims_of(token), issuer.key, issuer.kid, "acme/app/forgeries")


def test_a_genuine_token_reaches_the_registry(gate: Proxy, registry: Registry, genuine: Genuine) -> None:
    """The control for the forgeries below: the genuine token, and its claims signed again with
    the trusted key, are accepted and forwarded (the registry answers 404: nobody pushed the tag)."""
    tag = f"probe-{uuid.uuid4().hex[:8]}"
    for candidate in (genuine.token, sign(genuine.claims, genuine.key, kid=genuine.kid)):
        response = get_manifest(gate, genuine.repository, tag, headers=bearer(candidate))
        assert response.status == 404, (response.status, response.body)
        assert response.error_codes() == ["MANIFEST_UNKNOWN"]
    assert len(registry.saw(f"/v2/{genuine.repository}/manifests/{tag} ")) == 2


@pytest.mark.parametrize("forgery", list(FORGERIES))
def test_a_forged_or_invalid_bearer_token_is_refused_before_the_registry(
    gate: Proxy, registry: Registry, genuine: Genuine, forgery: str
) -> None:
    """Each defect alone (signature, claims edited after signing, ``alg: none``, HS256 keyed
    with the public key, unknown kid, no ``exp``, past ``exp``, another audience, another
    issuer) makes a token of regproxy's own or of the OIDC issuer a 401 with
    ``error="invalid_token"``, and the request never reaches the registry."""
    forged = FORGERIES[forgery](genuine)
    tag = f"probe-{uuid.uuid4().hex[:8]}"
    assert_invalid_token(get_manifest(gate, genuine.repository, tag, headers=bearer(forged)))
    assert registry.saw(f"/manifests/{tag}") == []


def test_the_token_service_refuses_another_service(gate: Proxy) -> None:
    """A token request naming another service is refused (400 on GET, ``invalid_request`` on
    the OAuth2 form) and issues nothing; a token *for* another service (its ``aud``) is refused
    on /v2 (the wrong-aud forgeries above)."""
    only_other = get_token(gate, "repository:team-a/x/app:pull", auth=ALICE, service="another-registry")
    assert only_other.status == 400, only_other.body
    assert only_other.error_codes() == ["UNSUPPORTED"]
    assert "token" not in only_other.json()
    form = post_token(
        gate,
        {
            "grant_type": "password",
            "username": ALICE[0],
            "password": ALICE[1],
            "service": "another-registry",
            "scope": "repository:team-a/x/app:pull",
            "client_id": "regproxy-e2e",
        },
    )
    assert form.status == 400
    assert form.json()["error"] == "invalid_request"


# -- refusals: scope escalation, stale and revoked credentials --------------------------------
def test_a_token_never_carries_more_than_the_policy_allows(gate: Proxy, registry: Registry, image: Image) -> None:
    """bob (pull only) asks for pull,push: his token's access names pull only, it pulls, and a
    push with it is 403 DENIED (a new token would not help). alice (who may push) asks for pull
    only: her token cannot push either; it is answered 401 with error="insufficient_scope"
    naming pull,push (the token-auth protocol: a better token would be granted), while her
    pull,push token can (the control). Only the control's upload reached the registry."""
    repo = f"team-a/{unique('escalation')}/app"
    seed(registry, repo, image)
    mark = len(registry.requests())
    bobs = token_for(gate, BOB, f"repository:{repo}:pull,push")["token"]
    assert claims_of(bobs)["access"] == [{"type": "repository", "name": repo, "actions": ["pull"]}]
    assert get_manifest(gate, repo, "v1", headers=bearer(bobs)).status == 200
    assert_denied(start_upload(gate, repo, headers=bearer(bobs)))

    alices_pull = token_for(gate, ALICE, f"repository:{repo}:pull")["token"]
    insufficient = start_upload(gate, repo, headers=bearer(alices_pull))
    assert_unauthorized(insufficient)
    challenge = insufficient.header("WWW-Authenticate") or ""
    assert f'scope="repository:{repo}:pull,push"' in challenge and 'error="insufficient_scope"' in challenge
    alices_push = token_for(gate, ALICE, f"repository:{repo}:pull,push")["token"]
    assert start_upload(gate, repo, headers=bearer(alices_push)).status == 202

    uploads = [line for line in registry.requests()[mark:] if f'"POST /v2/{repo}/blobs/uploads/' in line]
    assert len(uploads) == 1
    posts = audit_events_where(gate, "three upload decisions", at_least=3, method="POST", repository=repo)
    assert [(e["principal"], e["decision"]) for e in posts] == [
        ("user:bob", "default-deny"),
        ("user:alice", "insufficient-scope"),
        ("user:alice", "allowed"),
    ]


def test_expired_and_revoked_access_credentials_are_refused(
    podman_for: MakePodman, gate: Proxy, registry: Registry
) -> None:
    """An access credential past its ``expires`` and one listed under ``revoked:`` are refused
    on /v2 and at /token, and podman cannot log in with them; a valid one of the same account
    can (the control)."""
    tag = f"probe-{uuid.uuid4().hex[:8]}"
    for account in (CI_EXPIRED, CI_REVOKED):
        assert_unauthorized(get_manifest(gate, "team-a/x/app", tag, auth=account))
        assert_unauthorized(request(gate.url, "GET", "/v2/", auth=account))
        assert get_token(gate, "repository:team-a/x/app:pull", auth=account).status == 401
        assert_client_unauthorized(podman_for(account[0]).login(gate.address, *account))
    assert registry.saw(f"/manifests/{tag}") == []
    assert request(gate.url, "GET", "/v2/", auth=CI_PULL).status == 200
    assert podman_for("ci-pull").login(gate.address, *CI_PULL).ok


# -- a reloaded deny ------------------------------------------------------------------------
DENY_BOB = """\
version: 1
statements:
  - id: bob-denied-{suffix}
    effect: deny
    principals: [user:bob]
    actions: [pull, list]
    resources: ["{repo}"]
"""


def test_a_reloaded_deny_bites_a_token_issued_before_it(own_gate: Proxy, registry: Registry, image: Image) -> None:
    """bob's token was issued while he could pull (its access names pull). A deny added to the
    policies directory takes effect on the next request with that same token: the policy in
    force decides, the token is only an upper bound. Refused pulls never reach the registry."""
    repo = f"team-a/{unique('reload-deny')}/app"
    seed(registry, repo, image)
    token = token_for(own_gate, BOB, f"repository:{repo}:pull")["token"]
    assert claims_of(token)["access"][0]["actions"] == ["pull"]
    assert get_manifest(own_gate, repo, "v1", headers=bearer(token)).status == 200
    allowed = 1

    (own_gate.policies_dir / "zz-deny-bob.yaml").write_text(DENY_BOB.format(suffix=uuid.uuid4().hex[:6], repo=repo))

    def refused() -> Response | None:
        nonlocal allowed
        response = get_manifest(own_gate, repo, "v1", headers=bearer(token))
        if response.status == 200:
            allowed += 1
            return None
        return response

    assert_denied(wait_until(refused, timeout=RELOAD_TIMEOUT, what="the deny to be loaded"))
    assert_denied(get_manifest(own_gate, repo, "v1", headers=bearer(token)))
    assert len(registry.saw(f'"GET /v2/{repo}/manifests/v1 ')) == allowed
    denied = audit_events_where(own_gate, "the explicit deny", repository=repo, decision="explicit-deny")
    assert all(
        e["principal"] == "user:bob" and e["statements"][0].startswith("zz-deny-bob.yaml#bob-denied-") for e in denied
    )
    # a token asked for now carries no pull at all: the token service reads the same policy
    assert claims_of(token_for(own_gate, BOB, f"repository:{repo}:pull")["token"])["access"][0]["actions"] == []
