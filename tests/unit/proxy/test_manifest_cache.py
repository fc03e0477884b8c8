"""The manifest cache: only the bytes a digest names, bounded by size and age, evicted by key."""

from __future__ import annotations

import hashlib

from regproxy.proxy.manifest_cache import ManifestCache, matches_digest

HEADERS = [
    ("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
    ("Content-Length", "3"),
    ("Docker-Content-Digest", "d"),
    ("X-Other", "dropped"),
]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def test_a_manifest_is_kept_by_repository_and_digest_with_its_content_headers() -> None:
    cache = ManifestCache(1 << 20, 60)
    body = b'{"a":1}'
    assert cache.put("team-a/app", digest(body), body, HEADERS)
    entry = cache.get("team-a/app", digest(body))
    assert entry is not None
    assert entry.body == body
    assert [name for name, _ in entry.headers] == ["Content-Type", "Content-Length", "Docker-Content-Digest"]
    assert cache.get("team-b/app", digest(body)) is None  # another repository is another entry


def test_bytes_that_are_not_the_digest_named_are_never_kept() -> None:
    cache = ManifestCache(1 << 20, 60)
    assert not cache.put("r", digest(b"other"), b"body", HEADERS)
    assert not cache.put("r", "md5:" + hashlib.md5(b"body").hexdigest(), b"body", HEADERS)
    assert not cache.put("r", "sha256:", b"body", HEADERS)
    assert len(cache) == 0


def test_sha512_digests_are_checked_too() -> None:
    body = b"x"
    assert matches_digest("sha512:" + hashlib.sha512(body).hexdigest(), body)
    assert not matches_digest("sha512:" + hashlib.sha512(b"y").hexdigest(), body)


def test_least_recently_used_goes_first_when_the_bytes_exceed_the_bound() -> None:
    cache = ManifestCache(10, 60)
    a, b, c = b"aaaa", b"bbbb", b"cccc"
    cache.put("r", digest(a), a, HEADERS)
    cache.put("r", digest(b), b, HEADERS)
    assert cache.get("r", digest(a)) is not None  # a is now the most recent
    cache.put("r", digest(c), c, HEADERS)
    assert cache.get("r", digest(b)) is None
    assert cache.get("r", digest(a)) is not None
    assert cache.get("r", digest(c)) is not None
    assert cache.size == 8


def test_a_body_larger_than_the_whole_cache_is_not_kept() -> None:
    cache = ManifestCache(3, 60)
    assert not cache.put("r", digest(b"abcd"), b"abcd", HEADERS)
    assert cache.size == 0


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = ManifestCache(1 << 20, 5, clock=clock)
    cache.put("r", digest(b"m"), b"m", HEADERS)
    clock.now += 4.9
    assert cache.get("r", digest(b"m")) is not None
    clock.now += 0.2
    assert cache.get("r", digest(b"m")) is None
    assert cache.size == 0


def test_evict_drops_the_entry_and_its_bytes() -> None:
    cache = ManifestCache(1 << 20, 60)
    cache.put("r", digest(b"m"), b"m", HEADERS)
    cache.evict("r", digest(b"m"))
    cache.evict("r", digest(b"m"))  # twice is harmless
    assert cache.get("r", digest(b"m")) is None
    assert cache.size == 0


def test_size_zero_is_off() -> None:
    cache = ManifestCache(0, 60)
    assert not cache.enabled
    assert not cache.put("r", digest(b"m"), b"m", HEADERS)


def test_putting_the_same_key_again_replaces_it_without_counting_twice() -> None:
    cache = ManifestCache(1 << 20, 60)
    cache.put("r", digest(b"m"), b"m", HEADERS)
    cache.put("r", digest(b"m"), b"m", HEADERS)
    assert len(cache) == 1
    assert cache.size == 1
