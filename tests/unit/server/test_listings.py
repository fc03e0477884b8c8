"""The listing edge against a fake registry that pages like distribution: the body is filtered,
the Link recomputed from what is shown, a registry error on the first page passed on."""

from __future__ import annotations

from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from regproxy.oci.routes import parse_request
from regproxy.server.listings import filtered_listing

NAMES = [f"team/r{i:02d}" for i in range(12)] + ["zeta/secret"]


class _Content:
    def __init__(self, body: bytes) -> None:
        self.body = body

    async def read(self, n: int) -> bytes:
        return self.body[:n]


class _Response:
    def __init__(self, status: int, body: bytes, link: bool) -> None:
        self.status = status
        self.headers = {"Content-Type": "application/json; charset=utf-8"} | ({"Link": "<x>"} if link else {})
        self.content = _Content(body)

    async def __aenter__(self) -> _Response:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        return None


class FakeRegistry:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.asked: list[str] = []

    async def request(self, method: str, target: str, headers: dict[str, str], *, scope: str = "") -> _Response:
        self.asked.append(target)
        if self.status != 200:
            return _Response(self.status, b'{"errors":[{"code":"NAME_UNKNOWN"}]}', False)
        query = parse_qs(urlsplit(target).query)
        n, last = int(query["n"][0]), query.get("last", [""])[0]
        after = [name for name in NAMES if name > last]
        return _Response(200, orjson.dumps({"repositories": after[:n]}), len(after) > n)

    def invalidate(self, scope: str) -> None:
        pass


def visible(name: str) -> bool:
    return name.startswith("team/") and name[-1] in "02468"


async def test_a_page_of_exactly_n_visible_names_and_a_link_to_the_next() -> None:
    registry = FakeRegistry()
    response = await filtered_listing(registry, parse_request("GET", "/v2/_catalog", "n=2", {}), visible)  # type: ignore[arg-type]
    assert orjson.loads(response.body) == {"repositories": ["team/r00", "team/r02"]}  # type: ignore[arg-type]
    assert response.headers["Link"] == '</v2/_catalog?last=team%2Fr02&n=2>; rel="next"'
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"

    last = await filtered_listing(registry, parse_request("GET", "/v2/_catalog", "n=5&last=team%2Fr02", {}), visible)  # type: ignore[arg-type]
    assert orjson.loads(last.body) == {"repositories": ["team/r04", "team/r06", "team/r08", "team/r10"]}  # type: ignore[arg-type]
    assert "Link" not in last.headers
    assert all("zeta" not in target or "last=" not in target for target in registry.asked)


async def test_a_registry_error_on_the_first_page_is_passed_on() -> None:
    response = await filtered_listing(FakeRegistry(404), parse_request("GET", "/v2/a/tags/list", "", {}), visible)  # type: ignore[arg-type]
    assert response.status == 404 and b"NAME_UNKNOWN" in response.body  # type: ignore[operator]


async def test_an_n_over_the_page_cap_gets_pages_of_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    import regproxy.server.listings as listings  # noqa: PLC0415 - the module whose cap is lowered

    monkeypatch.setattr(listings, "MAX_PAGE", 3)
    response = await filtered_listing(FakeRegistry(), parse_request("GET", "/v2/_catalog", "n=500", {}), visible)  # type: ignore[arg-type]
    assert orjson.loads(response.body) == {"repositories": ["team/r00", "team/r02", "team/r04"]}  # type: ignore[arg-type]
    assert response.headers["Link"] == '</v2/_catalog?last=team%2Fr04&n=3>; rel="next"'
