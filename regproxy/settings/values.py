"""The values settings hold beyond numbers and strings, and the checks that read them:
addresses, networks, repository patterns, key paths, OIDC issuers."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regproxy.errors import ConfigError
from regproxy.oci import grammar

__all__ = [
    "HostPort",
    "OidcIssuer",
    "networks",
    "oidc_issuers",
    "parse_hostport",
    "paths",
    "probe_interval",
    "repository_patterns",
]


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_hostport(text: str) -> HostPort:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"`{text}` must be HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"  # noqa: S104 - an explicit ":PORT" means all addresses
    return HostPort(host, int(port))


def probe_interval(value: float) -> float:
    if value < 0:
        raise ValueError("must be 0 (off) or a number of seconds")
    return value


def networks(value: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in value)


def repository_patterns(value: tuple[str, ...]) -> tuple[str, ...]:
    for pattern in value:
        literal = pattern.replace("**", "a").replace("*", "a").replace("?", "a")
        if not grammar.is_name(literal):
            raise ValueError(f"`{pattern}` is not a repository pattern")
    return value


def paths(value: tuple[str, ...]) -> tuple[Path, ...]:
    return tuple(Path(k) for k in value)


@dataclass(frozen=True, slots=True)
class OidcIssuer:
    issuer: str
    audience: str
    jwks_uri: str | None = None
    username_claim: str = "sub"
    kind: str = "service-account"
    name_prefix: str = ""
    groups_claim: str | None = None
    groups: tuple[str, ...] = ()
    required_claims: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    authorized_parties: tuple[str, ...] = ()
    allow_multiple_audiences: bool = False


OIDC_ISSUER_KEYS = frozenset(OidcIssuer.__dataclass_fields__)


def oidc_issuers(raw: Any) -> tuple[OidcIssuer, ...]:
    """``oidc.issuers``: a list of issuer mappings; an error names the item and its key."""
    if not isinstance(raw, list):
        raise ValueError("must be a list")
    out = []
    for n, item in enumerate(raw):
        key = f"oidc.issuers[{n}]"
        if not isinstance(item, dict):
            raise ConfigError(key, "must be a mapping")
        unknown = set(item) - OIDC_ISSUER_KEYS
        if unknown:
            raise ConfigError(f"{key}.{sorted(unknown)[0]}", "unknown setting")
        if not isinstance(item.get("issuer"), str) or not isinstance(item.get("audience"), str):
            raise ConfigError(key, "needs `issuer` and `audience`")
        if item.get("kind", "service-account") not in ("user", "service-account"):
            raise ConfigError(f"{key}.kind", "must be user or service-account")
        required = item.get("required_claims", {})
        if not isinstance(required, dict):
            raise ConfigError(f"{key}.required_claims", "must map claims to patterns")
        out.append(
            OidcIssuer(
                issuer=item["issuer"].rstrip("/"),
                audience=item["audience"],
                jwks_uri=item.get("jwks_uri"),
                username_claim=item.get("username_claim", "sub"),
                kind=item.get("kind", "service-account"),
                name_prefix=item.get("name_prefix", ""),
                groups_claim=item.get("groups_claim"),
                groups=tuple(item.get("groups", ())),
                required_claims={k: tuple(x if isinstance(x, list) else [x]) for k, x in required.items()},
                authorized_parties=tuple(str(p) for p in item.get("authorized_parties", ())),
                allow_multiple_audiences=item.get("allow_multiple_audiences", False) is True,
            )
        )
    return tuple(out)
