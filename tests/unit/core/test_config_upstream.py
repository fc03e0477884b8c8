"""The upstream's TLS and probing keys: files present, both halves of a client certificate, an
https:// upstream for TLS files, a probe interval of 0 (off) or more; each error names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from regproxy.errors import ConfigError
from regproxy.settings.files import load_config


def config_with(tmp_path: Path, **upstream: object) -> Path:
    lines = ["upstream:"] + [f"  {k}: {v}" for k, v in upstream.items()]
    path = tmp_path / "regproxy.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "file.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n")
    return path


def test_tls_files_and_the_probe_interval_are_read_relative_to_the_file(tmp_path: Path, pem: Path) -> None:
    path = config_with(
        tmp_path,
        url="https://r.example",
        ca_file=pem.name,
        client_cert=pem.name,
        client_key=pem.name,
        probe_interval=0,
    )
    upstream = load_config(path, env={}).upstream
    assert (upstream.ca_file, upstream.client_cert, upstream.client_key) == (pem, pem, pem)
    assert upstream.probe_interval == 0
    assert load_config(None, env={}).upstream.probe_interval == 300.0


@pytest.mark.parametrize(
    ("upstream", "key", "message"),
    [
        ({"url": "https://r.example", "client_cert": "file.pem"}, "upstream.client_key", "needs both"),
        ({"url": "https://r.example", "client_key": "file.pem"}, "upstream.client_cert", "needs both"),
        ({"url": "https://r.example", "ca_file": "nowhere.pem"}, "upstream.ca_file", "does not exist"),
        ({"url": "http://r.example", "ca_file": "file.pem"}, "upstream.ca_file", "https:// upstream.url only"),
        ({"probe_interval": -1}, "upstream.probe_interval", "0 (off)"),
    ],
    ids=["cert-without-key", "key-without-cert", "missing-ca", "tls-for-http", "negative-interval"],
)
def test_bad_upstream_tls_or_probe_settings_name_the_key(
    tmp_path: Path, pem: Path, upstream: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(config_with(tmp_path, **upstream), env={})
    assert raised.value.key == key and message in str(raised.value)
