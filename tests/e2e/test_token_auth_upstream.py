"""podman and skopeo through regproxy in front of a registry with its own token auth.

The registry is docker-registry with ``auth: token`` (tests/support/token_issuer.py issues the
tokens, the registry validates them for real); regproxy speaks the token flow with its service
credential. Clients never see the registry's realm: they log in to regproxy as usual.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.e2e.conftest import MakePodman
from tests.support import Image, Proxy, Skopeo, build_image, digest_of, write_layout
from tests.support.examples import ADMIN, ALICE, BOB, unique
from tests.support.token_issuer import TokenIssuer
from tests.support.upstreams import UpstreamRegistry

pytestmark = pytest.mark.e2e


def creds(account: tuple[str, str]) -> str:
    return f"{account[0]}:{account[1]}"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenIssuer]:
    server = TokenIssuer(tmp_path_factory.mktemp("token-issuer"), use_x5c=True).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token_registry(issuer: TokenIssuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstreamRegistry]:
    registry = UpstreamRegistry(tmp_path_factory.mktemp("token-registry"), auth=issuer.registry_auth()).start()
    yield registry
    registry.stop()


@pytest.fixture
def bearer_proxy(make_proxy: MakeProxy, token_registry: UpstreamRegistry, tmp_path: Path) -> Proxy:
    secret = tmp_path / "svc.password"
    secret.write_text("svc-secret\n")
    upstream = {"url": token_registry.url, "auth": "bearer", "username": "svc", "password_file": str(secret)}
    return make_proxy(upstream_url=token_registry.url, settings={"upstream": upstream})


@pytest.fixture
def image() -> Image:
    return build_image((200 * 1024, 100 * 1024))


@pytest.fixture
def layout(tmp_path: Path, image: Image) -> Path:
    return write_layout(tmp_path / "layout", image)


def test_podman_push_and_pull_through_regproxy_to_a_token_auth_registry(
    podman_for: MakePodman, bearer_proxy: Proxy, issuer: TokenIssuer, layout: Path, tmp_path: Path
) -> None:
    """alice pushes with podman, bob pulls on other storage: same digest, and the tokens the
    registry accepted were the service account's, asked for the repository's own scopes."""
    repo = f"team-a/{unique('podman-token')}/app"
    alice = podman_for("alice")
    loaded = alice.pull(f"oci:{layout}:latest")
    assert loaded.ok, str(loaded)
    local = loaded.stdout.strip().splitlines()[-1]
    assert alice.login(bearer_proxy.address, *ALICE).ok
    digestfile = tmp_path / "pushed.digest"
    pushed = alice.push(local, f"{bearer_proxy.address}/{repo}:v1", digestfile=digestfile)
    assert pushed.ok, str(pushed)

    bob = podman_for("bob")
    assert bob.login(bearer_proxy.address, *BOB).ok
    pulled = bob.pull(f"{bearer_proxy.address}/{repo}:v1")
    assert pulled.ok, str(pulled)
    assert bob.image_digest(f"{bearer_proxy.address}/{repo}:v1") == digestfile.read_text().strip()
    assert issuer.fetches(f"repository:{repo}:pull,push") and issuer.fetches(f"repository:{repo}:pull")
    assert {r.account for r in issuer.fetches()} == {"svc"}


def test_skopeo_copy_between_repositories_mounts_with_a_two_resource_token(
    skopeo: Skopeo,
    bearer_proxy: Proxy,
    token_registry: UpstreamRegistry,
    issuer: TokenIssuer,
    layout: Path,
    image: Image,
    tmp_path: Path,
) -> None:
    """admin copies an image from one repository to another through regproxy: skopeo mounts the
    layers (the registry answers 201 to ``?mount=``), which needs a token naming both repositories;
    then admin deletes the copy's manifest."""
    source, target = f"team-a/{unique('src')}", f"team-a/{unique('dst')}"
    seeded = skopeo.copy(
        f"oci:{layout}:latest", f"docker://{bearer_proxy.address}/{source}:v1", dest_creds=creds(ALICE)
    )
    assert seeded.ok, str(seeded)
    # a pull teaches skopeo's blob-info cache where the blobs live, so the next push mounts them
    read = skopeo.copy(
        f"docker://{bearer_proxy.address}/{source}:v1", f"oci:{tmp_path / 'read'}:latest", src_creds=creds(ADMIN)
    )
    assert read.ok, str(read)
    copied = skopeo.copy(
        f"docker://{bearer_proxy.address}/{source}:v1",
        f"docker://{bearer_proxy.address}/{target}:v1",
        src_creds=creds(ADMIN),
        dest_creds=creds(ADMIN),
    )
    assert copied.ok, str(copied)
    uploads = token_registry.saw(f"POST /v2/{target}/blobs/uploads/?")
    mounts = [line for line in uploads if "mount=" in line and '" 201 ' in line]
    assert len(mounts) == len(image.layers), uploads  # the layers are mounted (the config is put)
    assert issuer.fetches(f"repository:{source}:pull")
    assert [r for r in issuer.fetches(f"repository:{target}:pull,push") if f"repository:{source}:pull" in r.scopes]

    inspected = skopeo.inspect_raw(f"docker://{bearer_proxy.address}/{target}:v1", creds=creds(ADMIN))
    assert inspected.ok and digest_of(inspected.stdout.encode()) == image.digest
    deleted = skopeo.run(
        "delete", "--tls-verify=false", "--creds", creds(ADMIN), f"docker://{bearer_proxy.address}/{target}:v1"
    )
    assert deleted.ok, str(deleted)
    assert issuer.fetches(f"repository:{target}:delete")
    gone = skopeo.inspect_raw(f"docker://{bearer_proxy.address}/{target}:v1", creds=creds(ADMIN))
    assert not gone.ok
