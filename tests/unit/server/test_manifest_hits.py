"""The manifest cache at the edge: which requests it concerns, a hit and a miss as the audit
line and the metrics say them, a DELETE evicting. The registry side is tests/integration."""

from __future__ import annotations

import hashlib

from regproxy.audit import AuditEvent
from regproxy.metrics import Metrics
from regproxy.oci.routes import RegistryRequest, parse_request
from regproxy.proxy.manifest_cache import ManifestCache
from regproxy.server.manifest_hits import HIT, MISS, cache_key, lookup

BODY = b'{"schemaVersion":2}'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
HEADERS = [("Content-Type", "application/vnd.oci.image.manifest.v1+json"), ("Content-Length", str(len(BODY)))]


def parsed(method: str, reference: str = DIGEST, kind: str = "manifests") -> RegistryRequest:
    return parse_request(method, f"/v2/team-a/app/{kind}/{reference}", "", {})


def event() -> AuditEvent:
    return AuditEvent(time=0.0, request_id="r", source="", method="GET", route="", path="")


def filled() -> ManifestCache:
    cache = ManifestCache(1 << 20, 60)
    assert cache.put("team-a/app", DIGEST, BODY, HEADERS)
    return cache


def test_only_manifests_by_digest_concern_the_cache() -> None:
    cache = filled()
    assert cache_key(cache, parsed("GET")) == ("team-a/app", DIGEST)
    assert cache_key(cache, parsed("HEAD")) == ("team-a/app", DIGEST)
    assert cache_key(cache, parsed("DELETE")) == ("team-a/app", DIGEST)
    assert cache_key(cache, parsed("GET", "latest")) is None  # never a tag
    assert cache_key(cache, parsed("GET", DIGEST, "blobs")) is None
    assert cache_key(None, parsed("GET")) is None
    assert cache_key(ManifestCache(0, 60), parsed("GET")) is None  # off


def test_a_hit_answers_from_memory_and_says_so() -> None:
    cache, metrics = filled(), Metrics()
    get_event, head_event = event(), event()
    key, response = lookup(cache, parsed("GET"), get_event, metrics)
    assert key == ("team-a/app", DIGEST) and response is not None
    assert (response.status, response.body, response.headers["Content-Type"]) == (200, BODY, HEADERS[0][1])
    assert (get_event.cache, get_event.status, get_event.bytes_out) == (HIT, 200, len(BODY))
    _, response = lookup(cache, parsed("HEAD"), head_event, metrics)
    assert response is not None and response.body is None
    assert response.headers["Content-Length"] == str(len(BODY))
    assert (head_event.cache, head_event.bytes_out) == (HIT, 0)
    assert metrics.counters["regproxy_manifest_cache_total"][(("result", HIT),)] == 2


def test_a_miss_asks_the_registry_and_says_so() -> None:
    metrics, seen = Metrics(), event()
    key, response = lookup(ManifestCache(1 << 20, 60), parsed("GET"), seen, metrics)
    assert key == ("team-a/app", DIGEST) and response is None
    assert seen.cache == MISS
    assert metrics.counters["regproxy_manifest_cache_total"][(("result", MISS),)] == 1


def test_a_delete_evicts_and_is_forwarded() -> None:
    cache, seen = filled(), event()
    key, response = lookup(cache, parsed("DELETE"), seen, Metrics())
    assert key == ("team-a/app", DIGEST) and response is None
    assert cache.get("team-a/app", DIGEST) is None
    assert seen.cache == ""


def test_a_tag_leaves_the_audit_line_empty() -> None:
    seen = event()
    assert lookup(filled(), parsed("GET", "latest"), seen, Metrics()) == (None, None)
    assert seen.cache == ""
