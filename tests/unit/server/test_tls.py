"""TLS rotation in-process: handshakes through memory BIOs against the listener's context
show which pair is served; the clock is the test's, so nothing sleeps."""

from __future__ import annotations

import contextlib
import os
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from regproxy.errors import ConfigError
from regproxy.server.tls import RotatingTls, load_context
from tests.support.tls import make_pair, write_pair


def served(listener: ssl.SSLContext, server_name: str | None = None) -> str:
    """One handshake through memory BIOs: the common name of the certificate served."""
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=server_name)
    server = listener.wrap_bio(s_in, s_out, server_side=True)
    done: set[int] = set()
    for _ in range(10):
        for n, side in enumerate((client, server)):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
                done.add(n)
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if done == {0, 1}:
            break
    der = client.getpeercert(binary_form=True)
    assert der is not None
    return str(x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    write_pair(cert, key, "one")
    return cert, key


def replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_a_new_pair_is_served_once_the_files_settle(pair: tuple[Path, Path]) -> None:
    cert, key = pair
    clock = Clock()
    tls = RotatingTls(cert, key, settle=0.5, clock=clock)
    assert served(tls.listener) == served(tls.listener, "regproxy.test") == "one"
    new_cert, new_key = make_pair("two")
    replace(cert, new_cert)
    assert not tls.poll()  # the certificate moved; the key has not yet
    clock.now += 0.3
    replace(key, new_key)
    assert not tls.poll()
    clock.now += 0.6
    assert tls.poll() and tls.rotations == 1
    assert served(tls.listener) == served(tls.listener, "regproxy.test") == "two"


def test_a_broken_pair_is_refused_once_and_the_old_one_stays(
    pair: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = pair
    clock = Clock()
    tls = RotatingTls(cert, key, settle=0.0, clock=clock)
    _, other_key = make_pair("other")
    replace(key, other_key)
    assert tls.poll() and tls.refused == 1 and tls.rotations == 0
    assert "config `tls.key`" in caplog.text and str(key) in caplog.text
    assert served(tls.listener) == "one"
    assert not tls.poll()  # refused once, not again at every look
    new_cert, new_key = make_pair("three")
    replace(cert, new_cert)
    replace(key, new_key)
    assert tls.poll() and served(tls.listener) == "three"


@pytest.mark.parametrize(
    ("cert_text", "key_text", "named"),
    [
        pytest.param(b"junk", None, "tls.cert", id="cert-not-pem"),
        pytest.param(None, b"junk", "tls.key", id="key-not-pem"),
        pytest.param(None, "mismatch", "tls.key", id="key-mismatch"),
    ],
)
def test_load_errors_name_the_key_and_the_file(
    pair: tuple[Path, Path], cert_text: bytes | None, key_text: bytes | str | None, named: str
) -> None:
    cert, key = pair
    if cert_text is not None:
        cert.write_bytes(cert_text)
    if key_text == "mismatch":
        key.write_bytes(make_pair("other")[1])
    elif isinstance(key_text, bytes):
        key.write_bytes(key_text)
    with pytest.raises(ConfigError) as caught:
        load_context(cert, key)
    assert caught.value.key == named
    assert str(cert if named == "tls.cert" else key) in str(caught.value)
