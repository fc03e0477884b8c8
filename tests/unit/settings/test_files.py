"""The settings' edge: the config file, the password file, and the files settings name."""

from __future__ import annotations

from pathlib import Path

import pytest

from regproxy.errors import ConfigError
from regproxy.settings.files import check_files, load_config, read_config_file
from regproxy.settings.parse import parse_settings


def test_an_unreadable_or_non_mapping_file_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        read_config_file(tmp_path / "missing.yaml")
    assert info.value.key == "--config"
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        read_config_file(tmp_path / "list.yaml")


def test_an_empty_file_is_the_defaults(tmp_path: Path) -> None:
    (tmp_path / "empty.yaml").write_text("")
    assert load_config(tmp_path / "empty.yaml", env={}) == load_config(None, env={})


def test_the_password_file_is_read_and_an_empty_one_is_no_password(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("")
    config = parse_settings({"upstream": {"auth": "basic", "username": "u", "password_file": str(tmp_path / "pw")}}, {})
    with pytest.raises(ConfigError) as info:
        check_files(config)
    assert info.value.key == "upstream.username"


def test_a_missing_file_a_setting_names_is_an_error_naming_the_key(tmp_path: Path) -> None:
    for raw, key in (
        ({"identities": str(tmp_path / "none.yaml")}, "identities"),
        ({"tokens": {"signing_key": str(tmp_path / "none.pem")}}, "tokens.signing_key"),
        ({"upstream": {"password_file": str(tmp_path / "none")}}, "upstream.password_file"),
    ):
        with pytest.raises(ConfigError) as info:
            check_files(parse_settings(raw, {}))
        assert info.value.key == key
