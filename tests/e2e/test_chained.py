"""regproxy in front of regproxy: an edge regproxy before a team's regproxy before the registry.

The team's (inner) regproxy runs its own token service; the edge logs in to it with a service
account through ``upstream.auth: bearer``, the same flow it speaks to Harbor or a cloud registry.
Both decide: the edge on its users' rights, the inner on the edge's. podman pushes and pulls
through both; nothing of the inner's challenge reaches a client of the edge.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from regproxy.identity.passwords import hash_password
from tests.e2e.conftest import MakePodman
from tests.support import Proxy, Registry, Skopeo, build_image, digest_of, request, wait_until, write_layout
from tests.support.examples import ALICE, BOB, unique
from tests.support.operations import scrape
from tests.support.proxy import EXAMPLES
from tests.support.tokens import write_ec_key

pytestmark = pytest.mark.e2e

EDGE_ACCOUNT = ("edge", "edge-service-secret")


@pytest.fixture(scope="module")
def inner(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """The team's regproxy: the example identities plus the edge's account (an admin here)."""
    workdir = tmp_path_factory.mktemp("inner-regproxy")
    identities = yaml.safe_load((EXAMPLES / "identities.yaml").read_text())
    identities["users"].append(
        {"name": EDGE_ACCOUNT[0], "password": hash_password(EDGE_ACCOUNT[1], log_n=10), "groups": ["registry-admins"]}
    )
    key = write_ec_key(workdir / "signing.pem")
    server = Proxy(
        workdir / "server",
        registry.url,
        identities=yaml.safe_dump(identities),
        settings={"tokens": {"signing_key": str(key)}, "service": "team-registry"},
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def edge(inner: Proxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    workdir = tmp_path_factory.mktemp("edge-regproxy")
    secret = workdir / "inner.password"
    secret.write_text(EDGE_ACCOUNT[1] + "\n")
    upstream = {"url": inner.url, "auth": "bearer", "username": EDGE_ACCOUNT[0], "password_file": str(secret)}
    server = Proxy(workdir / "server", inner.url, settings={"upstream": upstream}).start()
    yield server
    server.stop()


def inner_events(inner: Proxy, repository: str) -> list[dict[str, object]]:
    return [e for e in inner.audit_events() if e.get("repository") == repository]


def test_podman_pushes_and_pulls_through_two_regproxies(
    podman_for: MakePodman, edge: Proxy, inner: Proxy, registry: Registry, skopeo: Skopeo, tmp_path: Path
) -> None:
    """alice pushes through the edge, bob pulls through it: the registry holds alice's digest,
    and the inner regproxy saw every request as the edge's account, with its own bearer tokens."""
    repo = f"team-a/{unique('chained')}/app"
    image = build_image((200 * 1024, 100 * 1024))
    layout = write_layout(tmp_path / "layout", image)
    alice = podman_for("alice")
    loaded = alice.pull(f"oci:{layout}:latest")
    assert loaded.ok, str(loaded)
    assert alice.login(edge.address, *ALICE).ok
    digestfile = tmp_path / "pushed.digest"
    pushed = alice.push(loaded.stdout.strip().splitlines()[-1], f"{edge.address}/{repo}:v1", digestfile=digestfile)
    assert pushed.ok, str(pushed)
    direct = skopeo.inspect_raw(f"docker://{registry.address}/{repo}:v1")
    assert direct.ok and digest_of(direct.stdout.encode()) == digestfile.read_text().strip()

    bob = podman_for("bob")
    assert bob.login(edge.address, *BOB).ok
    pulled = bob.pull(f"{edge.address}/{repo}:v1")
    assert pulled.ok, str(pulled)
    assert bob.image_digest(f"{edge.address}/{repo}:v1") == digestfile.read_text().strip()

    events = wait_until(lambda: inner_events(inner, repo) or None, timeout=10, what="the inner regproxy's audit lines")
    assert {e["principal"] for e in events} == {"user:edge"}
    assert {e["decision"] for e in events} == {"allowed"}
    assert scrape(inner.admin_url).value("regproxy_tokens_issued_total") > 0  # the edge spoke bearer


def test_the_edge_still_decides_and_hides_the_inner_challenge(edge: Proxy, inner: Proxy) -> None:
    """bob may only pull in team-a: his push is refused at the edge and never reaches the inner
    regproxy; an anonymous caller gets the edge's own challenge, never the inner's realm."""
    repo = f"team-a/{unique('chained-denied')}"
    refused = request(edge.url, "POST", f"/v2/{repo}/blobs/uploads/", auth=BOB, body=b"")
    assert refused.status == 403
    anonymous = request(edge.url, "GET", f"/v2/{repo}/tags/list")
    assert anonymous.status == 401
    challenge = anonymous.header("WWW-Authenticate") or ""
    assert inner.url not in challenge and "team-registry" not in challenge
    listed = request(edge.url, "GET", f"/v2/{repo}/tags/list", auth=BOB)
    assert listed.status == 404  # forwarded with the edge's token: the inner and the registry answer
    wait_until(lambda: inner_events(inner, repo) or None, timeout=10, what="the inner's line for bob's list")
    assert [e["action"] for e in inner_events(inner, repo)] == ["list"]
