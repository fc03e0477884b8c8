"""Settings: file, environment and flags in that order of precedence; bad values name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from regproxy.config import HostPort
from regproxy.errors import ConfigError
from regproxy.settings.files import load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "regproxy.yaml"
    path.write_text(text)
    return path


def test_defaults_listen_on_loopback_with_a_separate_admin_port() -> None:
    config = load_config(None, env={})
    assert config.listen == HostPort("127.0.0.1", 5000)
    assert config.admin_listen == HostPort("127.0.0.1", 9100)
    assert config.tls.cert is None
    assert config.public_url == "http://127.0.0.1:5000"


def test_environment_beats_file_and_flags_beat_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "upstream:\n  url: http://file:5000\nworkers: 1\n")
    config = load_config(path, env={"REGPROXY_UPSTREAM_URL": "http://env:5000", "REGPROXY_WORKERS": "3"})
    assert config.upstream.url == "http://env:5000" and config.workers == 3
    config = load_config(
        path, env={"REGPROXY_UPSTREAM_URL": "http://env:5000"}, overrides={"upstream.url": "http://flag:1"}
    )
    assert config.upstream.url == "http://flag:1"


def test_relative_paths_are_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    config = load_config(write(tmp_path, "policies: policies\n"), env={})
    assert config.policies == tmp_path / "policies"


def test_upstream_password_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    config = load_config(
        write(tmp_path, "upstream:\n  url: http://r:5000\n  auth: basic\n  username: u\n  password_file: pw\n"), env={}
    )
    assert config.upstream.password == "s3cret"
    assert "s3cret" not in repr(config.upstream)


@pytest.mark.parametrize(
    ("text", "env", "key"),
    [
        pytest.param("listen: nowhere\n", {}, "listen", id="listen-not-host-port"),
        pytest.param("upstream:\n  url: ftp://x\n", {}, "upstream.url", id="upstream-not-http"),
        pytest.param("upstream:\n  auth: kerberos\n", {}, "upstream.auth", id="unknown-upstream-auth"),
        pytest.param("upstream:\n  auth: basic\n", {}, "upstream.username", id="basic-without-credentials"),
        pytest.param("workers: 0\n", {}, "workers", id="zero-workers"),
        pytest.param("", {"REGPROXY_WORKERS": "many"}, "workers", id="env-not-a-number"),
        pytest.param("tls:\n  cert: /nonexistent.pem\n", {}, "tls.key", id="cert-without-key"),
        pytest.param("policies: /nonexistent-dir\n", {}, "policies", id="missing-policies-dir"),
        pytest.param("colour: blue\n", {}, "colour", id="unknown-key"),
        pytest.param("admin:\n  listen: 127.0.0.1:5000\n", {}, "admin.listen", id="admin-on-public-port"),
        pytest.param("public: ['Bad/Name']\n", {}, "public", id="bad-public-pattern"),
        pytest.param("trusted_proxies: [not-a-cidr]\n", {}, "trusted_proxies", id="bad-cidr"),
        pytest.param("log_format: xml\n", {}, "log_format", id="bad-log-format"),
        pytest.param("limits:\n  header_timeout: 0\n", {}, "limits.header_timeout", id="zero-timeout"),
        pytest.param("oidc:\n  issuers: [{issuer: x}]\n", {}, "oidc.issuers[0]", id="oidc-without-audience"),
        pytest.param("listen: [\n", {}, "--config", id="yaml-syntax"),
        pytest.param("reload:\n  settle: -1\n", {}, "reload.settle", id="negative-settle"),
    ],
)
def test_a_bad_setting_is_an_error_naming_its_key(tmp_path: Path, text: str, env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=env)
    assert info.value.key == key
    assert str(info.value).startswith(f"config `{key}`")


def test_reload_settle_defaults_to_half_a_second_and_is_set_by_file_or_environment(tmp_path: Path) -> None:
    assert load_config(None, env={}).reload_settle == 0.5
    assert load_config(write(tmp_path, "reload:\n  settle: 2\n"), env={}).reload_settle == 2.0
    assert load_config(None, env={"REGPROXY_RELOAD_SETTLE": "0"}).reload_settle == 0.0


def test_policy_tests_true_means_beside_the_policies_and_a_path_is_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "checks").mkdir()
    (tmp_path / "candidate").mkdir()
    config_file = tmp_path / "regproxy.yaml"
    config_file.write_text("policies: policies\npolicy_tests: true\nshadow_policies: candidate\n")
    config = load_config(config_file, env={})
    assert (config.policy_tests, config.shadow_policies) == (tmp_path / "policies", tmp_path / "candidate")
    config_file.write_text("policies: policies\npolicy_tests: checks\n")
    assert load_config(config_file, env={}).policy_tests == tmp_path / "checks"
    assert load_config(config_file, env={"REGPROXY_POLICY_TESTS": "false"}).policy_tests is None
    assert load_config(None, env={}).policy_tests is None


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("policy_tests: true\n", "policy_tests"),
        ("policy_tests: missing\n", "policy_tests"),
        ("shadow_policies: missing\n", "shadow_policies"),
    ],
    ids=["true-without-policies", "missing-tests", "missing-shadow"],
)
def test_policy_code_settings_that_point_nowhere_are_errors(tmp_path: Path, text: str, key: str) -> None:
    config_file = tmp_path / "regproxy.yaml"
    config_file.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(config_file, env={})
    assert raised.value.key == key
