"""Fixtures shared by the integration and end-to-end suites (machinery in tests/support).

- ``registry``: one docker-registry for the session; tests keep to their own repository names
  (:func:`tests.support.examples.unique`), so they never see each other's state.
- ``proxy``: one regproxy for the session with the example identities and policies.
- ``make_proxy``: a regproxy of a test's own (its own policies, upstream or settings), stopped
  at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support import Proxy, Registry
from tests.support.upstreams import S3Server, UpstreamRegistry


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    upstream = Registry(tmp_path_factory.mktemp("registry")).start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="session")
def proxy(registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    server = Proxy(tmp_path_factory.mktemp("regproxy"), registry.url).start()
    yield server
    server.stop()


MakeProxy = Callable[..., Proxy]


@pytest.fixture
def make_proxy(registry: Registry, tmp_path: Path) -> Iterator[MakeProxy]:
    """``make_proxy(policies=None, upstream_url=None, identities=None, public=(), settings=None)``."""
    started: list[Proxy] = []

    def make(
        *,
        policies: Mapping[str, str] | None = None,
        upstream_url: str | None = None,
        identities: str | None = None,
        public: tuple[str, ...] = (),
        settings: Mapping[str, Any] | None = None,
    ) -> Proxy:
        server = Proxy(
            tmp_path / f"regproxy-{len(started)}",
            upstream_url or registry.url,
            policies=policies,
            identities=identities,
            public=public,
            settings=settings,
        )
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


# distribution on S3 (moto on loopback) with redirects, and a regproxy in front: the integration
# and end-to-end object-storage tests share one per module
@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    server = S3Server(tmp_path_factory.mktemp("s3")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3_registry(s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstreamRegistry]:
    registry = UpstreamRegistry(tmp_path_factory.mktemp("s3-registry"), s3=s3).start()
    yield registry
    registry.stop()


@pytest.fixture(scope="module")
def s3_proxy(s3_registry: UpstreamRegistry, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    proxy = Proxy(tmp_path_factory.mktemp("s3-regproxy"), s3_registry.url).start()
    yield proxy
    proxy.stop()
