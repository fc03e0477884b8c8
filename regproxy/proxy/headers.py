"""Header hygiene between client and upstream (pure).

Towards the upstream, headers come from an allowlist: hop-by-hop headers, the client's
``Authorization``, client-sent ``X-Forwarded-*`` and ``Forwarded`` never pass. regproxy adds
its own forwarding headers only when configured. Towards the client, hop-by-hop headers and the
upstream's own ``WWW-Authenticate`` are dropped, and ``Location``/``Link`` pointing at the
upstream are rewritten to regproxy's external URL; a redirect elsewhere (a blob in object
storage) passes untouched.

A redirect (301/302/303/307/308) is never a way around regproxy: one that points at the
registry's own origin, however it is spelt (scheme-relative, another case, an explicit default
port), is rewritten to regproxy's URL, so the client's next request is authorized again; one
that carries user info, is not http(s), or points at a ``/v2/`` path on another origin (the
registry under another name) is refused with :class:`RedirectRefused` (502). Only redirects off
the registry's origin to non-registry paths (object storage) pass untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import SplitResult, urlsplit

from regproxy.errors import RedirectRefused

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


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


def _endpoint(parts: SplitResult, default_scheme: str) -> tuple[str, str, int | None]:
    scheme = (parts.scheme or default_scheme).lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").rstrip(".").lower(), port or _DEFAULT_PORTS.get(scheme)


def rewrite_location(value: str, upstream_origin: str, external_url: str, *, redirect: bool = False) -> str:
    """Point a Location at regproxy when it points at the upstream; leave others alone.

    With ``redirect`` (the answer is a 3xx), a Location regproxy cannot vouch for raises
    :class:`RedirectRefused` instead of passing through (see the module docstring)."""
    parts = urlsplit(value.strip())
    if not parts.scheme and not parts.netloc:
        return value  # relative: the client resolves it against regproxy already
    upstream = urlsplit(upstream_origin)
    target = _endpoint(parts, upstream.scheme)
    if target == _endpoint(upstream, upstream.scheme):
        if parts.username is not None or parts.password is not None:
            raise RedirectRefused("the registry answered with a Location carrying user info")
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return external_url.rstrip("/") + rest
    if redirect:
        if target[0] not in _DEFAULT_PORTS or parts.username is not None or parts.password is not None:
            raise RedirectRefused("the registry redirected to a URL regproxy does not relay")
        if parts.path == "/v2" or parts.path.startswith("/v2/"):
            raise RedirectRefused("the registry redirected to a registry API on another origin")
    return value  # elsewhere (object storage): pass through untouched


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
    upstream_headers: Iterable[tuple[str, str]], upstream_origin: str, external_url: str, status: int = 200
) -> list[tuple[str, str]]:
    """The headers to send the client (:class:`RedirectRefused` for a redirect not to relay)."""
    out: list[tuple[str, str]] = []
    redirect = status in REDIRECT_STATUSES
    for name, value in upstream_headers:
        lower = name.lower()
        if lower in RESPONSE_DROP:
            continue
        if lower == "location":
            out.append((name, rewrite_location(value, upstream_origin, external_url, redirect=redirect)))
        elif lower == "link":
            out.append((name, rewrite_link(value, upstream_origin, external_url)))
        else:
            out.append((name, value))
    return out
