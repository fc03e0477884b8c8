"""Header hygiene between client and upstream (pure).

Towards the upstream, headers come from an allowlist: hop-by-hop headers, the client's
``Authorization``, client-sent ``X-Forwarded-*`` and ``Forwarded`` never pass. regproxy adds
its own forwarding headers only when configured. Towards the client, hop-by-hop headers and the
upstream's own ``WWW-Authenticate`` are dropped, and ``Location``/``Link`` pointing at the
upstream are rewritten to regproxy's external URL; a redirect elsewhere (a blob in object
storage) passes untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

REQUEST_ALLOWLIST = frozenset(
    {
        "accept",
        "accept-encoding",
        "content-type",
        "content-length",
        "content-range",
        "content-encoding",
        "range",
        "if-none-match",
        "if-match",
        "if-modified-since",
        "user-agent",
        "docker-content-digest",
    }
)

RESPONSE_DROP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "www-authenticate",
        "set-cookie",
        "server",
    }
)


def request_headers(
    client_headers: Iterable[tuple[str, str]],
    *,
    forwarded: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers to send upstream: the allowlisted ones, plus regproxy's own forwarding."""
    out: dict[str, str] = {}
    for name, value in client_headers:
        lower = name.lower()
        if lower in REQUEST_ALLOWLIST:
            out[lower] = f"{out[lower]}, {value}" if lower in out else value
    if forwarded:
        out.update(forwarded)
    return out


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def rewrite_location(value: str, upstream_origin: str, external_url: str) -> str:
    """Point a Location at regproxy when it points at the upstream; leave others alone."""
    parts = urlsplit(value)
    if not parts.scheme:
        return value  # relative: the client resolves it against regproxy already
    if f"{parts.scheme}://{parts.netloc}".lower() != upstream_origin:
        return value  # elsewhere (object storage): pass through untouched
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return external_url.rstrip("/") + rest


def rewrite_link(value: str, upstream_origin: str, external_url: str) -> str:
    """Rewrite the URI of each ``<...>; rel=...`` entry of a Link header."""
    out = []
    for entry in value.split(","):
        start, end = entry.find("<"), entry.find(">")
        if start == -1 or end < start:
            out.append(entry)
            continue
        uri = rewrite_location(entry[start + 1 : end], upstream_origin, external_url)
        out.append(f"{entry[:start]}<{uri}>{entry[end + 1 :]}")
    return ",".join(out)


def response_headers(
    upstream_headers: Iterable[tuple[str, str]], upstream_origin: str, external_url: str
) -> list[tuple[str, str]]:
    """The headers to send the client."""
    out: list[tuple[str, str]] = []
    for name, value in upstream_headers:
        lower = name.lower()
        if lower in RESPONSE_DROP:
            continue
        if lower == "location":
            out.append((name, rewrite_location(value, upstream_origin, external_url)))
        elif lower == "link":
            out.append((name, rewrite_link(value, upstream_origin, external_url)))
        else:
            out.append((name, value))
    return out
