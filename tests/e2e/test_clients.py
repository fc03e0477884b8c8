"""Real clients through regproxy: skopeo and podman push and pull, exactly as users run them.

Each test keeps to repositories of its own and to its own client state (podman storage, auth
file, registries.conf under the test's folder). Images are a few hundred KiB of random layers,
so each client run takes well under a second. What a test proves is stated in its docstring;
digests are always checked against the registry itself (asked directly, bypassing regproxy).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import MakePodman
from tests.support import (
    Image,
    Proxy,
    Registry,
    Skopeo,
    build_image,
    digest_of,
    request,
    wait_until,
    write_layout,
)
from tests.support.examples import ADMIN, ALICE, BOB, CI_PULL, unique

pytestmark = pytest.mark.e2e

LAYERS = (200 * 1024, 100 * 1024)


def creds(account: tuple[str, str]) -> str:
    return f"{account[0]}:{account[1]}"


@pytest.fixture
def image() -> Image:
    return build_image(LAYERS)


@pytest.fixture
def layout(tmp_path: Path, image: Image) -> Path:
    """The test's image as an OCI layout on disk, tagged ``latest``."""
    return write_layout(tmp_path / "layout", image)


def seed(skopeo: Skopeo, registry: Registry, layout: Path, repository: str, tag: str = "latest") -> None:
    """Put the layout's image straight into the registry, bypassing regproxy."""
    run = skopeo.copy(f"oci:{layout}:latest", f"docker://{registry.address}/{repository}:{tag}")
    assert run.ok, str(run)


def manifest_direct(skopeo: Skopeo, registry: Registry, reference: str) -> bytes:
    run = skopeo.inspect_raw(f"docker://{registry.address}/{reference}")
    assert run.ok, str(run)
    return run.stdout.encode()


def assert_denied(run: object) -> None:
    text = str(run).lower()
    assert "denied" in text or "403" in text or "forbidden" in text, text


