"""The manifest cache in front of the real registry: a manifest fetched by digest is answered
from memory after authorizing as usual (the audit line says ``cache: hit``), never for a tag,
never to a caller the policy refuses; a delete through regproxy evicts it."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, request
from tests.support.distribution import manifest_headers, push_image
from tests.support.examples import ALICE, BOB, unique
from tests.support.oci import build_image
from tests.support.operations import scrape, wait_for_events
from tests.support.proxy import example_policies

pytestmark = pytest.mark.integration

DELETER = """\
version: 1
statements:
  - id: alice-deletes
    effect: allow
    principals: [user:alice]
    actions: [delete-manifest]
    resources: ["team-a/**"]
"""
DENY_BOB = """\
version: 1
statements:
  - id: bob-not-here
    effect: deny
    principals: [user:bob]
    actions: [pull]
    resources: ["{repo}"]
"""
CACHE = {"cache": {"manifests": {"size_mib": 4, "ttl": 300}}}


def fetch(proxy: Proxy, method: str, target: str, auth: tuple[str, str] | None) -> tuple[int, bytes, dict[str, str]]:
    """One request with its own id; its status, body, headers (lower-case) and its audit line."""
    request_id = f"cache-{uuid.uuid4().hex[:10]}"
    headers = {**manifest_headers(), "X-Request-Id": request_id}
    response = request(proxy.url, method, target, auth=auth, headers=headers)
    (event,) = wait_for_events(proxy.audit_path, {request_id}, what=f"{method} {target}'s audit line").values()
    found = {name.lower(): value for name, value in response.headers.items()}
    return response.status, response.body, {**found, "_cache": event.get("cache", ""), "_status": str(event["status"])}


def test_a_manifest_by_digest_is_answered_from_memory_once_fetched(make_proxy: MakeProxy, registry: Registry) -> None:
    repo = unique("team-a/cache")
    image = build_image((128,))
    push_image(registry.url, repo, image, "latest")
    proxy = make_proxy(settings=CACHE, policies={**example_policies(), "deny.yaml": DENY_BOB.format(repo=repo)})
    target = f"/v2/{repo}/manifests/{image.digest}"

    status, body, seen = fetch(proxy, "GET", target, ALICE)
    assert (status, body, seen["_cache"]) == (200, image.manifest.data, "miss")

    # deleted behind regproxy's back: only the cache can still answer
    deleted = request(registry.url, "DELETE", target)
    assert deleted.status == 202, deleted.body
    for method in ("GET", "HEAD", "GET"):
        status, body, seen = fetch(proxy, method, target, ALICE)
        assert status == 200, (method, body)
        assert seen["_cache"] == "hit"
        assert seen["docker-content-digest"] == image.digest
        assert seen["content-type"] == image.manifest.media_type
        assert seen["content-length"] == str(len(image.manifest.data))
        assert body == (b"" if method == "HEAD" else image.manifest.data)

    # authorized as usual first: a caller the policy refuses, or an anonymous one, gets no hit
    status, body, seen = fetch(proxy, "GET", target, BOB)
    assert (status, seen["_cache"]) == (403, "")
    assert image.manifest.data not in body
    status, _, seen = fetch(proxy, "HEAD", target, None)
    assert (status, seen["_cache"]) == (401, "")
    # the same digest under another repository is another entry: the registry answers there
    other = unique("team-a/cache-other")
    status, _, seen = fetch(proxy, "GET", f"/v2/{other}/manifests/{image.digest}", ALICE)
    assert (status, seen["_cache"]) == (404, "miss")

    metrics = scrape(proxy.admin_url)
    assert metrics.value("regproxy_manifest_cache_total", result="hit") == 3


def test_tags_are_never_answered_from_memory(make_proxy: MakeProxy, registry: Registry) -> None:
    repo = unique("team-a/cache-tag")
    image = build_image((128,))
    push_image(registry.url, repo, image, "latest")
    proxy = make_proxy(settings=CACHE)
    for _ in range(2):
        status, body, seen = fetch(proxy, "GET", f"/v2/{repo}/manifests/latest", ALICE)
        assert (status, body, seen["_cache"]) == (200, image.manifest.data, "")
    moved = build_image((128,))
    push_image(registry.url, repo, moved, "latest")
    status, body, _ = fetch(proxy, "GET", f"/v2/{repo}/manifests/latest", ALICE)
    assert (status, body) == (200, moved.manifest.data)


def test_a_delete_through_regproxy_evicts(make_proxy: MakeProxy, registry: Registry) -> None:
    repo = unique("team-a/cache-del")
    image = build_image((128,))
    push_image(registry.url, repo, image, "latest")
    proxy = make_proxy(settings=CACHE, policies={**example_policies(), "deleter.yaml": DELETER})
    target = f"/v2/{repo}/manifests/{image.digest}"
    assert fetch(proxy, "GET", target, ALICE)[2]["_cache"] == "miss"
    assert fetch(proxy, "HEAD", target, ALICE)[2]["_cache"] == "hit"

    status, _, _ = fetch(proxy, "DELETE", target, ALICE)
    assert status == 202
    status, _, seen = fetch(proxy, "GET", target, ALICE)
    assert (status, seen["_cache"]) == (404, "miss")


def test_the_cache_is_off_by_default(make_proxy: MakeProxy, registry: Registry) -> None:
    repo = unique("team-a/cache-off")
    image = build_image((128,))
    push_image(registry.url, repo, image, "latest")
    proxy = make_proxy()
    target = f"/v2/{repo}/manifests/{image.digest}"
    assert fetch(proxy, "GET", target, ALICE)[2]["_cache"] == ""
    assert request(registry.url, "DELETE", target).status == 202
    assert fetch(proxy, "GET", target, ALICE)[0] == 404
