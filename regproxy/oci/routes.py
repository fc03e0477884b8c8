"""Route parsing: a request line becomes a frozen :class:`RegistryRequest`, or is refused.

Follows the OCI distribution spec v1.1 endpoint table and the way CNCF distribution's router
reads it: repository names are matched greedily, so ``/v2/a/manifests/x/manifests/latest`` is
repository ``a/manifests/x``, reference ``latest``. Everything the registry might read
differently from the proxy is refused before authorization, never forwarded:

- percent-encoded bytes, dot segments, empty segments, trailing-slash variants, non-ASCII,
  back-slashes and anything else outside the grammar;
- methods other than the six the spec uses, and method-override headers;
- query parameters a route does not define, repeated where the route takes one;
- a POST to uploads with a form-encoded or multipart body (distribution would read ``mount``
  and ``from`` from it, behind the proxy's back).

The upstream request line is rebuilt from the validated parts (:meth:`RegistryRequest.target`),
so the proxy forwards exactly what it authorized.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qsl, quote

from regproxy.errors import ErrorCode, RouteRefused
from regproxy.oci import grammar
from regproxy.oci.actions import Action


class RouteKind(StrEnum):
    BASE = "base"
    CATALOG = "catalog"
    TAGS = "tags"
    MANIFEST = "manifest"
    BLOB = "blob"
    UPLOAD_START = "upload-start"
    UPLOAD_SESSION = "upload-session"
    REFERRERS = "referrers"


# regproxy's seal on the upload sessions it hands out (regproxy.authorization.uploads)
UPLOAD_SEAL_PARAM = "_regproxy"
METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"})
METHOD_OVERRIDE_HEADERS = ("x-http-method-override", "x-http-method", "x-method-override")
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True, slots=True)
class Mount:
    """A cross-repository blob mount: ``digest`` read from ``source``."""

    digest: str
    source: str


@dataclass(frozen=True, slots=True)
class RegistryRequest:
    """One validated registry request: what it asks for, on what."""

    method: str
    route: RouteKind
    action: Action | None  # None only for the base route (authentication check)
    repository: str = ""
    tag: str | None = None
    digest: str | None = None
    upload_id: str | None = None
    mount: Mount | None = None
    query: tuple[tuple[str, str], ...] = ()
    upload_seal: str | None = None  # regproxy's own seal on an upload session; never forwarded

    @property
    def namespace(self) -> str:
        return grammar.namespace_of(self.repository) if self.repository else ""

    @property
    def reference(self) -> str | None:
        return self.tag if self.tag is not None else self.digest

    def target(self, *, drop_mount: bool = False) -> str:
        """The upstream path and query, rebuilt from the validated parts only."""
        path = _PATHS[self.route](self)
        params = self.query
        if drop_mount:
            params = tuple((k, v) for k, v in params if k not in ("mount", "from"))
        if not params:
            return path
        return path + "?" + "&".join(f"{k}={quote(v, safe=':/')}" for k, v in params)


_PATHS: dict[RouteKind, Callable[[RegistryRequest], str]] = {
    RouteKind.BASE: lambda r: "/v2/",
    RouteKind.CATALOG: lambda r: "/v2/_catalog",
    RouteKind.TAGS: lambda r: f"/v2/{r.repository}/tags/list",
    RouteKind.MANIFEST: lambda r: f"/v2/{r.repository}/manifests/{r.reference}",
    RouteKind.BLOB: lambda r: f"/v2/{r.repository}/blobs/{r.digest}",
    RouteKind.UPLOAD_START: lambda r: f"/v2/{r.repository}/blobs/uploads/",
    RouteKind.UPLOAD_SESSION: lambda r: f"/v2/{r.repository}/blobs/uploads/{r.upload_id}",
    RouteKind.REFERRERS: lambda r: f"/v2/{r.repository}/referrers/{r.digest}",
}

# The routes with a repository name, in the order distribution's router registers them: the
# marker that ends the name, and the grammar of what follows it. Distribution matches the name
# greedily; since nothing after a marker may contain "/", the greedy match is always the split
# at the *last* occurrence of the marker (tests hold this against the router's regexes).
_NAMED_ROUTES: tuple[tuple[RouteKind, str, re.Pattern[str] | None], ...] = (
    (RouteKind.TAGS, "/tags/list", None),
    (RouteKind.MANIFEST, "/manifests/", re.compile(grammar.REFERENCE)),
    (RouteKind.BLOB, "/blobs/", re.compile(grammar.DIGEST)),
    (RouteKind.UPLOAD_START, "/blobs/uploads/", None),
    (RouteKind.UPLOAD_SESSION, "/blobs/uploads/", re.compile(grammar.UPLOAD_ID)),
    (RouteKind.REFERRERS, "/referrers/", re.compile(grammar.DIGEST)),
)

_ALLOWED_METHODS: dict[RouteKind, frozenset[str]] = {
    RouteKind.BASE: frozenset({"GET", "HEAD"}),
    RouteKind.CATALOG: frozenset({"GET"}),
    RouteKind.TAGS: frozenset({"GET"}),
    RouteKind.MANIFEST: frozenset({"GET", "HEAD", "PUT", "DELETE"}),
    RouteKind.BLOB: frozenset({"GET", "HEAD", "DELETE"}),
    RouteKind.UPLOAD_START: frozenset({"POST"}),
    RouteKind.UPLOAD_SESSION: frozenset({"GET", "PATCH", "PUT", "DELETE"}),
    RouteKind.REFERRERS: frozenset({"GET"}),
}

# (route, method) -> parameters it defines; those in _REPEATABLE may appear more than once.
_QUERY: dict[tuple[RouteKind, str], frozenset[str]] = {
    (RouteKind.CATALOG, "GET"): frozenset({"n", "last"}),
    (RouteKind.TAGS, "GET"): frozenset({"n", "last"}),
    (RouteKind.MANIFEST, "PUT"): frozenset({"tag"}),
    (RouteKind.UPLOAD_START, "POST"): frozenset({"digest", "mount", "from"}),
    (RouteKind.UPLOAD_SESSION, "GET"): frozenset({"_state", UPLOAD_SEAL_PARAM}),
    (RouteKind.UPLOAD_SESSION, "PATCH"): frozenset({"_state", UPLOAD_SEAL_PARAM}),
    (RouteKind.UPLOAD_SESSION, "PUT"): frozenset({"_state", "digest", UPLOAD_SEAL_PARAM}),
    (RouteKind.UPLOAD_SESSION, "DELETE"): frozenset({"_state", UPLOAD_SEAL_PARAM}),
    (RouteKind.REFERRERS, "GET"): frozenset({"artifactType"}),
}
_REPEATABLE = frozenset({"tag", UPLOAD_SEAL_PARAM})  # a seal per regproxy of a chain
_NO_PARAMS: frozenset[str] = frozenset()
_STATE_RE = re.compile(r"[A-Za-z0-9._~=+/-]{1,4096}")
_MEDIA_TYPE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")
_PATH_CHARS_RE = re.compile(r"[A-Za-z0-9/._:=-]+")


def refuse(message: str, code: ErrorCode = ErrorCode.UNSUPPORTED, status: int = 400) -> RouteRefused:
    return RouteRefused(message, code=code, status=status)


def parse_request(method: str, raw_path: str, raw_query: str, headers: Mapping[str, str]) -> RegistryRequest:
    """Parse one request line; raise :class:`RouteRefused` for anything not forwardable.

    ``raw_path`` and ``raw_query`` are exactly as they arrived on the wire (not decoded).
    ``headers`` is looked up case-insensitively by lower-case name.
    """
    if method not in METHODS:
        raise refuse(f"method `{method}` is not part of the distribution API", status=405)
    for name in METHOD_OVERRIDE_HEADERS:
        if name in headers:
            raise refuse("method override headers are refused")
    if not raw_path.isascii() or _PATH_CHARS_RE.fullmatch(raw_path) is None:
        raise refuse("path has characters outside the distribution grammar", ErrorCode.NAME_INVALID)
    if "//" in raw_path or "/./" in raw_path or "/../" in raw_path or raw_path.endswith(("/.", "/..")):
        raise refuse("path has empty or dot segments", ErrorCode.NAME_INVALID)

    kind, name, tail = _match_route(raw_path)
    if method not in _ALLOWED_METHODS[kind]:
        raise refuse(f"method `{method}` is not allowed on this route", status=405)
    if len(name) > grammar.NAME_MAX_LENGTH:
        raise refuse("repository name is too long", ErrorCode.NAME_INVALID)
    params = _parse_query(raw_query, _QUERY.get((kind, method), _NO_PARAMS))

    if kind is RouteKind.BASE:
        return RegistryRequest(method, kind, None, query=params)
    if kind is RouteKind.CATALOG:
        _check_pagination(params)
        return RegistryRequest(method, kind, Action.CATALOG, query=params)
    if kind is RouteKind.TAGS:
        _check_pagination(params)
        return RegistryRequest(method, kind, Action.LIST, name, query=params)
    if kind is RouteKind.MANIFEST:
        return _manifest(method, name, tail, params)
    if kind is RouteKind.BLOB:
        action = Action.DELETE_BLOB if method == "DELETE" else Action.PULL
        return RegistryRequest(method, kind, action, name, digest=tail, query=params)
    if kind is RouteKind.UPLOAD_START:
        return _upload_start(method, name, params, headers)
    if kind is RouteKind.UPLOAD_SESSION:
        seal_at = None
        for n, (key, value) in enumerate(params):
            if key == "_state" and _STATE_RE.fullmatch(value) is None:
                raise refuse("`_state` is malformed", ErrorCode.BLOB_UPLOAD_INVALID)
            if key == "digest" and not grammar.is_digest(value):
                raise refuse("`digest` is not a supported digest", ErrorCode.DIGEST_INVALID)
            if key == UPLOAD_SEAL_PARAM:
                seal_at = n
        # the last seal is this regproxy's; an earlier one is an upstream regproxy's, forwarded
        seal = params[seal_at][1] if seal_at is not None else None
        forwarded = tuple(p for n, p in enumerate(params) if n != seal_at)
        return RegistryRequest(method, kind, Action.PUSH, name, upload_id=tail, query=forwarded, upload_seal=seal)
    # REFERRERS
    for _key, value in params:
        if _MEDIA_TYPE_RE.fullmatch(value) is None:
            raise refuse("`artifactType` is not a media type")
    return RegistryRequest(method, kind, Action.PULL, name, digest=tail, query=params)


def _match_route(raw_path: str) -> tuple[RouteKind, str, str]:
    """(route, repository name, what follows the route's marker) — or refused."""
    if raw_path == "/v2/":
        return RouteKind.BASE, "", ""
    if raw_path == "/v2/_catalog":
        return RouteKind.CATALOG, "", ""
    if raw_path.startswith("/v2/"):
        rest = raw_path[4:]
        for kind, marker, tail_grammar in _NAMED_ROUTES:
            at = rest.rfind(marker)
            if at <= 0:
                continue
            name, tail = rest[:at], rest[at + len(marker) :]
            if tail_grammar is None:
                if tail:
                    continue
            elif not tail or tail_grammar.fullmatch(tail) is None:
                continue
            if grammar.NAME_RE.fullmatch(name) is not None:
                return kind, name, tail
        _refuse_bad_reference(rest)
    raise refuse("no such route in the distribution API", ErrorCode.NAME_INVALID, status=404)


def _refuse_bad_reference(rest: str) -> None:
    """A valid name with a reference the grammar refuses is a 400 in the spec's own words
    (``DIGEST_INVALID``, ``TAG_INVALID``), not an unknown route."""
    for marker in ("/manifests/", "/blobs/", "/referrers/"):
        at = rest.rfind(marker)
        if at <= 0:
            continue
        name, tail = rest[:at], rest[at + len(marker) :]
        if not tail or "/" in tail or grammar.NAME_RE.fullmatch(name) is None:
            continue
        if ":" in tail or marker != "/manifests/":
            raise refuse("reference is not a supported digest", ErrorCode.DIGEST_INVALID)
        raise refuse("reference is not a valid tag", ErrorCode.TAG_INVALID)


def _manifest(method: str, name: str, ref: str, params: tuple[tuple[str, str], ...]) -> RegistryRequest:
    is_digest = grammar.is_digest(ref)
    if not is_digest and ":" in ref:
        raise refuse("reference is neither a tag nor a supported digest", ErrorCode.DIGEST_INVALID)
    tag, digest = (None, ref) if is_digest else (ref, None)
    if params:
        # `?tag=` (OCI 1.1) names extra tags for a manifest pushed by digest.
        if tag is not None:
            raise refuse("`tag` parameters are only defined on a PUT by digest")
        for _key, value in params:
            if not grammar.is_tag(value):
                raise refuse("`tag` parameter is not a valid tag", ErrorCode.MANIFEST_INVALID)
    if method in ("GET", "HEAD"):
        action = Action.PULL
    elif method == "PUT":
        action = Action.PUSH
    elif tag is not None:
        action = Action.DELETE_TAG
    else:
        action = Action.DELETE_MANIFEST
    return RegistryRequest(method, RouteKind.MANIFEST, action, name, tag=tag, digest=digest, query=params)


def _upload_start(
    method: str, name: str, params: tuple[tuple[str, str], ...], headers: Mapping[str, str]
) -> RegistryRequest:
    content_type = headers.get("content-type", "").lower()
    if content_type.startswith(FORM_CONTENT_TYPES):
        raise refuse("upload parameters are taken from the query string only")
    values = dict(params)
    if "digest" in values and not grammar.is_digest(values["digest"]):
        raise refuse("`digest` is not a supported digest", ErrorCode.DIGEST_INVALID)
    mount = None
    if "mount" in values:
        if not grammar.is_digest(values["mount"]):
            raise refuse("`mount` is not a supported digest", ErrorCode.DIGEST_INVALID)
        source = values.get("from")
        if source is None:
            # A mount without `from` lets the registry pick any repository holding the blob;
            # with no source to authorize, the request becomes a plain upload.
            params = tuple((k, v) for k, v in params if k != "mount")
        elif not grammar.is_name(source):
            raise refuse("`from` is not a repository name", ErrorCode.NAME_INVALID)
        else:
            mount = Mount(values["mount"], source)
    elif "from" in values:
        params = tuple((k, v) for k, v in params if k != "from")
    return RegistryRequest(method, RouteKind.UPLOAD_START, Action.PUSH, name, mount=mount, query=params)


def _parse_query(raw_query: str, allowed: frozenset[str]) -> tuple[tuple[str, str], ...]:
    if not raw_query:
        return ()
    if not raw_query.isascii():
        raise refuse("query string is not ASCII")
    try:
        pairs = parse_qsl(raw_query, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise refuse("query string is malformed") from exc
    seen: set[str] = set()
    for key, value in pairs:
        if key not in allowed:
            raise refuse(f"query parameter `{key}` is not defined on this route")
        if key in seen and key not in _REPEATABLE:
            raise refuse(f"query parameter `{key}` is repeated")
        if not value.isascii() or not value.isprintable():
            raise refuse(f"query parameter `{key}` has characters outside ASCII")
        seen.add(key)
    return tuple(pairs)


def _check_pagination(params: tuple[tuple[str, str], ...]) -> None:
    for key, value in params:
        if key == "n" and (not value.isdigit() or len(value) > 9):
            raise refuse("`n` is not a number", ErrorCode.UNSUPPORTED)
        if key == "last" and value and not grammar.is_name(value) and not grammar.is_tag(value):
            raise refuse("`last` is neither a repository name nor a tag", ErrorCode.UNSUPPORTED)
