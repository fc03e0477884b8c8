"""The route matcher against distribution's own router regexes, over thousands of generated
paths (a property run: tests/properties holds the heavy ones, and `make test` runs them)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from regproxy.errors import RouteRefused
from regproxy.oci import grammar
from regproxy.oci.routes import RouteKind, _match_route

D = "sha256:" + "a" * 64


_N = grammar.NAME
ROUTER = (  # distribution v2 router, in registration order, matched greedily
    (RouteKind.BASE, re.compile(r"/v2/")),
    (RouteKind.CATALOG, re.compile(r"/v2/_catalog")),
    (RouteKind.TAGS, re.compile(rf"/v2/(?P<name>{_N})/tags/list")),
    (RouteKind.MANIFEST, re.compile(rf"/v2/(?P<name>{_N})/manifests/(?P<tail>{grammar.REFERENCE})")),
    (RouteKind.BLOB, re.compile(rf"/v2/(?P<name>{_N})/blobs/(?P<tail>{grammar.DIGEST})")),
    (RouteKind.UPLOAD_START, re.compile(rf"/v2/(?P<name>{_N})/blobs/uploads/")),
    (RouteKind.UPLOAD_SESSION, re.compile(rf"/v2/(?P<name>{_N})/blobs/uploads/(?P<tail>{grammar.UPLOAD_ID})")),
    (RouteKind.REFERRERS, re.compile(rf"/v2/(?P<name>{_N})/referrers/(?P<tail>{grammar.DIGEST})")),
)


def router(path: str) -> tuple[RouteKind, str, str] | None:
    for kind, pattern in ROUTER:
        match = pattern.fullmatch(path)
        if match is not None:
            return kind, match.groupdict().get("name") or "", match.groupdict().get("tail") or ""
    return None


SEGMENTS = [
    "a",
    "b-c",
    "x.y",
    "B",
    "manifests",
    "blobs",
    "uploads",
    "tags",
    "list",
    "referrers",
    "_catalog",
    "latest",
    "v1.0",
    D,
    "sha256:abc",
    "u-1=",
    "",
]


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=7), st.booleans())
def test_route_matcher_agrees_with_distributions_router(segments: list[str], trailing_slash: bool) -> None:
    path = "/v2/" + "/".join(segments) + ("/" if trailing_slash and segments else "")
    try:
        got: tuple[RouteKind, str, str] | None = _match_route(path)
    except RouteRefused:
        got = None
    assert got == router(path)
