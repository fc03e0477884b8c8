"""The manifest cache at the edge: answer an allowed manifest-by-digest request from memory, or
keep the registry's answer for the next one (:mod:`regproxy.proxy.manifest_cache`).

Called by the registry handler after the request was authenticated and authorized as usual,
in place of (a hit) or around (a fill) the upstream round trip. The audit event says
``cache: hit`` or ``cache: miss``; requests the cache never answers (tags, blobs, a cache that
is off) leave it empty.
"""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from regproxy.audit import AuditEvent
from regproxy.metrics import Metrics
from regproxy.oci.routes import RegistryRequest, RouteKind
from regproxy.proxy.manifest_cache import ManifestCache

HIT, MISS = "hit", "miss"
#: the largest manifest read whole to be kept (distribution's own cap): a larger answer streams
MAX_ENTRY = 4 * 1024 * 1024


def cache_key(cache: ManifestCache | None, parsed: RegistryRequest) -> tuple[str, str] | None:
    """(repository, digest) when ``parsed`` is a manifest request by digest the cache concerns:
    GET and HEAD may be answered, DELETE evicts; None for anything else (tags above all)."""
    if cache is None or not cache.enabled or parsed.route is not RouteKind.MANIFEST:
        return None
    if parsed.tag is not None or parsed.digest is None or parsed.method not in ("GET", "HEAD", "DELETE"):
        return None
    return parsed.repository, parsed.digest


def lookup(
    cache: ManifestCache | None, parsed: RegistryRequest, event: AuditEvent, metrics: Metrics
) -> tuple[tuple[str, str] | None, web.Response | None]:
    """Before the upstream round trip: the request's cache key (None when the cache does not
    concern it) and the cached answer to an allowed GET/HEAD (None: ask the registry). A
    DELETE evicts now (and the caller once more after the registry answered)."""
    key = cache_key(cache, parsed)
    if key is None or cache is None:
        return None, None
    if parsed.method == "DELETE":
        cache.evict(*key)
        return key, None
    return key, answer(cache, key, parsed.method == "HEAD", event, metrics)


def answer(
    cache: ManifestCache, key: tuple[str, str], head: bool, event: AuditEvent, metrics: Metrics
) -> web.Response | None:
    """The cached answer to an allowed GET/HEAD, or None (a miss: ask the registry)."""
    entry = cache.get(*key)
    if entry is None:
        event.cache = MISS
        metrics.inc("regproxy_manifest_cache_total", (("result", MISS),))
        return None
    event.cache = HIT
    event.status = 200
    metrics.inc("regproxy_manifest_cache_total", (("result", HIT),))
    if head:
        return web.Response(status=200, headers=entry.headers)
    event.bytes_out = len(entry.body)
    metrics.inc("regproxy_bytes_total", (("direction", "down"),), len(entry.body))
    return web.Response(status=200, body=entry.body, headers=entry.headers)


async def fill(
    cache: ManifestCache,
    key: tuple[str, str],
    upstream_response: aiohttp.ClientResponse,
    headers: list[tuple[str, str]],
    event: AuditEvent,
    metrics: Metrics,
    idle_timeout: float,
) -> web.Response | None:
    """A GET's 200 read whole (it is small: a declared length within the cache's bound), kept
    when it is the manifest the digest names, and answered; None when it is not worth it (no
    or too large a declared length: the caller streams it as usual). A broken or stalled read
    raises as the stream would (nothing has gone to the client yet)."""
    length = upstream_response.content_length
    if upstream_response.status != 200 or length is None or length > min(cache.max_bytes, MAX_ENTRY):
        return None
    async with asyncio.timeout(idle_timeout):
        body = await upstream_response.read()
    if len(body) != length:
        raise aiohttp.ClientPayloadError("manifest body shorter than its Content-Length")
    if cache.put(*key, body, headers):
        metrics.inc("regproxy_manifest_cache_total", (("result", "stored"),))
    event.bytes_out = len(body)
    metrics.inc("regproxy_bytes_total", (("direction", "down"),), len(body))
    return web.Response(status=200, body=body, headers=headers)


__all__ = ["HIT", "MISS", "answer", "cache_key", "fill", "lookup"]
