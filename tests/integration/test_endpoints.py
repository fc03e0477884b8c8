"""Every endpoint of the distribution API, through regproxy and directly, against the real
docker-registry (CNCF distribution 2.8) on loopback.

Where regproxy allows a request it must be invisible: the same status, the same headers that
clients act on and the same bytes as asking the registry directly, with ``Location`` and
``Link`` pointing at regproxy's own origin. State-changing requests run against two identical
repositories (one reached directly, one through regproxy), and answers are compared after
replacing what legitimately differs (origin, repository name, upload UUID and state).

Where regproxy refuses or denies a request it must never reach the registry: the registry's
access log (one line per request, written before it answers) has no line for it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, Response, free_port, request
from tests.support.distribution import push_blob, push_image, put_manifest, session_target, with_param
from tests.support.examples import ADMIN, ALICE, BOB, unique
from tests.support.oci import MANIFEST_TYPE, Image, build_image, random_blob
from tests.support.operations import wait_for_metric

pytestmark = pytest.mark.integration

# Headers clients act on; compared verbatim (after normalisation) between direct and proxied.
COMPARED_HEADERS = (
    "Docker-Content-Digest",
    "Content-Type",
    "Content-Length",
    "Range",
    "Content-Range",
    "Accept-Ranges",
    "ETag",
    "Cache-Control",
    "Docker-Distribution-API-Version",
    "Docker-Upload-UUID",
    "Link",
)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_STATE = re.compile(r"_state=[^&\s>]*")
# regproxy seals each upload session it hands out to the principal that opened it (one more
# query parameter); apart from the seal, its Location is the registry's
_SEAL = re.compile(r"&_regproxy=[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Twin:
    """Two repositories with the same content: one reached directly, one through regproxy."""

    registry: Registry
    proxy: Proxy
    direct_repo: str
    proxied_repo: str

    def call(
        self,
        method: str,
        target: str,
        *,
        auth: tuple[str, str] = ALICE,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[Response, Response]:
        """``target`` with ``{repo}`` replaced by each side's repository; (direct, proxied)."""
        return self.call_each(
            method,
            target.format(repo=self.direct_repo),
            target.format(repo=self.proxied_repo),
            auth=auth,
            headers=headers,
            body=body,
        )

    def call_each(
        self,
        method: str,
        direct_target: str,
        proxied_target: str,
        *,
        auth: tuple[str, str] = ALICE,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[Response, Response]:
        direct = request(self.registry.url, method, direct_target, headers=headers, body=body)
        proxied = request(self.proxy.url, method, proxied_target, auth=auth, headers=headers, body=body)
        return direct, proxied

    def normalise(self, text: str, *, proxied: bool) -> str:
        origin = self.proxy.url if proxied else self.registry.url
        repo = self.proxied_repo if proxied else self.direct_repo
        text = text.replace(origin, "{origin}").replace(repo, "{repo}")
        return _STATE.sub("_state={state}", _UUID.sub("{uuid}", text))

    def assert_same(self, direct: Response, proxied: Response, *, body: bool = True) -> None:
        assert proxied.status == direct.status, (direct.status, proxied.status, proxied.body[:300])
        for name in COMPARED_HEADERS:
            d, p = direct.header(name), proxied.header(name)
            if d is not None and p is not None:
                d, p = self.normalise(d, proxied=False), self.normalise(p, proxied=True)
            assert p == d, f"{name}: direct {d!r}, through regproxy {p!r}"
        assert_location(self, direct, proxied)
        if body:
            d_body, p_body = direct.body, proxied.body
            if "json" in (direct.header("Content-Type") or ""):
                d_body = self.normalise(d_body.decode(), proxied=False).encode()
                p_body = self.normalise(p_body.decode(), proxied=True).encode()
            assert p_body == d_body


def assert_location(twin: Twin, direct: Response, proxied: Response) -> None:
    """Same path shape; an absolute Location through regproxy names regproxy's own origin."""
    d, p = direct.header("Location"), proxied.header("Location")
    assert (d is None) == (p is None), (d, p)
    if d is None or p is None:
        return
    d_parts, p_parts = urlsplit(d), urlsplit(p)
    if d_parts.scheme:
        assert f"{p_parts.scheme}://{p_parts.netloc}" == twin.proxy.url, p
    if "/blobs/uploads/" in d_parts.path:
        assert _SEAL.search(p), p
    unsealed = _SEAL.sub("", session_target(p))
    assert twin.normalise(unsealed, proxied=True) == twin.normalise(session_target(d), proxied=False)


def upload_target(response: Response) -> str:
    location = response.header("Location")
    assert location is not None, response.status
    return session_target(location)


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def namespace_base() -> str:
    """A folder of team-a (alice pushes, bob pulls) that only this module uses."""
    return f"team-a/{unique('endpoints')}"


@pytest.fixture(scope="module")
def image() -> Image:
    return build_image((48 * 1024, 16 * 1024))


@pytest.fixture(scope="module")
def pulled(registry: Registry, proxy: Proxy, namespace_base: str, image: Image) -> Twin:
    """A repository pushed directly with tags latest, v1 and t01..t03; read by both sides."""
    repo = f"{namespace_base}/app"
    push_image(registry.url, repo, image, "latest")
    for tag in ("v1", "t01", "t02", "t03"):
        assert put_manifest(registry.url, repo, tag, image.manifest).status == 201
    return Twin(registry, proxy, repo, repo)


@pytest.fixture
def twin(registry: Registry, proxy: Proxy, namespace_base: str) -> Twin:
    """Two fresh, empty repositories of team-a: one direct, one through regproxy.

    The names have the same length, so error bodies naming them have the same length too.
    """
    name = unique("twin")
    return Twin(registry, proxy, f"{namespace_base}/{name}-direct", f"{namespace_base}/{name}-routed")


def seed(twin: Twin, image: Image, tag: str | None = "latest") -> None:
    for repo in (twin.direct_repo, twin.proxied_repo):
        push_image(twin.registry.url, repo, image, tag)


# -- base and catalog -----------------------------------------------------------------------
def test_base_anonymous_gets_a_challenge(proxy: Proxy, registry: Registry) -> None:
    for method in ("GET", "HEAD"):
        response = request(proxy.url, method, "/v2/")
        assert response.status == 401
        assert response.header("WWW-Authenticate") == 'Basic realm="regproxy"'
        assert response.header("Docker-Distribution-API-Version") == "registry/2.0"
        if method == "GET":
            assert response.error_codes() == ["UNAUTHORIZED"]
        else:
            assert response.body == b""
    assert request(registry.url, "GET", "/v2/").status == 200  # the registry itself is open


def test_base_authenticated_matches_direct(pulled: Twin) -> None:
    for method in ("GET", "HEAD"):
        direct, proxied = pulled.call_each(method, "/v2/", "/v2/", auth=BOB)
        pulled.assert_same(direct, proxied)
        assert proxied.status == 200


def test_wrong_password_is_401_not_anonymous(proxy: Proxy) -> None:
    response = request(proxy.url, "GET", "/v2/", auth=("alice", "not-her-password"))
    assert response.status == 401
    assert response.header("WWW-Authenticate") == 'Basic realm="regproxy"'
    assert response.error_codes() == ["UNAUTHORIZED"]


def test_catalog_lists_only_what_the_caller_may_see(
    registry: Registry, proxy: Proxy, pulled: Twin, image: Image
) -> None:
    secret = f"team-b/{unique('catalog')}/secret"
    push_image(registry.url, secret, image, "latest")

    direct = request(registry.url, "GET", "/v2/_catalog?n=1000")
    as_bob = request(proxy.url, "GET", "/v2/_catalog?n=1000", auth=BOB)
    as_admin = request(proxy.url, "GET", "/v2/_catalog?n=1000", auth=ADMIN)

    direct_names = direct.json()["repositories"]
    assert {pulled.proxied_repo, secret} <= set(direct_names)
    assert as_bob.status == 200
    bob_names = as_bob.json()["repositories"]
    assert pulled.proxied_repo in bob_names
    assert secret not in bob_names
    assert bob_names == [n for n in direct_names if n.startswith("team-a/")]
    assert as_admin.json()["repositories"] == direct_names
    for response in (as_bob, as_admin):
        for name in ("Content-Type", "Docker-Distribution-API-Version"):
            assert response.header(name) == direct.header(name), name


def test_catalog_pagination_link_matches_direct(
    registry: Registry, proxy: Proxy, pulled: Twin, namespace_base: str
) -> None:
    image = build_image((512,))
    for n in range(3):
        push_image(registry.url, f"{namespace_base}/{unique(f'page{n}')}", image, "latest")
    first = "/v2/_catalog?n=2"
    direct = request(registry.url, "GET", first)
    proxied = request(proxy.url, "GET", first, auth=ADMIN)
    assert proxied.status == direct.status == 200
    assert direct.header("Link") is not None  # the registry holds more than two repositories
    assert proxied.header("Link") == direct.header("Link")
    assert proxied.json() == direct.json()
    link = direct.header("Link") or ""
    next_target = link[link.index("<") + 1 : link.index(">")]
    assert request(proxy.url, "GET", next_target, auth=ADMIN).json() == request(registry.url, "GET", next_target).json()


def test_catalog_anonymous_is_challenged(proxy: Proxy) -> None:
    response = request(proxy.url, "GET", "/v2/_catalog")
    assert response.status == 401
    assert response.header("WWW-Authenticate") == 'Basic realm="regproxy"'


# -- reading --------------------------------------------------------------------------------
@pytest.mark.parametrize("query", [""], ids=["all"])
def test_tags_list_matches_direct(pulled: Twin, query: str) -> None:
    direct, proxied = pulled.call("GET", "/v2/{repo}/tags/list" + query, auth=BOB)
    pulled.assert_same(direct, proxied)
    assert proxied.status == 200
    assert set(proxied.json()["tags"]) == {"latest", "v1", "t01", "t02", "t03"}


@pytest.mark.parametrize(
    ("query", "tags", "link"),
    [
        ("?n=2", ["latest", "t01"], "?last=t01&n=2"),
        ("?n=2&last=t01", ["t02", "t03"], "?last=t03&n=2"),
        ("?n=2&last=t03", ["v1"], None),
        ("?n=100", ["latest", "t01", "t02", "t03", "v1"], None),
    ],
    ids=["n", "n-last", "last-page", "n-large"],
)
def test_tags_list_pages_hold_exactly_n(pulled: Twin, query: str, tags: list[str], link: str | None) -> None:
    """distribution 2.8.2 ignores n/last on tags (all tags, unsorted, no Link); through regproxy
    a page holds exactly n tags in lexical order (the spec's pagination), with a Link only while
    more remain."""
    response = request(pulled.proxy.url, "GET", f"/v2/{pulled.proxied_repo}/tags/list{query}", auth=BOB)
    assert response.status == 200
    assert response.json() == {"name": pulled.proxied_repo, "tags": tags}
    expected = None if link is None else f'</v2/{pulled.proxied_repo}/tags/list{link}>; rel="next"'
    assert response.header("Link") == expected


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("by", ["tag", "digest"])
@pytest.mark.parametrize("accept", [MANIFEST_TYPE, None], ids=["oci-accept", "no-accept"])
def test_manifest_matches_direct(pulled: Twin, image: Image, method: str, by: str, accept: str | None) -> None:
    reference = "v1" if by == "tag" else image.digest
    headers = {"Accept": accept} if accept else None
    direct, proxied = pulled.call(method, f"/v2/{{repo}}/manifests/{reference}", auth=BOB, headers=headers)
    pulled.assert_same(direct, proxied)
    if accept:  # without it, distribution 2.8 will not serve an OCI manifest (404, as direct)
        assert proxied.status == 200
        assert proxied.header("Docker-Content-Digest") == image.digest
        if method == "GET":
            assert proxied.body == image.manifest.data


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_blob_matches_direct(pulled: Twin, image: Image, method: str) -> None:
    for blob in image.blobs:
        direct, proxied = pulled.call(method, f"/v2/{{repo}}/blobs/{blob.digest}", auth=BOB)
        pulled.assert_same(direct, proxied)
        assert proxied.status == 200
        assert proxied.header("Content-Length") == str(blob.size)
        assert proxied.body == (blob.data if method == "GET" else b"")


def test_unknown_blob_matches_direct(pulled: Twin) -> None:
    missing = random_blob(16).digest
    for method in ("GET", "HEAD"):
        direct, proxied = pulled.call(method, f"/v2/{{repo}}/blobs/{missing}", auth=BOB)
        pulled.assert_same(direct, proxied)
        assert proxied.status == 404


@pytest.mark.parametrize(
    ("range_header", "start", "end"),
    [("bytes=10-99", 10, 100), ("bytes=0-0", 0, 1), ("bytes=-100", -100, None), ("bytes=1000-", 1000, None)],
    ids=["middle", "first-byte", "suffix", "open-ended"],
)
def test_blob_range_matches_direct(pulled: Twin, image: Image, range_header: str, start: int, end: int | None) -> None:
    layer = image.layers[0]
    direct, proxied = pulled.call(
        "GET", f"/v2/{{repo}}/blobs/{layer.digest}", auth=BOB, headers={"Range": range_header}
    )
    pulled.assert_same(direct, proxied)
    assert proxied.status == 206
    assert proxied.body == layer.data[start:end]
    first = start % layer.size
    assert proxied.header("Content-Range") == f"bytes {first}-{first + len(proxied.body) - 1}/{layer.size}"


def test_referrers_matches_direct(pulled: Twin, image: Image) -> None:
    # distribution 2.8 has no referrers API: whatever it answers, regproxy answers the same.
    direct, proxied = pulled.call("GET", f"/v2/{{repo}}/referrers/{image.digest}", auth=BOB)
    pulled.assert_same(direct, proxied)
    direct, proxied = pulled.call(
        "GET", f"/v2/{{repo}}/referrers/{image.digest}?artifactType=application/vnd.example%2Bjson", auth=BOB
    )
    assert proxied.status == direct.status


# -- uploads --------------------------------------------------------------------------------
def test_monolithic_post_with_digest_matches_direct(twin: Twin) -> None:
    blob = random_blob(20_000)
    headers = {"Content-Type": "application/octet-stream"}
    direct, proxied = twin.call(
        "POST", f"/v2/{{repo}}/blobs/uploads/?digest={blob.digest}", headers=headers, body=blob.data
    )
    twin.assert_same(direct, proxied)
    # 201 where the registry supports single-request uploads; 2.8 opens a session (202).
    assert proxied.status in (201, 202)
    direct, proxied = twin.call("HEAD", f"/v2/{{repo}}/blobs/{blob.digest}")
    twin.assert_same(direct, proxied)


def test_post_then_put_upload_matches_direct(twin: Twin) -> None:
    blob = random_blob(70_000)
    direct, proxied = twin.call("POST", "/v2/{repo}/blobs/uploads/", body=b"")
    twin.assert_same(direct, proxied)
    assert proxied.status == 202
    assert proxied.header("Docker-Upload-UUID")
    assert (proxied.header("Location") or "").startswith(f"{twin.proxy.url}/v2/{twin.proxied_repo}/blobs/uploads/")

    direct, proxied = twin.call_each(
        "PUT",
        with_param(upload_target(direct), "digest", blob.digest),
        with_param(upload_target(proxied), "digest", blob.digest),
        headers={"Content-Type": "application/octet-stream"},
        body=blob.data,
    )
    twin.assert_same(direct, proxied)
    assert proxied.status == 201
    assert proxied.header("Docker-Content-Digest") == blob.digest

    direct, proxied = twin.call("GET", f"/v2/{{repo}}/blobs/{blob.digest}")
    twin.assert_same(direct, proxied)
    assert proxied.body == blob.data


def test_chunked_upload_matches_direct(twin: Twin) -> None:
    blob = random_blob(96 * 1024)
    chunks = (blob.data[:40_000], blob.data[40_000:])
    direct, proxied = twin.call("POST", "/v2/{repo}/blobs/uploads/", body=b"")
    twin.assert_same(direct, proxied)
    sessions = [upload_target(direct), upload_target(proxied)]

    offset = 0
    for chunk in chunks:
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
        }
        direct, proxied = twin.call_each("PATCH", *sessions, headers=headers, body=chunk)
        twin.assert_same(direct, proxied)
        assert proxied.status == 202
        offset += len(chunk)
        assert proxied.header("Range") == f"0-{offset - 1}"
        sessions = [upload_target(direct), upload_target(proxied)]

    direct, proxied = twin.call_each("GET", *sessions)  # upload status
    twin.assert_same(direct, proxied)
    assert proxied.status == 204
    assert proxied.header("Range") == f"0-{blob.size - 1}"

    direct, proxied = twin.call_each("PUT", *(with_param(s, "digest", blob.digest) for s in sessions), body=b"")
    twin.assert_same(direct, proxied)
    assert proxied.status == 201

    direct, proxied = twin.call("GET", f"/v2/{{repo}}/blobs/{blob.digest}")
    twin.assert_same(direct, proxied)
    assert proxied.body == blob.data


