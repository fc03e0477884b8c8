"""What regproxy learns of the real registries at start-up, as its metrics show it.

distribution 2.8 (Debian's docker-registry) answers a tag DELETE with 400 (it has no tag
deletion), a digest DELETE of an unknown manifest with 404 (it deletes manifests), and the
referrers endpoint with 404 (it predates OCI 1.1). The same holds behind its token auth, where
the probes need a token with ``delete`` like any delete. An upstream that cannot be used at
start-up is an error in the log, with the reason, before any client asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MakeProxy
from tests.support import Proxy, Registry
from tests.support.operations import Scrape, scrape
from tests.support.pki import Authority
from tests.support.processes import free_port, wait_until
from tests.support.token_issuer import TokenIssuer
from tests.support.upstreams import Tls, UpstreamRegistry

pytestmark = pytest.mark.integration

DISTRIBUTION_2_8 = {"tag-deletion": "no", "manifest-deletion": "yes", "referrers": "no", "mount": "unknown"}


def probed(proxy: Proxy) -> Scrape:
    def done() -> Scrape | None:
        now = scrape(proxy.admin_url)
        return now if now.value("regproxy_upstream_probes_total") >= 1 else None

    return wait_until(done, timeout=15, what="the first capability probe")


def states(metrics: Scrape) -> dict[str, str]:
    return {
        s.labels["capability"]: s.labels["state"]
        for s in metrics.series("regproxy_upstream_capability")
        if s.value == 1
    }


def test_distribution_2_8_on_a_filesystem(make_proxy: MakeProxy, registry: Registry) -> None:
    proxy = make_proxy()
    metrics = probed(proxy)
    assert metrics.value("regproxy_upstream_up") == 1
    assert metrics.value("regproxy_upstream_info", api_version="registry/2.0") == 1
    assert states(metrics) == DISTRIBUTION_2_8
    assert "upstream registry/2.0; tag-deletion no, manifest-deletion yes, referrers no, mount unknown" in (
        proxy.log_text()
    )
    assert not registry.has_repository("regproxy-probe/capabilities")  # the probes left nothing behind


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UpstreamRegistry, TokenIssuer]]:
    issuer = TokenIssuer(tmp_path_factory.mktemp("issuer")).start()
    registry = UpstreamRegistry(tmp_path_factory.mktemp("token-registry"), auth=issuer.registry_auth()).start()
    yield registry, issuer
    registry.stop()
    issuer.stop()


def test_distribution_behind_its_token_auth(
    make_proxy: MakeProxy, token_registry: tuple[UpstreamRegistry, TokenIssuer], tmp_path: Path
) -> None:
    registry, issuer = token_registry
    secret = tmp_path / "svc.password"
    secret.write_text("svc-secret\n")
    upstream = {"url": registry.url, "auth": "bearer", "username": "svc", "password_file": str(secret)}
    metrics = probed(make_proxy(upstream_url=registry.url, settings={"upstream": upstream}))
    assert states(metrics) == DISTRIBUTION_2_8
    assert issuer.fetches("repository:regproxy-probe/capabilities:delete")


def test_an_upstream_unusable_at_start_up_is_logged_with_the_reason(make_proxy: MakeProxy) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    proxy = make_proxy(upstream_url=nowhere, settings={"upstream": {"url": nowhere}})
    metrics = probed(proxy)
    assert metrics.value("regproxy_upstream_up") == 0
    assert metrics.value("regproxy_upstream_probes_total", result="unusable") >= 1
    assert set(states(metrics).values()) == {"unknown"}
    assert "ERROR regproxy.upstream: upstream not usable: the registry cannot be reached" in proxy.log_text()
    assert "(at start-up)" in proxy.log_text()


def test_an_untrusted_tls_certificate_is_logged_at_start_up(
    make_proxy: MakeProxy, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The TLS problem is in the log as the server starts, before any client request."""
    authority = Authority(tmp_path_factory.mktemp("ca"))
    tls = Tls(authority.issue("registry", server=True))
    registry = UpstreamRegistry(tmp_path_factory.mktemp("tls-registry"), tls=tls, ca_file=authority.cert).start()
    try:
        proxy = make_proxy(upstream_url=registry.url, settings={"upstream": {"url": registry.url}})
        probed(proxy)
        log = proxy.log_text()
        assert "upstream not usable: the registry's TLS certificate does not verify" in log
        assert "(at start-up)" in log
    finally:
        registry.stop()
