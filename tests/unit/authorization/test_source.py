"""The client address behind trusted proxies."""

from __future__ import annotations

import ipaddress

import pytest

from regproxy.authorization import client_address

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        pytest.param("192.0.2.1", "10.9.9.9", "192.0.2.1", id="untrusted-peer-ignores-xff"),
        pytest.param("10.0.0.1", "198.51.100.7", "198.51.100.7", id="trusted-peer-honours-xff"),
        pytest.param("10.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2", "198.51.100.7", id="rightmost-untrusted-hop"),
        pytest.param("10.0.0.1", "not-an-ip", "10.0.0.1", id="malformed-chain"),
        pytest.param("10.0.0.1", None, "10.0.0.1", id="no-header"),
    ],
)
def test_client_address(peer: str, xff: str | None, expected: str) -> None:
    assert str(client_address(peer, xff, TRUSTED)) == expected
