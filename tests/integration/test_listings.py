"""Listings through regproxy leak nothing: a ``?n=1`` walk of ``_catalog`` and ``tags/list``
shows exactly what the caller may see, one entry a page, with a ``Link`` only while more
remain; no body and no cursor names anything else (against the real registry)."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, request
from tests.support.distribution import push_image
from tests.support.examples import BOB, unique
from tests.support.oci import build_image

pytestmark = pytest.mark.integration

POLICY = """\
version: 1
statements:
  - id: bob-sees-{m}
    effect: allow
    principals: [user:bob]
    actions: [catalog]
    resources: ["team-a/{m}/**"]
  - id: bob-lists-releases
    effect: allow
    principals: [user:bob]
    actions: [list, pull]
    resources: ["team-a/{m}/**:release-*"]
"""


def walk(proxy: Proxy, target: str, key: str) -> tuple[list[list[str]], list[str]]:
    pages: list[list[str]] = []
    links: list[str] = []
    for _ in range(50):
        response = request(proxy.url, "GET", target, auth=BOB)
        assert response.status == 200, response.body
        pages.append(response.json()[key])
        link = response.header("Link")
        if link is None:
            return pages, links
        links.append(link)
        target = link[link.index("<") + 1 : link.index(">")]
    raise AssertionError("the walk did not end")


def test_n1_walks_show_only_what_the_caller_may_see(make_proxy: MakeProxy, registry: Registry) -> None:
    m = unique("walk")
    image = build_image((256,))
    visible = [f"team-a/{m}/{name}" for name in ("a", "b", "c")]
    hidden = [f"team-a/{m}-x/h", f"team-b/{m}/h"]
    for repo in visible + hidden:
        push_image(registry.url, repo, image, "latest")
    for tag in ("dev-1", "release-1", "dev-2", "release-2", "release-3", "zz"):
        push_image(registry.url, visible[0], image, tag)
    proxy = make_proxy(policies={"bob.yaml": POLICY.format(m=m)})

    pages, links = walk(proxy, "/v2/_catalog?n=1", "repositories")
    assert pages == [[name] for name in visible]
    assert len(links) == len(visible) - 1
    assert not any(h in unquote(link) for link in links for h in hidden)

    pages, links = walk(proxy, f"/v2/{visible[0]}/tags/list?n=1", "tags")
    assert pages == [["release-1"], ["release-2"], ["release-3"]]
    assert all("dev" not in link and "zz" not in link for link in links)
    whole = request(proxy.url, "GET", f"/v2/{visible[0]}/tags/list", auth=BOB).json()["tags"]
    assert sorted(whole) == ["release-1", "release-2", "release-3"]
