"""Request bodies, bounded per route and read with an inactivity timeout.

Each route has a size class, checked before a byte of the body is read: the token service's
form and the credentials endpoint's JSON (``limits.max_token_body``, a few KiB), manifests
(``limits.max_manifest_size``, 4 MiB as in distribution), and blobs, unbounded but streamed,
never buffered. A declared ``Content-Length`` over the limit is refused at once; a chunked body
is counted as it arrives and refused the moment it passes the limit. Every streamed body, in
either direction, is cut when no byte arrives for ``limits.body_idle_timeout``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiDict

from regproxy.config import LimitsConfig
from regproxy.errors import BodyStalled, BodyTooLarge

_MANIFEST_PATH = re.compile(r"^/v2/.+/manifests/[^/]+$")


def upload_limit(method: str, path: str, limits: LimitsConfig) -> int | None:
    """The most bytes a request to the registry may carry (None: a streamed blob, unbounded)."""
    if method == "PUT" and _MANIFEST_PATH.match(path):
        return limits.max_manifest_size
    return None


def check_declared_size(request: web.BaseRequest, limit: int | None) -> None:
    """Refuse a declared ``Content-Length`` over ``limit`` before anything is read."""
    if limit is None:
        return
    length = request.content_length
    if length is not None and length > limit:
        raise BodyTooLarge(f"the body is {length} bytes; at most {limit} are accepted here")


async def read_bounded(request: web.BaseRequest, limit: int, idle_timeout: float) -> bytes:
    """The whole body of a small request, refused past ``limit`` bytes (declared or counted)."""
    check_declared_size(request, limit)
    parts: list[bytes] = []
    async for chunk in stream_body(request, limit, idle_timeout):
        parts.append(chunk)
    return b"".join(parts)


async def read_form(request: web.BaseRequest, limit: int, idle_timeout: float) -> MultiDict[str]:
    """An ``application/x-www-form-urlencoded`` body of at most ``limit`` bytes, parsed.

    Raises :class:`BodyTooLarge`, :class:`BodyStalled`, or ``ValueError`` for a body that is
    not UTF-8 or has too many fields."""
    raw = await read_bounded(request, limit, idle_timeout)
    text = raw.decode("utf-8")
    return MultiDict(parse_qsl(text, keep_blank_values=True, max_num_fields=64))


async def stream_body(request: web.BaseRequest, limit: int | None, idle_timeout: float) -> AsyncIterator[bytes]:
    """The request body as it arrives, cut past ``limit`` bytes or after ``idle_timeout`` of silence."""
    seen = 0
    async for chunk in idle_guarded(request.content.iter_any(), idle_timeout):
        seen += len(chunk)
        if limit is not None and seen > limit:
            raise BodyTooLarge(f"the body is over {limit} bytes, the most accepted here")
        yield chunk


async def idle_guarded(
    source: AsyncIterator[bytes], idle_timeout: float, *, upstream: bool = False
) -> AsyncIterator[bytes]:
    """``source``, cut when the next chunk takes over ``idle_timeout``: with :class:`BodyStalled`
    for a client's body, with :class:`TimeoutError` (a broken upstream) for the registry's."""
    iterator = aiter(source)
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            return
        except TimeoutError:
            if upstream:
                raise TimeoutError(f"no bytes from the registry for {idle_timeout:.0f}s") from None
            raise BodyStalled(f"no body bytes for {idle_timeout:.0f}s") from None
        yield chunk
