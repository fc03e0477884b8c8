"""/readyz means "can serve": a registry that refuses regproxy's own credentials is not ready,
whatever its health, and the answer says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, Response, request, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def guarded_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir = tmp_path_factory.mktemp("readiness-registry")
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text("svc:" + bcrypt.hashpw(b"svc-secret", bcrypt.gensalt(rounds=4)).decode() + "\n")
    registry = Registry(workdir, htpasswd=htpasswd).start()
    yield registry
    registry.stop()


def proxy_for(make_proxy: MakeProxy, registry: Registry, tmp_path: Path, password: str, workers: int) -> Proxy:
    secret = tmp_path / f"password-{password}-{workers}"
    secret.write_text(password + "\n")
    upstream = {"url": registry.url, "auth": "basic", "username": "svc", "password_file": str(secret)}
    return make_proxy(upstream_url=registry.url, settings={"upstream": upstream, "workers": workers})


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_wrong_upstream_password_is_not_ready_and_says_so(
    guarded_registry: Registry, make_proxy: MakeProxy, tmp_path: Path, workers: int
) -> None:
    proxy = proxy_for(make_proxy, guarded_registry, tmp_path, "not-the-secret", workers)
    response = request(proxy.admin_url, "GET", "/readyz")
    assert response.status == 503, response.body
    assert b"upstream refuses regproxy's credentials: 401" in response.body, response.body


@pytest.mark.parametrize("workers", [1, 2], ids=["one-process", "two-workers"])
def test_right_upstream_password_is_ready(
    guarded_registry: Registry, make_proxy: MakeProxy, tmp_path: Path, workers: int
) -> None:
    proxy = proxy_for(make_proxy, guarded_registry, tmp_path, "svc-secret", workers)

    def answer() -> Response | None:
        response = request(proxy.admin_url, "GET", "/readyz")
        return response if response.status == 200 else None

    ready = wait_until(answer, timeout=30, what="/readyz")
    assert ready.body.startswith(b"ready:"), ready.body
