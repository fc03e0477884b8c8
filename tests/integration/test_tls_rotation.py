"""TLS that rotates: a new ``tls.cert``/``tls.key`` pair on disk is served to new connections
without a restart, whether it arrives as a Kubernetes Secret's ``..data`` symlink swap or as two
file renames; a broken pair (a key that does not match its certificate) is refused, logged
with the keys, and the pair in force stays. Checked with real handshakes (Python's ssl client,
with and without SNI) reading the certificate served.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Proxy, Registry, wait_until
from tests.support.tls import make_pair, served_common_name

pytestmark = pytest.mark.integration

WAIT = 20.0


class TlsProxy(Proxy):
    """regproxy serving HTTPS: ready once a handshake succeeds."""

    def _answers(self) -> bool:
        try:
            served_common_name(self.port)
        except OSError:
            return False
        return True


def publish(mount: Path, cert: bytes, key: bytes) -> None:
    """As the kubelet updates a Secret volume: a new hidden directory, ``..data`` swapped to it."""
    version = mount / f"..{uuid.uuid4().hex[:8]}"
    version.mkdir()
    (version / "tls.crt").write_bytes(cert)
    (version / "tls.key").write_bytes(key)
    os.symlink(version.name, mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")


@pytest.fixture
def secret_mount(tmp_path: Path) -> Path:
    mount = tmp_path / "tls"
    mount.mkdir()
    publish(mount, *make_pair("pair-1"))
    os.symlink("..data/tls.crt", mount / "tls.crt")
    os.symlink("..data/tls.key", mount / "tls.key")
    return mount


@pytest.fixture(params=[1, 2], ids=["one-process", "two-workers"])
def tls_proxy(
    request: pytest.FixtureRequest, registry: Registry, tmp_path: Path, secret_mount: Path
) -> Iterator[Proxy]:
    settings = {
        "tls": {"cert": str(secret_mount / "tls.crt"), "key": str(secret_mount / "tls.key")},
        "workers": request.param,
        "reload": {"settle": 0.2},
    }
    proxy = TlsProxy(tmp_path / "regproxy", registry.url, settings=settings).start()
    yield proxy
    proxy.stop()


def every_handshake_serves(port: int, name: str) -> bool:
    """Several handshakes (new connections land on any worker), with and without SNI."""
    return all(served_common_name(port, server_name=sni) == name for sni in (None, "regproxy.test") * 3)


def test_a_rotated_pair_is_served_to_new_connections_and_a_broken_one_is_refused(
    tls_proxy: Proxy, secret_mount: Path
) -> None:
    port = tls_proxy.port
    assert every_handshake_serves(port, "pair-1")

    publish(secret_mount, *make_pair("pair-2"))  # the Secret's ..data swap
    wait_until(lambda: every_handshake_serves(port, "pair-2"), timeout=WAIT, what="pair-2 served")

    cert3, _ = make_pair("pair-3")
    _, key4 = make_pair("pair-4")
    publish(secret_mount, cert3, key4)  # a certificate with someone else's key
    wait_until(lambda: "TLS pair refused" in tls_proxy.log_text(), timeout=WAIT, what="the broken pair refused")
    log = tls_proxy.log_text()
    assert "config `tls.key`" in log and str(secret_mount / "tls.key") in log, log[-2000:]
    assert every_handshake_serves(port, "pair-2")

    cert5, key5 = make_pair("pair-5")  # cert-manager style: each file renamed over in turn
    version = next(p for p in secret_mount.iterdir() if p.name.startswith("..") and p.name != "..data")
    for name, data in (("tls.crt", cert5), ("tls.key", key5)):
        tmp = version / f".{name}.tmp"
        tmp.write_bytes(data)
    os.remove(secret_mount / "tls.crt")
    os.remove(secret_mount / "tls.key")
    (version / ".tls.crt.tmp").rename(secret_mount / "tls.crt")
    (version / ".tls.key.tmp").rename(secret_mount / "tls.key")
    wait_until(lambda: every_handshake_serves(port, "pair-5"), timeout=WAIT, what="pair-5 served")
