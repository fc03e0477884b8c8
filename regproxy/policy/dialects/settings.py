"""The config's ``dialects`` section: each dialect owns its own sub-section.

    dialects:
      thalassa: {projects: {A: [team-a, "team-a-*"]}}
      oci:      {compartments: {acme-compartment: [acme]}, administrators_group: Administrators}
      alibaba:  {region: cn-hangzhou, account: "1234567890123456", account_owners: [user:root]}

Each dialect module declares its keys (``SETTINGS``); this module turns the values into one
:class:`DialectContext` (pure: the config layer reads the file). The flat spellings older configs
use (``dialects.thalassa_projects``, ``dialects.alibaba_region``, …) are still read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from regproxy.policy.dialects import DialectContext, Setting, alibaba, oci, thalassa
from regproxy.policy.model import PrincipalRef, PrincipalSelector

SECTIONS: dict[str, tuple[Setting, ...]] = {
    "thalassa": thalassa.SETTINGS,
    "oci": oci.SETTINGS,
    "alibaba": alibaba.SETTINGS,
}


def config_keys() -> dict[str, Setting]:
    """Every accepted dotted key (``dialects.thalassa.projects`` and its legacy spelling)."""
    out: dict[str, Setting] = {}
    for dialect, settings in SECTIONS.items():
        for setting in settings:
            out[f"dialects.{dialect}.{setting.key}"] = setting
            if setting.legacy:
                out[f"dialects.{setting.legacy}"] = setting
    return out


class SettingError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def dialect_context(values: Mapping[str, Any]) -> DialectContext:
    """``values``: dotted key -> raw value, for keys of :func:`config_keys` only.

    Raises :class:`SettingError` naming the key for a value of the wrong shape, or for a
    setting given under both its spellings.
    """
    keys = config_keys()
    fields: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, raw in values.items():
        setting = keys[key]
        value = _convert(key, setting, raw)
        if setting.field in given and fields[setting.field] != value:
            # (both spellings share one environment variable, so equal values are one setting)
            raise SettingError(key, f"also given as `{given[setting.field]}`, differently; keep one")
        given[setting.field] = key
        fields[setting.field] = value
    return DialectContext(**fields)


def _convert(key: str, setting: Setting, raw: Any) -> Any:
    if setting.kind == "str":
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            raise SettingError(key, "must be a string")
        return str(raw)
    if setting.kind == "globs-map":
        if not isinstance(raw, dict) or not all(
            isinstance(k, str) and isinstance(x, list) and all(isinstance(i, str) for i in x) for k, x in raw.items()
        ):
            raise SettingError(key, "must map names to lists of namespace patterns")
        return {k: tuple(x) for k, x in raw.items()}
    if setting.kind == "principals":
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise SettingError(key, "must be a list of `user:NAME` / `service-account:NAME`")
        for text in items:
            try:
                ref = PrincipalRef.parse(text)
            except ValueError as exc:
                raise SettingError(key, str(exc)) from None
            if ref.selector not in (PrincipalSelector.USER, PrincipalSelector.SERVICE_ACCOUNT):
                raise SettingError(key, f"`{text}` is not `user:NAME` or `service-account:NAME`")
        return tuple(items)
    raise AssertionError(setting.kind)
