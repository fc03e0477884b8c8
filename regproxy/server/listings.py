"""The edge of filtered listings: drives :func:`regproxy.authorization.listing.walk` with the
registry's pages and renders the answer with a ``Link`` recomputed from what is shown.

``_catalog`` shows a repository to whoever may be shown it (``catalog`` on it); ``tags/list``
shows each tag to whoever may ``list`` it. Without ``n``, ``tags/list`` answers every visible
tag (as distribution does) and ``_catalog`` a page of distribution's default size; an ``n``
over :data:`~regproxy.authorization.listing.MAX_PAGE` gets pages of that size, each with a
``Link`` while more remain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from aiohttp import web

from regproxy.authorization.listing import MAX_PAGE, FetchPage, Listing, ListingTooSparse, Page, walk
from regproxy.authorization.scopes import request_scopes
from regproxy.errors import UpstreamUnavailable
from regproxy.oci.routes import RegistryRequest, RouteKind
from regproxy.proxy.upstream import UpstreamClient
from regproxy.server.responses import API_VERSION_HEADER

LISTING_MAX_BYTES = 16 * 1024 * 1024
CATALOG_DEFAULT_PAGE = 100  # distribution's default for a catalog request without `n`


class Passthrough(Exception):
    """The registry's first answer is not a listing (an error): relay it as it is."""

    def __init__(self, status: int, body: bytes, content_type: str) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type


async def filtered_listing(
    upstream: UpstreamClient, parsed: RegistryRequest, visible: Callable[[str], bool]
) -> web.Response:
    params = dict(parsed.query)
    n: int | None = min(int(params["n"]), MAX_PAGE) if "n" in params else None
    if n is None and parsed.route is RouteKind.CATALOG:
        n = CATALOG_DEFAULT_PAGE
    last = params.get("last") or None
    key = "repositories" if parsed.route is RouteKind.CATALOG else "tags"
    base = "/v2/_catalog" if parsed.route is RouteKind.CATALOG else f"/v2/{parsed.repository}/tags/list"
    scope = " ".join(request_scopes(parsed))
    content_type = "application/json"
    flow = walk(n, last, visible, lexical=parsed.route is RouteKind.TAGS)
    first = True
    try:
        ask = next(flow)
        while True:
            page, content_type = await _fetch(upstream, base, scope, key, ask, first)
            first = False
            ask = flow.send(page)
    except StopIteration as done:
        listing: Listing = done.value
    except ListingTooSparse as exc:
        raise UpstreamUnavailable(f"cannot fill a page of this listing: {exc}") from None
    except Passthrough as relay:
        response = web.Response(status=relay.status, body=relay.body)
        response.headers["Content-Type"] = relay.content_type
        response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        return response
    body: dict[str, Any] = {key: list(listing.entries)}
    if parsed.route is RouteKind.TAGS:
        body = {"name": parsed.repository, "tags": list(listing.entries)}
    response = web.Response(status=200, body=orjson.dumps(body) + b"\n")  # as distribution writes it
    response.headers["Content-Type"] = content_type  # the registry's media type, charset included
    response.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    if listing.next_last is not None and n is not None:
        response.headers["Link"] = f'<{base}?last={quote(listing.next_last, safe="")}&n={n}>; rel="next"'
    return response


async def _fetch(
    upstream: UpstreamClient, base: str, scope: str, key: str, ask: FetchPage, first: bool
) -> tuple[Page, str]:
    query = f"n={ask.n}" + (f"&last={quote(ask.last, safe='')}" if ask.last is not None else "")
    try:
        response = await upstream.request("GET", f"{base}?{query}", {"accept": "application/json"}, scope=scope)
    except aiohttp.ClientError as exc:
        raise UpstreamUnavailable("the registry connection broke mid-listing") from exc
    async with response:
        raw = await response.content.read(LISTING_MAX_BYTES + 1)
        content_type = response.headers.get("Content-Type", "application/json")
        if response.status == 401:
            upstream.invalidate(scope)
            raise UpstreamUnavailable("the registry refused regproxy's credentials")
        if response.status != 200:
            if first and len(raw) <= LISTING_MAX_BYTES:
                raise Passthrough(response.status, raw, content_type)
            raise UpstreamUnavailable(f"the registry answered {response.status} mid-listing")
        more = bool(response.headers.get("Link"))
    if len(raw) > LISTING_MAX_BYTES:
        raise UpstreamUnavailable("the registry's listing page is too large to filter")
    try:
        names = orjson.loads(raw).get(key) or []
    except (orjson.JSONDecodeError, AttributeError):
        raise UpstreamUnavailable("the registry's listing is not JSON") from None
    if not isinstance(names, list):
        raise UpstreamUnavailable("the registry's listing is not a list")
    return Page(tuple(n for n in names if isinstance(n, str)), more), content_type
