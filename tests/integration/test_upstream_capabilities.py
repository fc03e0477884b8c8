"""What regproxy learns of the real registries at start-up, as its metrics show it.

distribution 2.8 (Debian's docker-registry) answers a tag DELETE with 400 (it has no tag
deletion), a digest DELETE of an unknown manifest with 404 (it deletes manifests), and the
referrers endpoint with 404 (it predates OCI 1.1). The same holds behind its token auth, where
the probes need a token with ``delete`` like any delete. An upstream that cannot be used at
start-up is an error in the log, with the reason, before any client asks.

What was learned is acted on: /readyz names it; a tag delete the policy allows is answered
405 ``UNSUPPORTED`` by regproxy and never reaches distribution 2.8 (a caller the policy refuses
gets its 403, learning nothing of the registry); a cross-repository mount answered 201 proves
mounts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regproxy.cli import main
from tests.conftest import MakeProxy
from tests.support import Proxy, Registry, request
from tests.support.distribution import manifest_headers, push_blob, push_image
from tests.support.examples import ALICE, BOB, unique
from tests.support.oci import build_image, random_blob
from tests.support.operations import Scrape, scrape
from tests.support.pki import Authority
from tests.support.processes import free_port, wait_until
from tests.support.proxy import example_policies
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


DELETERS = """\
version: 1
statements:
  - id: devs-delete-tags
    effect: allow
    principals: [group:team-a-devs]
    actions: [delete-tag]
    resources: ["team-a/**"]
"""


def test_a_tag_delete_the_registry_cannot_do_is_unsupported_and_never_forwarded(
    make_proxy: MakeProxy, registry: Registry
) -> None:
    proxy = make_proxy(policies={**example_policies(), "deleters.yaml": DELETERS})
    probed(proxy)
    repo = f"team-a/{unique('delete-tag')}/app"
    push_image(registry.url, repo, build_image((1024,)), "old")
    mark = len(registry.requests())

    answer = request(proxy.url, "DELETE", f"/v2/{repo}/manifests/old", auth=ALICE)
    assert answer.status == 405 and answer.error_codes() == ["UNSUPPORTED"], answer.body
    assert answer.json()["errors"][0]["detail"] == {"capability": "tag-deletion", "upstream": "registry/2.0"}
    refused = request(proxy.url, "DELETE", f"/v2/{repo}/manifests/old", auth=BOB)
    assert refused.status == 403 and refused.error_codes() == ["DENIED"]  # nothing said of the registry

    assert [line for line in registry.requests()[mark:] if "DELETE" in line] == []
    still = request(registry.url, "GET", f"/v2/{repo}/manifests/old", headers=manifest_headers())
    assert still.status == 200

    def both() -> list[dict[str, Any]] | None:
        lines = [e for e in proxy.audit_events() if e["path"] == f"/v2/{repo}/manifests/old"]
        return lines if len(lines) == 2 else None

    audited = wait_until(both, timeout=10, what="both deletes' audit lines")
    assert [(e["principal"], e["decision"], e["status"], e["upstream_status"]) for e in audited] == [
        ("user:alice", "allowed", 405, 0),
        ("user:bob", "default-deny", 403, 0),
    ]
    assert audited[0]["facts"] == [{"fact": "upstream-supports", "capability": "tag-deletion", "answer": False}]
    assert audited[1]["facts"] == []  # the refused caller: the registry was never in question


def test_readyz_names_what_the_probe_found(make_proxy: MakeProxy) -> None:
    proxy = make_proxy()
    probed(proxy)
    ready = request(proxy.admin_url, "GET", "/readyz")
    assert ready.status == 200
    assert ready.body.decode() == (
        "ready: policy generation 1; upstream registry/2.0; "
        "tag-deletion no, manifest-deletion yes, referrers no, mount unknown\n"
    )


def test_a_forwarded_mount_answered_201_proves_mounts(make_proxy: MakeProxy, registry: Registry) -> None:
    proxy = make_proxy()
    probed(proxy)
    base = unique("mount-seen")
    source, target = f"team-a/{base}/src", f"team-a/{base}/dst"
    blob = random_blob(2048)
    push_blob(registry.url, source, blob)
    mounted = request(proxy.url, "POST", f"/v2/{target}/blobs/uploads/?mount={blob.digest}&from={source}", auth=ALICE)
    assert mounted.status == 201, mounted.body
    assert states(scrape(proxy.admin_url))["mount"] == "yes"


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


def test_check_probe_upstream_warns_of_a_grant_the_registry_cannot_do(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for name, text in {**example_policies(), "deleters.yaml": DELETERS}.items():
        (policies / name).write_text(text)
    config = tmp_path / "regproxy.yaml"
    config.write_text(f"policies: {policies}\nupstream: {{url: '{registry.url}'}}\n")

    assert main(["check", "--config", str(config), "--probe-upstream"]) == 0  # a warning, not an error
    err = capsys.readouterr().err
    assert "warning: the policies grant `delete-tag`, but registry/2.0 has no tag-deletion" in err
    assert main(["check", "--config", str(config)]) == 0
    assert "tag-deletion" not in capsys.readouterr().err  # opt-in: no probe without the flag

    nowhere = tmp_path / "nowhere.yaml"
    nowhere.write_text(f"policies: {policies}\nupstream: {{url: 'http://127.0.0.1:{free_port()}'}}\n")
    assert main(["check", "--config", str(nowhere), "--probe-upstream"]) == 0
    assert "warning: cannot probe the upstream http://127.0.0.1:" in capsys.readouterr().err
