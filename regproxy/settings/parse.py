"""Raw settings (the file's mapping, the environment, flags) -> :class:`~regproxy.config.Config`.

Pure: no file is read here. The key table and the ``REGPROXY_*`` names come from the
declarations in :mod:`regproxy.config`; each dialect's ``dialects.*`` keys from
:mod:`regproxy.policy.dialects.settings`. Whether the files settings name exist, and the
password file's contents, are the edge's (:mod:`regproxy.settings.files`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from regproxy.config import DIALECTS, Config, parse_hostport
from regproxy.errors import ConfigError
from regproxy.policy.dialects.settings import SettingError, config_keys, dialect_context
from regproxy.settings.declare import SECTION, SETTING, Setting, env_name

__all__ = ["KEYS", "Declared", "declared", "env_name", "parse_settings"]


@dataclass(frozen=True, slots=True)
class Declared:
    """A key of the file: its declaration, and the field path it fills in :class:`Config`."""

    setting: Setting
    path: tuple[str, ...]  # ("upstream", "url"); ("dialects",) for every dialect key
    dialect: bool = False


def declared(cls: type[Any] = Config, prefix: tuple[str, ...] = ()) -> Iterator[Declared]:
    """Every declared key, in declaration order (the README's order)."""
    for f in dataclasses.fields(cls):
        if DIALECTS in f.metadata:
            for key, s in config_keys().items():
                yield Declared(Setting(key, "any", s.help), (*prefix, f.name), dialect=True)
        elif SECTION in f.metadata:
            factory = f.default_factory
            assert factory is not dataclasses.MISSING
            yield from declared(type(factory()), (*prefix, f.name))
        elif SETTING in f.metadata:
            yield Declared(f.metadata[SETTING], (*prefix, f.name))


KEYS: dict[str, Declared] = {d.setting.key: d for d in declared()}


def parse_settings(
    raw: Mapping[str, Any],
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    *,
    base: Path | None = None,
) -> Config:
    """The settings from the file's mapping ``raw``, then ``REGPROXY_*`` in ``environ``, then
    ``overrides`` (dotted key -> value; None is not given). Relative paths from the file are
    relative to ``base`` (the file's directory). A bad value is a :class:`ConfigError` naming
    its key."""
    flat = _flatten(raw)
    for key in flat:
        if key not in KEYS:
            raise ConfigError(key, "unknown setting")
    values: dict[str, tuple[Any, str]] = {k: (v, "file") for k, v in flat.items()}
    for key in KEYS:
        name = env_name(key)
        if name in environ:
            values[key] = (environ[name], "env")
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = (value, "flag")
    base = Path() if base is None else base
    parsed = {key: _convert(KEYS[key], value, origin, base) for key, (value, origin) in values.items()}
    config: Config = _build(Config, (), parsed)
    _check_together(config)
    return _resolve_together(config)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in KEYS:
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _convert(declaration: Declared, value: Any, origin: str, base: Path) -> Any:
    s = declaration.setting
    try:
        read = _read(s.kind, value, origin, base)
        return read if s.check is None else s.check(read)
    except (ValueError, TypeError) as exc:
        where = {"env": f" (from {env_name(s.key)})", "flag": " (from the command line)"}.get(origin, "")
        raise ConfigError(s.key, f"{exc}{where}") from None


def _read(kind: str, value: Any, origin: str, base: Path) -> Any:
    if kind == "str":
        if not isinstance(value, str | int | float):
            raise ValueError("must be a string")
        return str(value)
    if kind == "int":
        if isinstance(value, bool) or not str(value).strip().lstrip("-").isdigit():
            raise ValueError(f"`{value}` is not a whole number")
        return int(value)
    if kind == "float":
        if isinstance(value, bool):
            raise ValueError("must be a number")
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"`{value}` is not a number") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("must be true or false")
    if kind == "path-or-bool":  # `true`/`false`, or a path
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "yes", "false", "no"):
            return str(value).lower() in ("true", "yes")
        kind = "path"
    if kind == "path":
        if not isinstance(value, str) or not value:
            raise ValueError("must be a path")
        p = Path(value)
        return p if p.is_absolute() or origin != "file" else base / p
    if kind == "list":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()] if origin != "file" else [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of strings")
        return tuple(value)
    if kind == "url":
        text = str(value)
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return text.rstrip("/")
    if kind == "hostport":
        return parse_hostport(str(value))
    return value


def _build(cls: type[Any], prefix: tuple[str, ...], parsed: Mapping[str, Any]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        path = (*prefix, f.name)
        if DIALECTS in f.metadata:
            kwargs[f.name] = _dialects({k: v for k, v in parsed.items() if KEYS[k].dialect})
        elif SECTION in f.metadata:
            factory = f.default_factory
            assert factory is not dataclasses.MISSING
            kwargs[f.name] = _build(type(factory()), path, parsed)
        elif SETTING in f.metadata and f.metadata[SETTING].key in parsed:
            kwargs[f.name] = parsed[f.metadata[SETTING].key]
    return cls(**kwargs)


def _dialects(values: dict[str, Any]) -> Any:
    try:
        return dialect_context(values)
    except SettingError as exc:
        raise ConfigError(exc.key, str(exc)) from None


def _resolve_together(config: Config) -> Config:
    """Settings whose value names another: ``policy_tests: true`` is the tests beside ``policies``."""
    tests: Path | bool | None = config.policy_tests
    if tests is True:
        if config.policies is None:
            raise ConfigError("policy_tests", "`true` means the tests beside `policies`: set `policies` too")
        return dataclasses.replace(config, policy_tests=config.policies)
    if tests is False:
        return dataclasses.replace(config, policy_tests=None)
    return config


def _check_together(config: Config) -> None:
    """The rules that tie settings to each other (each alone is checked by its declaration)."""
    upstream = config.upstream
    if upstream.auth != "none" and not (upstream.username and (upstream.password or upstream.password_file)):
        raise ConfigError("upstream.username", f"upstream.auth `{upstream.auth}` needs a username and a password")
    if (upstream.client_cert is None) != (upstream.client_key is None):
        missing = "upstream.client_key" if upstream.client_cert is not None else "upstream.client_cert"
        raise ConfigError(missing, "a client certificate needs both client_cert and client_key")
    for key, value in (
        ("upstream.ca_file", upstream.ca_file),
        ("upstream.client_cert", upstream.client_cert),
        ("upstream.client_key", upstream.client_key),
    ):
        if value is not None and not upstream.url.startswith("https://"):
            raise ConfigError(key, "applies to an https:// upstream.url only")
    if (config.tls.cert is None) != (config.tls.key is None):
        raise ConfigError("tls.key" if config.tls.cert is not None else "tls.cert", "tls needs both cert and key")
    if config.admin_listen == config.listen:
        raise ConfigError("admin.listen", "must differ from `listen`: admin endpoints never share the public port")