def test_out_of_order_chunk_matches_direct(twin: Twin) -> None:
    # the spec says 416; distribution 2.8 ignores Content-Range. regproxy passes on either.
    direct, proxied = twin.call("POST", "/v2/{repo}/blobs/uploads/", body=b"")
    headers = {"Content-Type": "application/octet-stream", "Content-Range": "100-199"}
    direct, proxied = twin.call_each(
        "PATCH", upload_target(direct), upload_target(proxied), headers=headers, body=b"x" * 100
    )
    twin.assert_same(direct, proxied)


def test_upload_cancel_matches_direct(twin: Twin) -> None:
    direct, proxied = twin.call("POST", "/v2/{repo}/blobs/uploads/", body=b"")
    sessions = (upload_target(direct), upload_target(proxied))
    direct, proxied = twin.call_each(
        "PATCH", *sessions, headers={"Content-Type": "application/octet-stream"}, body=b"partial"
    )
    sessions = (upload_target(direct), upload_target(proxied))

    direct, proxied = twin.call_each("DELETE", *sessions)
    twin.assert_same(direct, proxied)
    assert proxied.status == 204

    direct, proxied = twin.call_each("GET", *sessions)  # the session is gone
    twin.assert_same(direct, proxied)
    assert proxied.status == 404
    assert proxied.error_codes() == ["BLOB_UPLOAD_UNKNOWN"]


