"""parse_settings: a mapping and an environment in, a Config out; no file is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from regproxy.config import Config, HostPort
from regproxy.errors import ConfigError
from regproxy.settings.parse import KEYS, parse_settings


def test_nothing_given_is_the_declared_defaults() -> None:
    assert parse_settings({}, {}) == Config()


def test_file_then_environment_then_flags() -> None:
    raw = {"upstream": {"url": "http://file:1"}, "workers": 2}
    config = parse_settings(raw, {"REGPROXY_WORKERS": "3"}, {"upstream.url": "http://flag:1", "listen": None})
    assert (config.upstream.url, config.workers, config.listen) == ("http://flag:1", 3, HostPort("127.0.0.1", 5000))


def test_paths_from_the_file_are_relative_to_its_directory_and_others_are_not() -> None:
    base = Path("/etc/regproxy")
    assert parse_settings({"identities": "ids.yaml"}, {}, base=base).identities == base / "ids.yaml"
    assert parse_settings({}, {"REGPROXY_IDENTITIES": "ids.yaml"}, base=base).identities == Path("ids.yaml")


def test_files_named_by_settings_are_not_touched() -> None:
    config = parse_settings({"policies": "/nonexistent", "upstream": {"password_file": "/nonexistent/pw"}}, {})
    assert config.policies == Path("/nonexistent")
    assert config.upstream.password_file == Path("/nonexistent/pw") and config.upstream.password == ""


def test_a_password_file_counts_as_a_password_for_upstream_auth() -> None:
    raw = {"upstream": {"auth": "basic", "username": "u", "password_file": "/run/secrets/pw"}}
    assert parse_settings(raw, {}).upstream.auth == "basic"


def test_lists_come_comma_separated_from_the_environment() -> None:
    config = parse_settings({}, {"REGPROXY_PUBLIC": "library/*, team-a/**", "REGPROXY_TRUSTED_PROXIES": "10.0.0.0/8"})
    assert config.public == ("library/*", "team-a/**")
    assert [str(n) for n in config.trusted_proxies] == ["10.0.0.0/8"]


def test_dialect_sections_fill_the_dialect_context() -> None:
    config = parse_settings({"dialects": {"alibaba": {"region": "cn-hangzhou", "account": 123}}}, {})
    assert (config.dialects.alibaba_region, config.dialects.alibaba_account) == ("cn-hangzhou", "123")


@pytest.mark.parametrize(
    ("raw", "environ", "key", "message"),
    [
        ({"colour": "blue"}, {}, "colour", "unknown setting"),
        ({}, {"REGPROXY_LIMITS_BURST": "lots"}, "limits.burst", "(from REGPROXY_LIMITS_BURST)"),
        ({"log_level": "loud"}, {}, "log_level", "must be debug"),
        ({"tls": {"key": "k.pem"}}, {}, "tls.cert", "both cert and key"),
        (
            {"oidc": {"issuers": [{"issuer": "https://i", "audience": "a", "colour": 1}]}},
            {},
            "oidc.issuers[0].colour",
            "",
        ),
        ({"dialects": {"oci": {"compartments": "x"}}}, {}, "dialects.oci.compartments", ""),
    ],
)
def test_a_bad_value_names_its_key(raw: dict[str, object], environ: dict[str, str], key: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, environ)
    assert info.value.key == key and message in str(info.value)


def test_every_declared_key_has_one_environment_name() -> None:
    names = [d.setting.env for d in KEYS.values()]
    # a dialect setting's two spellings share one variable; every other key has its own
    assert len(set(names)) == len({k for k in KEYS if not (k.startswith("dialects.") and k.count(".") < 2)})
