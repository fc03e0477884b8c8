"""The connection's words and TLS context: unusable PEM files name their key; each way a
connection fails reads as what it is (a certificate that does not verify, a refused handshake,
a timeout) and the operator's reason is read back from a 503's cause."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from regproxy.config import UpstreamConfig
from regproxy.errors import ConfigError, UpstreamUnavailable
from regproxy.proxy.connection import build_ssl_context, describe_connection_error, operator_reason

KEY = ConnectionKey("registry.example", 443, True, True, None, None, None)


def test_tls_files_that_are_not_pem_are_a_config_error_naming_the_key(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"upstream\.ca_file"):
        build_ssl_context(UpstreamConfig(url="https://r.example", ca_file=junk))
    with pytest.raises(ConfigError, match=r"upstream\.client_cert"):
        build_ssl_context(UpstreamConfig(url="https://r.example", client_cert=junk, client_key=junk))
    assert build_ssl_context(UpstreamConfig(url="https://r.example")) is None


def test_a_private_ca_and_a_client_certificate_make_one_context(tmp_path: Path) -> None:
    from tests.support.pki import Authority  # noqa: PLC0415 - the test CA, made here only

    authority = Authority(tmp_path)
    client = authority.issue("client", server=False)
    config = UpstreamConfig(
        url="https://r.example", ca_file=authority.cert, client_cert=client.cert, client_key=client.key
    )
    context = build_ssl_context(config)
    assert context is not None and context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2


def unverified(message: str) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    error.verify_message = message
    return error


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (
            aiohttp.ClientConnectorCertificateError(KEY, unverified("unable to get local issuer certificate")),
            "the registry's TLS certificate does not verify: unable to get local issuer certificate "
            "(signed by a private CA? set upstream.ca_file)",
        ),
        (
            aiohttp.ClientConnectorCertificateError(KEY, unverified("IP address mismatch")),
            "the registry's TLS certificate does not verify: IP address mismatch",
        ),
        (
            aiohttp.ClientConnectorSSLError(KEY, ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED]")),
            "the TLS handshake with the registry failed",
        ),
        (TimeoutError(), "the registry did not answer in time"),
        (aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(111, "Connection refused")), "cannot be reached"),
    ],
    ids=["unknown-ca", "wrong-name", "handshake", "timeout", "refused"],
)
def test_each_failure_reads_as_what_it_is(error: BaseException, words: str) -> None:
    assert words in describe_connection_error(error)


def test_a_refused_handshake_for_want_of_a_client_certificate_says_so() -> None:
    alert = ssl.SSLError(1, "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate")
    alert.reason = "SSLV3_ALERT_BAD_CERTIFICATE"
    wrapped = aiohttp.ClientOSError(1, "broken")
    wrapped.__cause__ = alert
    assert describe_connection_error(wrapped) == (
        "the registry refused the TLS handshake (sslv3 alert bad certificate): it wants a client certificate "
        "it trusts (upstream.client_cert, upstream.client_key)"
    )


def test_the_operators_reason_comes_from_the_cause_and_clients_get_less() -> None:
    try:
        try:
            raise aiohttp.ClientConnectorCertificateError(KEY, unverified("certificate has expired"))
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable("the registry behind regproxy cannot be reached") from exc
    except UpstreamUnavailable as unavailable:
        assert unavailable.message == "the registry behind regproxy cannot be reached"
        assert operator_reason(unavailable) == "the registry's TLS certificate does not verify: certificate has expired"
    assert operator_reason(UpstreamUnavailable("the registry's token service gave no token")) == (
        "the registry's token service gave no token"
    )