# -- manifests: tag create, tag overwrite -----------------------------------------------------
def test_manifest_put_create_and_overwrite(twin: Twin, registry: Registry, image: Image) -> None:
    for repo in (twin.direct_repo, twin.proxied_repo):
        for blob in image.blobs:
            push_blob(registry.url, repo, blob)
    headers = {"Content-Type": MANIFEST_TYPE}

    # tag-create of a release tag: allowed, the same answer as direct
    direct, proxied = twin.call("PUT", "/v2/{repo}/manifests/v1", headers=headers, body=image.manifest.data)
    twin.assert_same(direct, proxied)
    assert proxied.status == 201
    assert proxied.header("Docker-Content-Digest") == image.digest

    # tag-overwrite of a release tag: the example policy forbids it (release-tags-are-immutable)
    puts_before = registry.saw(f'"PUT /v2/{twin.proxied_repo}/manifests/v1 ')
    direct, proxied = twin.call("PUT", "/v2/{repo}/manifests/v1", headers=headers, body=image.manifest.data)
    assert direct.status == 201
    assert proxied.status == 403
    assert proxied.error_codes() == ["DENIED"]
    assert proxied.header("Content-Type") == "application/json"
    assert registry.saw(f'"PUT /v2/{twin.proxied_repo}/manifests/v1 ') == puts_before

    # a non-release tag: create, then overwrite, both allowed and the same as direct
    for _ in ("create", "overwrite"):
        direct, proxied = twin.call("PUT", "/v2/{repo}/manifests/latest", headers=headers, body=image.manifest.data)
        twin.assert_same(direct, proxied)
        assert proxied.status == 201

    # by digest (no tag moves)
    direct, proxied = twin.call(
        "PUT", f"/v2/{{repo}}/manifests/{image.digest}", headers=headers, body=image.manifest.data
    )
    twin.assert_same(direct, proxied)
    assert proxied.status == 201

    direct, proxied = twin.call("GET", "/v2/{repo}/tags/list")
    assert sorted(proxied.json()["tags"]) == sorted(direct.json()["tags"]) == ["latest", "v1"]


