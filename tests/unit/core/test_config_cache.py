"""The manifest cache's settings: off by default, sizes and ages checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from regproxy.errors import ConfigError
from regproxy.settings.files import load_config


def test_the_manifest_cache_is_off_by_default() -> None:
    config = load_config(None, env={})
    assert config.cache.manifests_size_mib == 0
    assert config.cache.manifests_ttl == 60.0


def test_size_and_ttl_are_read_from_the_file_and_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "regproxy.yaml"
    path.write_text("cache:\n  manifests:\n    size_mib: 32\n    ttl: 15\n")
    assert load_config(path, env={}).cache.manifests_size_mib == 32
    assert load_config(path, env={}).cache.manifests_ttl == 15.0
    assert load_config(path, env={"REGPROXY_CACHE_MANIFESTS_SIZE_MIB": "8"}).cache.manifests_size_mib == 8


@pytest.mark.parametrize(
    ("key", "value"),
    [("cache.manifests.size_mib", "-1"), ("cache.manifests.ttl", "0"), ("cache.manifests.ttl", "-5")],
)
def test_bad_values_name_the_key(key: str, value: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, env={}, overrides={key: value})
    assert key in str(info.value)