# -- skopeo -----------------------------------------------------------------------------------
def test_skopeo_push_and_pull_keep_every_digest(
    skopeo: Skopeo, proxy: Proxy, registry: Registry, layout: Path, image: Image, tmp_path: Path
) -> None:
    """alice pushes with skopeo through regproxy; the registry holds exactly her manifest; bob
    reads the same bytes through regproxy and pulls an image with the same digests."""
    repo = f"team-a/{unique('skopeo')}/app"
    pushed = skopeo.copy(f"oci:{layout}:latest", f"docker://{proxy.address}/{repo}:v1", dest_creds=creds(ALICE))
    assert pushed.ok, str(pushed)

    direct = manifest_direct(skopeo, registry, f"{repo}:v1")
    through = skopeo.inspect_raw(f"docker://{proxy.address}/{repo}:v1", creds=creds(BOB))
    assert through.ok, str(through)
    assert through.stdout.encode() == direct
    assert digest_of(direct) == image.digest  # pushed verbatim: the layout's own manifest

    by_digest = skopeo.inspect_raw(f"docker://{proxy.address}/{repo}@{image.digest}", creds=creds(BOB))
    assert by_digest.ok, str(by_digest)
    assert by_digest.stdout.encode() == direct

    pulled_dir = tmp_path / "pulled"
    pulled = skopeo.copy(f"docker://{proxy.address}/{repo}:v1", f"oci:{pulled_dir}:latest", src_creds=creds(BOB))
    assert pulled.ok, str(pulled)
    index = json.loads((pulled_dir / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.digest]
    for blob in (*image.blobs, image.manifest):
        stored = pulled_dir / "blobs" / "sha256" / blob.digest.split(":", 1)[1]
        assert digest_of(stored.read_bytes()) == blob.digest


def test_skopeo_cannot_overwrite_a_release_tag(
    skopeo: Skopeo, proxy: Proxy, registry: Registry, layout: Path, tmp_path: Path
) -> None:
    """The example policy makes v* tags immutable: a second push to v1 is denied and the tag
    still names the first image; a non-release tag can be moved."""
    repo = f"team-a/{unique('immutable')}/app"
    first = skopeo.copy(f"oci:{layout}:latest", f"docker://{proxy.address}/{repo}:v1", dest_creds=creds(ALICE))
    assert first.ok, str(first)
    original = manifest_direct(skopeo, registry, f"{repo}:v1")

    other = write_layout(tmp_path / "other", build_image((64 * 1024,)))
    again = skopeo.copy(f"oci:{other}:latest", f"docker://{proxy.address}/{repo}:v1", dest_creds=creds(ALICE))
    assert not again.ok
    assert_denied(again)
    assert manifest_direct(skopeo, registry, f"{repo}:v1") == original

    for source in (layout, other):  # create, then move, a non-release tag
        moved = skopeo.copy(f"oci:{source}:latest", f"docker://{proxy.address}/{repo}:latest", dest_creds=creds(ALICE))
        assert moved.ok, str(moved)
    assert manifest_direct(skopeo, registry, f"{repo}:latest") != original


# -- podman -----------------------------------------------------------------------------------
def test_podman_login_push_and_pull(
    podman_for: MakePodman, tmp_path: Path, proxy: Proxy, registry: Registry, skopeo: Skopeo, layout: Path
) -> None:
    """podman login/push as alice through regproxy, then login/pull as bob on another
    machine's storage: the digest podman pushed is the one the registry serves and the one bob
    pulls."""
    repo = f"team-a/{unique('podman')}/app"
    alice = podman_for("alice")
    loaded = alice.pull(f"oci:{layout}:latest")
    assert loaded.ok, str(loaded)
    local = loaded.stdout.strip().splitlines()[-1]

    login = alice.login(proxy.address, *ALICE)
    assert login.ok, str(login)
    assert "Login Succeeded" in login.stdout
    digestfile = tmp_path / "pushed.digest"
    pushed = alice.push(local, f"{proxy.address}/{repo}:v1", digestfile=digestfile)
    assert pushed.ok, str(pushed)
    pushed_digest = digestfile.read_text().strip()
    assert digest_of(manifest_direct(skopeo, registry, f"{repo}:v1")) == pushed_digest

    bob = podman_for("bob")
    assert bob.login(proxy.address, *BOB).ok
    pulled = bob.pull(f"{proxy.address}/{repo}:v1")
    assert pulled.ok, str(pulled)
    assert bob.image_digest(f"{proxy.address}/{repo}:v1") == pushed_digest


def test_podman_login_with_a_wrong_password_fails(podman_for: MakePodman, tmp_path: Path, proxy: Proxy) -> None:
    """regproxy's 401 reaches podman: the login fails and stores nothing."""
    client = podman_for("mallory")
    login = client.login(proxy.address, "alice", "wrong-password")
    assert not login.ok
    message = str(login).lower()
    assert "invalid username/password" in message or "unauthorized" in message, message
    assert json.loads(client.authfile.read_text()).get("auths", {}) == {}


def test_reader_pulls_but_cannot_push(
    podman_for: MakePodman, tmp_path: Path, proxy: Proxy, registry: Registry, skopeo: Skopeo, layout: Path, image: Image
) -> None:
    """bob (pull on team-a/** only) pulls there with podman, and podman push there fails with
    denied: the registry's tag still names the original image and no new repository appears."""
    repo = f"team-a/{unique('reader')}/app"
    seed(skopeo, registry, layout, repo, "v1")
    bob = podman_for("bob")
    assert bob.login(proxy.address, *BOB).ok
    pulled = bob.pull(f"{proxy.address}/{repo}:v1")
    assert pulled.ok, str(pulled)
    assert bob.image_digest(f"{proxy.address}/{repo}:v1") == image.digest

    new_repo = f"team-a/{unique('bob-new')}/app"
    before = len(registry.requests())
    for destination in (f"{repo}:bob", f"{new_repo}:latest"):
        pushed = bob.push(f"{proxy.address}/{repo}:v1", f"{proxy.address}/{destination}")
        assert not pushed.ok
        assert_denied(pushed)
    tags = request(registry.url, "GET", f"/v2/{repo}/tags/list").json()["tags"]
    assert tags == ["v1"]
    # podman's blob HEADs are reads bob may make; no write of his reached the registry
    writes = [
        line
        for line in registry.requests()[before:]
        if any(f'"{m} /v2/{r}/' in line for m in ("POST", "PUT", "PATCH", "DELETE") for r in (repo, new_repo))
    ]
    assert writes == []
    assert not registry.has_repository(new_repo)


def test_reader_cannot_read_another_namespace(
    podman_for: MakePodman, tmp_path: Path, proxy: Proxy, registry: Registry, skopeo: Skopeo, layout: Path
) -> None:
    """bob may pull team-a only: neither podman nor skopeo gets a team-b image through regproxy,
    though it is there (the registry serves it directly)."""
    secret = f"team-b/{unique('secret')}/app"
    seed(skopeo, registry, layout, secret)
    bob = podman_for("bob")
    assert bob.login(proxy.address, *BOB).ok
    pulled = bob.pull(f"{proxy.address}/{secret}:latest")
    assert not pulled.ok
    assert_denied(pulled)

    copied = skopeo.copy(
        f"docker://{proxy.address}/{secret}:latest", f"oci:{tmp_path / 'stolen'}:latest", src_creds=creds(BOB)
    )
    assert not copied.ok
    assert_denied(copied)
    assert not (tmp_path / "stolen" / "index.json").exists() or not json.loads(
        (tmp_path / "stolen" / "index.json").read_text()
    ).get("manifests")
    assert skopeo.inspect_raw(f"docker://{registry.address}/{secret}:latest").ok  # it is there


def test_a_blob_cannot_be_mounted_out_of_an_unreadable_namespace(
    tmp_path: Path, proxy: Proxy, registry: Registry, skopeo: Skopeo, layout: Path, image: Image
) -> None:
    """alice may push in team-a but not pull in team-b. Her mount of a team-b blob gets a plain
    upload (202), never a mount (201), though the registry would mount it; her copy of the
    team-b image fails; and her own push of the same image into team-a, by a skopeo that knows
    the blobs are in team-b, still works with every blob uploaded in full: each of her requests
    touching team-b was denied."""
    secret = f"team-b/{unique('secret')}/app"
    seed(skopeo, registry, layout, secret)
    target = f"team-a/{unique('mount')}/app"
    layer = image.layers[0]

    mount = f"/v2/{target}/blobs/uploads/?mount={layer.digest}&from={secret}"
    response = request(proxy.url, "POST", mount, auth=ALICE, body=b"")
    assert response.status == 202, response.body
    assert "/blobs/uploads/" in (response.header("Location") or "")
    assert request(proxy.url, "HEAD", f"/v2/{target}/blobs/{layer.digest}", auth=ALICE).status == 404
    direct = request(
        registry.url,
        "POST",
        f"/v2/team-b/{unique('probe')}/blobs/uploads/?mount={layer.digest}&from={secret}",
        body=b"",
    )
    assert direct.status == 201  # what the registry does with the same mount asked directly

    copied = skopeo.copy(
        f"docker://{proxy.address}/{secret}:latest", f"oci:{tmp_path / 'stolen'}:latest", src_creds=creds(ALICE)
    )
    assert not copied.ok
    assert_denied(copied)

    # admin pulls the team-b image through regproxy: skopeo's blob-info cache now knows that
    # these blobs live in team-b on this registry, so alice's push will try to mount them
    shared = skopeo.copy(
        f"docker://{proxy.address}/{secret}:latest", f"oci:{tmp_path / 'admin'}:latest", src_creds=creds(ADMIN)
    )
    assert shared.ok, str(shared)
    pushed = skopeo.copy(f"oci:{layout}:latest", f"docker://{proxy.address}/{target}:latest", dest_creds=creds(ALICE))
    assert pushed.ok, str(pushed)
    assert digest_of(manifest_direct(skopeo, registry, f"{target}:latest")) == image.digest
    seen = registry.requests()
    uploads = [line for line in seen if f'"PUT /v2/{target}/blobs/uploads/' in line]
    assert len(uploads) == len(image.blobs)  # every blob uploaded in full, none mounted
    assert not [line for line in seen if f"/v2/{target}/" in line and "mount=" in line]

    # whatever alice's client tried in team-b (a copy, blob probes before a mount), all was denied
    def audited() -> list[dict[str, object]] | None:
        events = proxy.audit_events()
        done = any(e["method"] == "PUT" and e["path"] == f"/v2/{target}/manifests/latest" for e in events)
        return events if done else None

    events = wait_until(audited, timeout=10, what="the audit event of alice's manifest push")
    in_team_b = [e for e in events if e["principal"] == "user:alice" and e["namespace"] == "team-b"]
    assert in_team_b, "alice's copy of the team-b image was not audited"
    assert {e["status"] for e in in_team_b} == {403}
    dropped = [e for e in events if e["repository"] == target and e["mount_dropped"]]
    assert len(dropped) == 1  # the raw-HTTP mount above; the client never got as far as a mount


def test_a_pull_only_credential_cannot_push(
    podman_for: MakePodman, tmp_path: Path, proxy: Proxy, registry: Registry, skopeo: Skopeo, layout: Path, image: Image
) -> None:
    """rpc-ci-pull is an access credential of service-account ci, whose group team-a-devs may
    push in team-a; the credential's scope is pull only, so it pulls and cannot push."""
    repo = f"team-a/{unique('ci')}/app"
    seed(skopeo, registry, layout, repo)

    explained = proxy.cli(
        "explain", "--principal", "service-account:ci", "--action", "push", "--repository", repo
    )  # the policy alone would let the service account push
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("ALLOW")

    pulled = skopeo.copy(
        f"docker://{proxy.address}/{repo}:latest", f"oci:{tmp_path / 'ci-pull'}:latest", src_creds=creds(CI_PULL)
    )
    assert pulled.ok, str(pulled)
    index = json.loads((tmp_path / "ci-pull" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.digest]

    pushed = skopeo.copy(f"oci:{layout}:latest", f"docker://{proxy.address}/{repo}:ci", dest_creds=creds(CI_PULL))
    assert not pushed.ok
    assert_denied(pushed)

    ci = podman_for("ci")
    assert ci.login(proxy.address, *CI_PULL).ok
    assert ci.pull(f"{proxy.address}/{repo}:latest").ok
    pushed = ci.push(f"{proxy.address}/{repo}:latest", f"{proxy.address}/{repo}:from-podman")
    assert not pushed.ok
    assert_denied(pushed)

    assert request(registry.url, "GET", f"/v2/{repo}/tags/list").json()["tags"] == ["latest"]
    assert request(proxy.url, "POST", f"/v2/{repo}/blobs/uploads/", auth=CI_PULL, body=b"").status == 403