def test_manifest_put_with_missing_blobs_matches_direct(twin: Twin) -> None:
    image = build_image((1024,))
    direct, proxied = twin.call(
        "PUT", "/v2/{repo}/manifests/latest", headers={"Content-Type": MANIFEST_TYPE}, body=image.manifest.data
    )
    twin.assert_same(direct, proxied, body=False)
    assert proxied.status == 400
    assert proxied.error_codes() == direct.error_codes()


# -- cross-repository mount -----------------------------------------------------------------
def test_mount_from_a_readable_repository_matches_direct(twin: Twin, registry: Registry, namespace_base: str) -> None:
    source = f"{namespace_base}/{unique('mount-source')}"
    blob = random_blob(30_000)
    push_blob(registry.url, source, blob)

    direct, proxied = twin.call("POST", f"/v2/{{repo}}/blobs/uploads/?mount={blob.digest}&from={source}", body=b"")
    twin.assert_same(direct, proxied)
    assert proxied.status == 201
    assert proxied.header("Docker-Content-Digest") == blob.digest

    direct, proxied = twin.call("GET", f"/v2/{{repo}}/blobs/{blob.digest}")
    twin.assert_same(direct, proxied)
    assert proxied.body == blob.data


def test_mount_from_an_unreadable_repository_is_a_plain_upload(twin: Twin, registry: Registry) -> None:
    """alice may push in team-a but not pull in team-b: her mount from team-b becomes a plain
    upload (202, never 201), decided before forwarding, and the answer is the same whether the
    blob exists there or not: it reveals nothing."""
    secret_repo = f"team-b/{unique('secret')}"
    secret = random_blob(25_000)
    push_blob(registry.url, secret_repo, secret)
    absent = random_blob(25_000)  # exists in no repository

    # had regproxy forwarded the mount, the registry would have mounted it: it is really there
    direct = request(
        registry.url,
        "POST",
        f"/v2/{twin.direct_repo}/blobs/uploads/?mount={secret.digest}&from={secret_repo}",
        body=b"",
    )
    assert direct.status == 201

    plain_direct = request(registry.url, "POST", f"/v2/{twin.direct_repo}/blobs/uploads/", body=b"")
    answers = {}
    for name, digest in (("exists", secret.digest), ("absent", absent.digest)):
        target = f"/v2/{twin.proxied_repo}/blobs/uploads/?mount={digest}&from={secret_repo}"
        answers[name] = request(twin.proxy.url, "POST", target, auth=ALICE, body=b"")
        assert answers[name].status == 202, answers[name].body
        twin.assert_same(plain_direct, answers[name])  # exactly a plain upload's answer
    assert answers["exists"].header_names() == answers["absent"].header_names()

    forwarded = registry.saw(f'"POST /v2/{twin.proxied_repo}/blobs/uploads/')
    assert len(forwarded) == 2
    assert not any("mount=" in line or "from=" in line for line in forwarded), forwarded

    head = request(twin.proxy.url, "HEAD", f"/v2/{twin.proxied_repo}/blobs/{secret.digest}", auth=ALICE)
    assert head.status == 404  # nothing was mounted
    # and alice cannot read the source directly either
    denied = request(twin.proxy.url, "GET", f"/v2/{secret_repo}/blobs/{secret.digest}", auth=ALICE)
    assert denied.status == 403


