"""How a setting is declared: a dataclass field whose metadata says its key, kind and meaning.

The key table, the ``REGPROXY_*`` environment names, validation and the README's configuration
table are all derived from these declarations (:mod:`regproxy.settings.parse`,
:mod:`regproxy.settings.docs`); nothing else lists the settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "KINDS",
    "Setting",
    "at_least",
    "non_negative",
    "one_of",
    "positive",
    "section",
    "setting",
]

SETTING = "regproxy.setting"
SECTION = "regproxy.section"
# How a raw value (YAML, or the text of an environment variable or a flag) is read.
KINDS = frozenset({"str", "int", "float", "bool", "path", "path-or-bool", "list", "url", "hostport", "any"})

Check = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Setting:
    """One key of the configuration file."""

    key: str  # dotted path in the file: `upstream.url`
    kind: str  # one of KINDS: how the raw value is read
    doc: str  # one line for the README's configuration table
    check: Check | None = None  # value -> value (converted), ValueError naming what is wrong
    shown: str | None = None  # the default as the README shows it, when not the field's own

    @property
    def env(self) -> str:
        return env_name(self.key)


def env_name(key: str) -> str:
    """``upstream.url`` -> ``REGPROXY_UPSTREAM_URL``."""
    return "REGPROXY_" + key.replace(".", "_").upper()


def setting(
    key: str,
    default: Any,
    kind: str,
    doc: str,
    *,
    check: Check | None = None,
    shown: str | None = None,
    secret: bool = False,
) -> Any:
    """A dataclass field declaring the setting ``key`` (its default is the field's)."""
    if kind not in KINDS:
        raise ValueError(f"unknown setting kind `{kind}`")
    meta = {SETTING: Setting(key, kind, doc, check, shown)}
    return dataclasses.field(default=default, metadata=meta, repr=not secret)


def section(factory: Callable[[], Any], metadata: dict[str, Any] | None = None) -> Any:
    """A dataclass field holding a nested settings dataclass (its fields declare their keys)."""
    return dataclasses.field(default_factory=factory, metadata={SECTION: True, **(metadata or {})})


def at_least(low: int) -> Check:
    def check(value: Any) -> Any:
        if value < low:
            raise ValueError(f"must be at least {low}")
        return value

    return check


def positive(value: Any) -> Any:
    if value <= 0:
        raise ValueError("must be positive")
    return value


def non_negative(value: Any) -> Any:
    if value < 0:
        raise ValueError("must not be negative")
    return value


def one_of(choices: Iterable[str], message: str, *, fold_case: bool = False) -> Check:
    allowed = frozenset(choices)

    def check(value: Any) -> Any:
        value = value.lower() if fold_case else value
        if value not in allowed:
            raise ValueError(message)
        return value

    return check
