"""Setting values beyond numbers and strings: addresses, networks, patterns, OIDC issuers."""

from __future__ import annotations

from pathlib import Path

import pytest

from regproxy.errors import ConfigError
from regproxy.settings.values import (
    HostPort,
    networks,
    oidc_issuers,
    parse_hostport,
    paths,
    probe_interval,
    repository_patterns,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("127.0.0.1:5000", HostPort("127.0.0.1", 5000)),
        (":80", HostPort("0.0.0.0", 80)),
        ("[::1]:9", HostPort("::1", 9)),
    ],
)
def test_host_and_port(text: str, value: HostPort) -> None:
    assert parse_hostport(text) == value


def test_ipv6_hosts_print_in_brackets() -> None:
    assert str(HostPort("::1", 9)) == "[::1]:9" and str(HostPort("a", 1)) == "a:1"


@pytest.mark.parametrize("text", ["nowhere", "host:", "host:99999", "host:x"])
def test_not_a_host_and_port(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_hostport(text)


def test_checks() -> None:
    assert [str(n) for n in networks(("10.0.0.1/8", "::1"))] == ["10.0.0.0/8", "::1/128"]
    assert repository_patterns(("library/*", "team/**")) == ("library/*", "team/**")
    with pytest.raises(ValueError, match="not a repository pattern"):
        repository_patterns(("Bad/Name",))
    assert paths(("a.pem",)) == (Path("a.pem"),)
    assert probe_interval(0) == 0
    with pytest.raises(ValueError, match="0 \\(off\\)"):
        probe_interval(-1)


def test_oidc_issuers_read_and_errors_name_the_item() -> None:
    (issuer,) = oidc_issuers(
        [{"issuer": "https://idp.example/", "audience": "regproxy", "required_claims": {"ref": "refs/heads/*"}}]
    )
    assert (issuer.issuer, issuer.kind, issuer.required_claims) == (
        "https://idp.example",
        "service-account",
        {"ref": ("refs/heads/*",)},
    )
    for raw, key in (
        ([{"issuer": "x"}], "oidc.issuers[0]"),
        ([{"issuer": "x", "audience": "a", "kind": "robot"}], "oidc.issuers[0].kind"),
        ([{"issuer": "x", "audience": "a", "colour": 1}], "oidc.issuers[0].colour"),
        (["x"], "oidc.issuers[0]"),
    ):
        with pytest.raises(ConfigError) as info:
            oidc_issuers(raw)
        assert info.value.key == key
    with pytest.raises(ValueError, match="must be a list"):
        oidc_issuers({})