def test_mount_needs_push_on_the_target(proxy: Proxy, registry: Registry, pulled: Twin, image: Image) -> None:
    target = f"team-a/{unique('bob-mount')}"
    response = request(
        proxy.url,
        "POST",
        f"/v2/{target}/blobs/uploads/?mount={image.layers[0].digest}&from={pulled.proxied_repo}",
        auth=BOB,
        body=b"",
    )
    assert response.status == 403
    assert response.error_codes() == ["DENIED"]
    assert registry.saw(target) == []
    assert not registry.has_repository(target)


# -- deletes --------------------------------------------------------------------------------
def test_delete_manifest_by_digest_matches_direct(twin: Twin) -> None:
    image = build_image((4096,))
    seed(twin, image, "latest")
    direct, proxied = twin.call("DELETE", f"/v2/{{repo}}/manifests/{image.digest}", auth=ADMIN)
    twin.assert_same(direct, proxied)
    assert proxied.status == 202

    direct, proxied = twin.call(
        "GET", f"/v2/{{repo}}/manifests/{image.digest}", auth=ADMIN, headers={"Accept": MANIFEST_TYPE}
    )
    twin.assert_same(direct, proxied)
    assert proxied.status == 404


def test_delete_manifest_by_tag_is_unsupported_as_the_registry_cannot(twin: Twin, registry: Registry) -> None:
    # distribution 2.8 cannot delete a tag (it answers 400 DIGEST_INVALID); regproxy, which
    # learned it from its probe, answers 405 UNSUPPORTED itself and forwards nothing
    wait_for_metric(
        twin.proxy.admin_url, "regproxy_upstream_probes_total", lambda v: v >= 1, what="the first capability probe"
    )
    image = build_image((4096,))
    seed(twin, image, "latest")
    direct, proxied = twin.call("DELETE", "/v2/{repo}/manifests/latest", auth=ADMIN)
    assert direct.status == 400
    assert (proxied.status, proxied.error_codes()) == (405, ["UNSUPPORTED"])
    assert registry.saw(f'"DELETE /v2/{twin.proxied_repo}/') == []


