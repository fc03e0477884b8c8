"""The edge of the settings: read the config file, then the files its settings name.

:func:`load_config` is what ``regproxy serve`` and the other commands call; everything between
reading and checking is :func:`regproxy.settings.parse.parse_settings` (pure).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from regproxy.config import Config
from regproxy.errors import ConfigError
from regproxy.settings.parse import parse_settings

__all__ = ["check_files", "load_config", "read_config_file"]


def load_config(
    path: Path | None, env: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """Read the file (if any), apply ``REGPROXY_*`` variables, then flag overrides; then check
    the files the settings name and read the upstream's password file."""
    raw: Mapping[str, Any] = {}
    base = None
    if path is not None:
        raw = read_config_file(path)
        base = path.resolve().parent
    config = parse_settings(raw, os.environ if env is None else env, overrides, base=base)
    return check_files(config)


def read_config_file(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError("--config", f"cannot read `{path}`: {exc.strerror}") from None
    try:
        loaded = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError("--config", f"`{path}` is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError("--config", f"`{path}` must be a mapping")
    return loaded


def check_files(config: Config) -> Config:
    """``config`` with the upstream password read from ``upstream.password_file``; a named file
    that is missing is a :class:`ConfigError` naming its key."""
    upstream = config.upstream
    if upstream.password_file is not None:
        try:
            password = upstream.password_file.read_text().strip()
        except OSError as exc:
            raise ConfigError("upstream.password_file", f"cannot read: {exc.strerror}") from None
        if upstream.auth != "none" and not password:
            raise ConfigError("upstream.username", f"upstream.auth `{upstream.auth}` needs a username and a password")
        upstream = dataclasses.replace(upstream, password=password)
        config = dataclasses.replace(config, upstream=upstream)
    for key, file in (
        ("upstream.ca_file", upstream.ca_file),
        ("upstream.client_cert", upstream.client_cert),
        ("upstream.client_key", upstream.client_key),
    ):
        if file is not None and not file.is_file():
            raise ConfigError(key, f"`{file}` does not exist")
    for key, path in (
        ("tls.cert", config.tls.cert),
        ("tls.key", config.tls.key),
        ("identities", config.identities),
        ("tokens.signing_key", config.tokens.signing_key),
    ):
        if path is not None and not path.exists():
            raise ConfigError(key, f"`{path}` does not exist")
    for key, directory in (("policies", config.policies), ("shadow_policies", config.shadow_policies)):
        if directory is not None and not directory.is_dir():
            raise ConfigError(key, f"`{directory}` is not a directory")
    if config.policy_tests is not None and not config.policy_tests.exists():
        raise ConfigError("policy_tests", f"`{config.policy_tests}` does not exist")
    return config
