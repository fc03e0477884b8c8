"""regproxy in front of a registry that speaks TLS with a private CA and demands client certificates.

The registry is docker-registry with ``http.tls`` (a certificate from the test's own CA) and
``clientcas`` (mTLS). regproxy trusts the CA through ``upstream.ca_file`` and presents
``upstream.client_cert``/``client_key``. Each way it can go wrong is told to the operator in its
own words, in the log and in /readyz, while the client gets a plain 503; TLS files that cannot be
used stop the start with the key named.
"""

from __future__ import annotations

import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import MakeProxy
from tests.support import Proxy
from tests.support.distribution import manifest_headers, push_image
from tests.support.examples import ALICE, BOB, unique
from tests.support.http import request
from tests.support.oci import build_image
from tests.support.pki import Authority, Issued
from tests.support.proxy import EXAMPLES, ROOT, example_policies
from tests.support.token_issuer import TokenIssuer
from tests.support.upstreams import Tls, UpstreamRegistry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return Authority(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def client_cert(authority: Authority) -> Issued:
    return authority.issue("regproxy-client", server=False)


@pytest.fixture(scope="module")
def tls_registry(authority: Authority, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpstreamRegistry]:
    tls = Tls(authority.issue("registry", server=True), client_cas=(authority.cert,))
    registry = UpstreamRegistry(tmp_path_factory.mktemp("tls-registry"), tls=tls, ca_file=authority.cert).start()
    yield registry
    registry.stop()


def tls_proxy(make_proxy: MakeProxy, registry: UpstreamRegistry, **upstream: Any) -> Proxy:
    settings = {"upstream": {"url": registry.url, **{k: str(v) for k, v in upstream.items()}}}
    return make_proxy(upstream_url=registry.url, settings=settings)


def readyz(proxy: Proxy) -> tuple[int, str]:
    response = request(proxy.admin_url, "GET", "/readyz")
    return response.status, response.body.decode()


def test_the_registry_really_demands_a_client_certificate(tls_registry: UpstreamRegistry, client_cert: Issued) -> None:
    """The setup is real: a TLS client without a certificate is refused by the registry itself."""
    import http.client  # noqa: PLC0415 - only this check speaks TLS by hand

    def status(context: ssl.SSLContext) -> int:
        conn = http.client.HTTPSConnection("127.0.0.1", tls_registry.port, context=context, timeout=10)
        try:
            conn.request("GET", "/v2/")
            return conn.getresponse().status
        finally:
            conn.close()

    assert status(tls_registry.client_context(client_cert)) == 200
    with pytest.raises((ssl.SSLError, ConnectionError)):
        status(tls_registry.client_context())


def test_push_and_pull_over_mtls_with_a_private_ca(
    make_proxy: MakeProxy, tls_registry: UpstreamRegistry, authority: Authority, client_cert: Issued
) -> None:
    proxy = tls_proxy(
        make_proxy, tls_registry, ca_file=authority.cert, client_cert=client_cert.cert, client_key=client_cert.key
    )
    repository = unique("team-a/tls")
    image = build_image()
    push_image(proxy.url, repository, image, "v1", auth=ALICE)
    pulled = request(proxy.url, "GET", f"/v2/{repository}/manifests/v1", auth=BOB, headers=manifest_headers())
    assert pulled.status == 200 and pulled.body == image.manifest.data
    for blob in image.blobs:
        got = request(proxy.url, "GET", f"/v2/{repository}/blobs/{blob.digest}", auth=BOB)
        assert got.status == 200 and got.body == blob.data
    status, why = readyz(proxy)
    assert status == 200 and why.startswith("ready: policy generation 1; ")


def test_a_registry_certificate_from_an_unknown_ca_is_named_in_readyz_and_the_log(
    make_proxy: MakeProxy, tls_registry: UpstreamRegistry, client_cert: Issued
) -> None:
    proxy = tls_proxy(make_proxy, tls_registry, client_cert=client_cert.cert, client_key=client_cert.key)
    response = request(proxy.url, "GET", f"/v2/{unique('team-a/tls')}/tags/list", auth=BOB)
    assert response.status == 503 and response.error_codes() == ["UNAVAILABLE"]
    assert b"certificate" not in response.body  # the operator's details stay with the operator
    status, why = readyz(proxy)
    assert status == 503
    assert "the registry's TLS certificate does not verify: unable to get local issuer certificate" in why
    assert "upstream.ca_file" in why
    assert "TLS certificate does not verify" in proxy.log_text()


def test_a_missing_client_certificate_is_named_in_readyz(
    make_proxy: MakeProxy, tls_registry: UpstreamRegistry, authority: Authority
) -> None:
    proxy = tls_proxy(make_proxy, tls_registry, ca_file=authority.cert)
    assert request(proxy.url, "GET", f"/v2/{unique('team-a/tls')}/tags/list", auth=BOB).status == 503
    status, why = readyz(proxy)
    assert status == 503
    assert "the registry refused the TLS handshake" in why and "upstream.client_cert" in why, why


def start_fails(tmp_path: Path, upstream: dict[str, str]) -> str:
    """``regproxy serve`` with this upstream section: it must exit 2; returns its stderr."""
    proxy = Proxy(tmp_path / "refused", upstream["url"], settings={"upstream": upstream})
    proxy.workdir.mkdir(parents=True)
    proxy.policies_dir.mkdir()
    for name, text in example_policies().items():
        (proxy.policies_dir / name).write_text(text)
    proxy.identities_path.write_text((EXAMPLES / "identities.yaml").read_text())
    proxy.config_path.write_text(yaml.safe_dump(proxy.config()))
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "regproxy", "serve", "--config", str(proxy.config_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    return done.stderr


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"ca_file": "junk"}, "upstream.ca_file"),
        ({"client_cert": "client", "client_key": "junk"}, "upstream.client_cert"),
        ({"client_cert": "client"}, "upstream.client_key"),
        ({"ca_file": "missing"}, "upstream.ca_file"),
    ],
    ids=["ca-not-pem", "key-not-pem", "cert-without-key", "ca-missing"],
)
def test_tls_files_that_cannot_be_used_stop_the_start_naming_the_key(
    tmp_path: Path, client_cert: Issued, files: dict[str, str], named: str
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    paths = {"junk": junk, "client": client_cert.cert, "missing": tmp_path / "nowhere.pem"}
    upstream = {"url": "https://127.0.0.1:9", **{k: str(paths[v]) for k, v in files.items()}}
    stderr = start_fails(tmp_path, upstream)
    assert f"config `{named}`:" in stderr, stderr[-2000:]
    assert "Traceback" not in stderr


def test_tls_files_for_a_plain_http_upstream_are_a_config_error(tmp_path: Path, authority: Authority) -> None:
    stderr = start_fails(tmp_path, {"url": "http://127.0.0.1:9", "ca_file": str(authority.cert)})
    assert "error: config `upstream.ca_file`: applies to an https:// upstream.url only" in stderr, stderr[-2000:]


# -- TLS and the registry's own token auth together (Harbor behind a private CA) ----------------
def token_tls_registry(authority: Authority, workdir: Path, *, realm_tls: bool) -> tuple[UpstreamRegistry, TokenIssuer]:
    tls = authority.issue("token-issuer", server=True) if realm_tls else None
    issuer = TokenIssuer(workdir / "issuer", tls=tls).start()
    registry = UpstreamRegistry(
        workdir / "registry",
        auth=issuer.registry_auth(),
        tls=Tls(authority.issue("token-registry", server=True)),
        ca_file=authority.cert,
    ).start()
    return registry, issuer


def bearer_tls_proxy(make_proxy: MakeProxy, registry: UpstreamRegistry, authority: Authority, tmp_path: Path) -> Proxy:
    secret = tmp_path / "svc.password"
    secret.write_text("svc-secret\n")
    upstream = {
        "url": registry.url,
        "auth": "bearer",
        "username": "svc",
        "password_file": str(secret),
        "ca_file": str(authority.cert),
    }
    return make_proxy(upstream_url=registry.url, settings={"upstream": upstream})


def test_a_token_auth_registry_and_its_realm_behind_a_private_ca(
    make_proxy: MakeProxy, authority: Authority, tmp_path: Path
) -> None:
    """The realm is HTTPS with the same private CA: regproxy trusts both through upstream.ca_file."""
    registry, issuer = token_tls_registry(authority, tmp_path, realm_tls=True)
    try:
        proxy = bearer_tls_proxy(make_proxy, registry, authority, tmp_path)
        repository = unique("team-a/tls-token")
        image = build_image()
        push_image(proxy.url, repository, image, "v1", auth=ALICE)
        pulled = request(proxy.url, "GET", f"/v2/{repository}/manifests/v1", auth=BOB, headers=manifest_headers())
        assert pulled.status == 200 and pulled.body == image.manifest.data
        assert issuer.realm.startswith("https://") and issuer.fetches(f"repository:{repository}:pull,push")
    finally:
        registry.stop()
        issuer.stop()


def test_a_plain_http_realm_in_front_of_an_https_registry_never_gets_the_credential(
    make_proxy: MakeProxy, authority: Authority, tmp_path: Path
) -> None:
    """A registry served over TLS whose challenge names an http:// realm would have regproxy send
    its service credential in clear: regproxy refuses, the client gets a 503, the log says why."""
    registry, issuer = token_tls_registry(authority, tmp_path, realm_tls=False)
    try:
        proxy = bearer_tls_proxy(make_proxy, registry, authority, tmp_path)
        response = request(proxy.url, "GET", f"/v2/{unique('team-a/tls-token')}/tags/list", auth=BOB)
        assert response.status == 503 and response.error_codes() == ["UNAVAILABLE"]
        assert issuer.requests == []  # the credential was never sent
        log = proxy.log_text()
        assert f"the registry's token realm `{issuer.realm}` is plain HTTP: the service credential stays unsent" in (
            log
        )
    finally:
        registry.stop()
        issuer.stop()