def test_delete_of_a_release_tag_is_denied_and_not_forwarded(twin: Twin, registry: Registry) -> None:
    image = build_image((4096,))
    seed(twin, image, "v2")
    response = request(twin.proxy.url, "DELETE", f"/v2/{twin.proxied_repo}/manifests/v2", auth=ADMIN)
    assert response.status == 403
    assert response.error_codes() == ["DENIED"]
    assert registry.saw(f'"DELETE /v2/{twin.proxied_repo}/') == []


def test_delete_needs_a_delete_permission(twin: Twin, registry: Registry) -> None:
    image = build_image((4096,))
    seed(twin, image, "latest")
    for target in (f"manifests/{image.digest}", f"blobs/{image.layers[0].digest}"):
        response = request(twin.proxy.url, "DELETE", f"/v2/{twin.proxied_repo}/{target}", auth=ALICE)
        assert response.status == 403
    assert registry.saw(f'"DELETE /v2/{twin.proxied_repo}/') == []


def test_delete_blob_matches_direct(twin: Twin) -> None:
    image = build_image((4096,))
    seed(twin, image, None)
    layer = image.layers[0]
    direct, proxied = twin.call("DELETE", f"/v2/{{repo}}/blobs/{layer.digest}", auth=ADMIN)
    twin.assert_same(direct, proxied)
    assert proxied.status == 202

    direct, proxied = twin.call("HEAD", f"/v2/{{repo}}/blobs/{layer.digest}", auth=ADMIN)
    twin.assert_same(direct, proxied)
    assert proxied.status == 404


# -- the upstream is down -------------------------------------------------------------------
def test_unreachable_upstream_is_503_with_oci_error(make_proxy: MakeProxy) -> None:
    server = make_proxy(upstream_url=f"http://127.0.0.1:{free_port()}")
    for method, target in (
        ("GET", "/v2/"),
        ("GET", "/v2/team-a/app/tags/list"),
        ("GET", f"/v2/team-a/app/manifests/{random_blob(1).digest}"),
    ):
        response = request(server.url, method, target, auth=ALICE)
        assert response.status == 503, (target, response.body)
        assert response.header("Content-Type") == "application/json"
        assert response.header("Docker-Distribution-API-Version") == "registry/2.0"
        assert response.error_codes() == ["UNAVAILABLE"]
    head = request(server.url, "HEAD", "/v2/team-a/app/manifests/latest", auth=ALICE)
    assert head.status == 503
    assert head.body == b""


# -- refused before authorization, never forwarded --------------------------------------------
REFUSALS = {
    # id: (method, target with {m} for a marker, extra headers, body, expected status)
    "percent-encoded-slash": ("GET", "/v2/team-a%2F{m}/tags/list", {}, None, 400),
    "percent-encoded-letter": ("GET", "/v2/team-a/%61{m}/tags/list", {}, None, 400),
    "dot-dot-segment": ("GET", "/v2/team-a/{m}/../../team-b/{m}/tags/list", {}, None, 400),
    "dot-segment": ("GET", "/v2/team-a/./{m}/tags/list", {}, None, 400),
    "empty-segment": ("GET", "/v2/team-a//{m}/tags/list", {}, None, 400),
    "trailing-slash": ("GET", "/v2/team-a/{m}/tags/list/", {}, None, 404),
    "trailing-slash-manifest": ("GET", "/v2/team-a/{m}/manifests/latest/", {}, None, 404),
    "upper-case-name": ("GET", "/v2/team-a/UP{m}/tags/list", {}, None, 404),
    "unknown-method": ("PROPFIND", "/v2/team-a/{m}/tags/list", {}, None, 405),
    "method-not-on-route": ("POST", "/v2/team-a/{m}/tags/list", {}, b"", 405),
    "method-override": ("GET", "/v2/team-a/{m}/tags/list", {"X-HTTP-Method-Override": "DELETE"}, None, 400),
    "method-override-on-post": (
        "POST",
        "/v2/team-a/{m}/blobs/uploads/",
        {"X-HTTP-Method-Override": "PUT"},
        b"",
        400,
    ),
    "unknown-query-param": ("GET", "/v2/team-a/{m}/tags/list?foo=bar", {}, None, 400),
    "repeated-query-param": ("GET", "/v2/team-a/{m}/tags/list?n=1&n=2", {}, None, 400),
    "form-encoded-upload": (
        "POST",
        "/v2/team-a/{m}/blobs/uploads/",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"mount=sha256:" + b"0" * 64 + b"&from=team-b/secret",
        400,
    ),
    "multipart-upload": (
        "POST",
        "/v2/team-a/{m}/blobs/uploads/",
        {"Content-Type": "multipart/form-data; boundary=x"},
        b'--x\r\nContent-Disposition: form-data; name="from"\r\n\r\nteam-b/secret\r\n--x--\r\n',
        400,
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_refused_requests_are_never_forwarded(proxy: Proxy, registry: Registry, case: str) -> None:
    method, target, headers, body, status = REFUSALS[case]
    marker = unique("refused")
    # admin may do anything: what refuses these is the parser, not the policy
    response = request(proxy.url, method, target.format(m=marker), auth=ADMIN, headers=headers, body=body)
    assert response.status == status, response.body
    assert response.header("Content-Type") == "application/json"
    assert response.header("Docker-Distribution-API-Version") == "registry/2.0"
    assert response.error_codes()[0] in {"NAME_INVALID", "UNSUPPORTED"}
    assert [line for line in registry.requests() if marker in line.lower()] == []


# -- denied: never forwarded ------------------------------------------------------------------
def test_anonymous_is_challenged_and_nothing_is_forwarded(
    proxy: Proxy, registry: Registry, pulled: Twin, image: Image
) -> None:
    marker = unique("anonymous")
    for method, target in (
        ("GET", f"/v2/team-a/{marker}/tags/list"),
        ("GET", f"/v2/team-a/{marker}/manifests/latest"),
        ("HEAD", f"/v2/team-a/{marker}/blobs/{image.layers[0].digest}"),
        ("POST", f"/v2/team-a/{marker}/blobs/uploads/"),
    ):
        response = request(proxy.url, method, target, body=b"" if method == "POST" else None)
        assert response.status == 401, target
        assert response.header("WWW-Authenticate") == 'Basic realm="regproxy"'
        assert response.header("Docker-Distribution-API-Version") == "registry/2.0"
        if method != "HEAD":
            assert response.error_codes() == ["UNAUTHORIZED"]
    # an existing repository: still a challenge, not a 404 or the content
    response = request(proxy.url, "GET", f"/v2/{pulled.proxied_repo}/manifests/latest")
    assert response.status == 401
    assert registry.saw(marker) == []


def test_reader_cannot_push_and_nothing_is_forwarded(
    proxy: Proxy, registry: Registry, pulled: Twin, image: Image
) -> None:
    repo = f"team-a/{unique('bob-push')}"
    blob = random_blob(1000)
    attempts = (
        ("POST", f"/v2/{repo}/blobs/uploads/", b""),
        ("POST", f"/v2/{repo}/blobs/uploads/?digest={blob.digest}", blob.data),
        ("PUT", f"/v2/{repo}/manifests/latest", image.manifest.data),
        ("PUT", f"/v2/{pulled.proxied_repo}/manifests/bob-{unique('tag')}", image.manifest.data),
        ("PATCH", f"/v2/{repo}/blobs/uploads/0f9a4c8e-1d2b-4c3a-9e8f-7a6b5c4d3e2f", blob.data),
        ("PUT", f"/v2/{repo}/blobs/uploads/0f9a4c8e-1d2b-4c3a-9e8f-7a6b5c4d3e2f?digest={blob.digest}", blob.data),
        ("DELETE", f"/v2/{pulled.proxied_repo}/manifests/{image.digest}", None),
    )
    for method, target, body in attempts:
        headers = {"Content-Type": MANIFEST_TYPE if "manifests" in target else "application/octet-stream"}
        response = request(proxy.url, method, target, auth=BOB, headers=headers, body=body)
        assert response.status == 403, (method, target)
        assert response.header("Content-Type") == "application/json"
        assert response.error_codes() == ["DENIED"]
        assert response.json()["errors"][0]["message"]
    seen = registry.requests()
    assert [line for line in seen if repo in line] == []
    assert [line for line in seen if f"{pulled.proxied_repo}/manifests/bob-" in line] == []
    assert not [line for line in seen if f'"DELETE /v2/{pulled.proxied_repo}/' in line]
    assert not registry.has_repository(repo)
    # and the content bob could not touch is intact
    assert (
        request(
            registry.url, "GET", f"/v2/{pulled.direct_repo}/manifests/{image.digest}", headers={"Accept": MANIFEST_TYPE}
        ).status
        == 200
    )


def test_reader_cannot_read_another_namespace(proxy: Proxy, registry: Registry, image: Image) -> None:
    repo = f"team-b/{unique('hidden')}"
    push_image(registry.url, repo, image, "latest")
    for method, target in (
        ("GET", f"/v2/{repo}/tags/list"),
        ("GET", f"/v2/{repo}/manifests/latest"),
        ("HEAD", f"/v2/{repo}/blobs/{image.layers[0].digest}"),
        ("GET", f"/v2/{repo}/blobs/{image.layers[0].digest}"),
    ):
        response = request(proxy.url, method, target, auth=BOB, headers={"Accept": MANIFEST_TYPE})
        assert response.status == 403, target
    reads = [line for line in registry.saw(repo) if f'"GET /v2/{repo}' in line or f'"HEAD /v2/{repo}' in line]
    assert reads == []  # only the direct push ever reached the registry


# -- a policy of the test's own --------------------------------------------------------------
def test_public_repositories_admit_anonymous_pull(make_proxy: MakeProxy, registry: Registry) -> None:
    repo = f"library/{unique('public')}"
    image = build_image((2048,))
    push_image(registry.url, repo, image, "latest")
    server = make_proxy(public=("library/**",))
    twin = Twin(registry, server, repo, repo)

    headers = {"Accept": MANIFEST_TYPE}
    direct = request(registry.url, "GET", f"/v2/{repo}/manifests/latest", headers=headers)
    proxied = request(server.url, "GET", f"/v2/{repo}/manifests/latest", headers=headers)
    twin.assert_same(direct, proxied)
    assert proxied.status == 200

    upload = request(server.url, "POST", f"/v2/{repo}/blobs/uploads/", body=b"")
    assert upload.status == 401  # pull is public, push is not
    assert upload.header("WWW-Authenticate") == 'Basic realm="regproxy"'
