"""Conditions a statement may carry: source address, time window, credential scope, claims.

Each is a frozen value with ``holds(context)``; dialects build them from their own syntax
(native YAML, RAM's ``IpAddress``/``DateLessThan``, OCI's ``where any {...}``), and the
principal exemptions clouds write into their deny rules (:class:`NotInGroup`, :class:`NotPrincipal`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, time

from regproxy.identity.principal import glob_matches
from regproxy.policy.model import Condition, RequestContext

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class SourceAddressIn:
    """The client's address (after trusted-proxy resolution) lies in one of ``networks``."""

    networks: tuple[Network, ...]

    def holds(self, context: RequestContext) -> bool:
        ip = context.source_ip
        return ip is not None and any(ip.version == n.version and ip in n for n in self.networks)

    def describe(self) -> str:
        return "source in " + ", ".join(str(n) for n in self.networks)


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Now lies in [not_before, not_after) and, if given, within daily hours and weekdays (UTC)."""

    not_before: datetime | None = None
    not_after: datetime | None = None
    daily_start: time | None = None
    daily_end: time | None = None
    weekdays: frozenset[int] | None = None  # 0 = Monday

    def holds(self, context: RequestContext) -> bool:
        now = context.now
        if self.not_before is not None and now < self.not_before:
            return False
        if self.not_after is not None and now >= self.not_after:
            return False
        if self.weekdays is not None and now.weekday() not in self.weekdays:
            return False
        if self.daily_start is not None and self.daily_end is not None:
            t = now.time().replace(tzinfo=None)
            if self.daily_start <= self.daily_end:
                return self.daily_start <= t < self.daily_end
            return t >= self.daily_start or t < self.daily_end  # a window across midnight
        return True

    def describe(self) -> str:
        parts = []
        if self.not_before:
            parts.append(f"from {self.not_before.isoformat()}")
        if self.not_after:
            parts.append(f"until {self.not_after.isoformat()}")
        if self.daily_start and self.daily_end:
            parts.append(f"daily {self.daily_start:%H:%M}-{self.daily_end:%H:%M} UTC")
        if self.weekdays is not None:
            parts.append("weekdays " + ",".join(str(d) for d in sorted(self.weekdays)))
        return "time " + " ".join(parts)


@dataclass(frozen=True, slots=True)
class CredentialScopeIn:
    """The credential was presented with one of these scope names (``None``: no scope)."""

    names: frozenset[str]

    def holds(self, context: RequestContext) -> bool:
        scope = context.principal.scope
        return scope is not None and scope.name in self.names

    def describe(self) -> str:
        return "credential scope in " + ", ".join(sorted(self.names))


@dataclass(frozen=True, slots=True)
class ClaimMatches:
    """A token claim (string, or list of strings) matches one of ``patterns`` (globs)."""

    claim: str
    patterns: tuple[str, ...]

    def holds(self, context: RequestContext) -> bool:
        value = context.principal.claims.get(self.claim)
        values = value if isinstance(value, list | tuple) else [value]
        return any(
            isinstance(v, str | int | bool) and glob_matches(p, str(v).lower() if isinstance(v, bool) else str(v))
            for v in values
            for p in self.patterns
        )

    def describe(self) -> str:
        return f"claim {self.claim} matches " + ", ".join(self.patterns)


@dataclass(frozen=True, slots=True)
class Not:
    inner: Condition

    def holds(self, context: RequestContext) -> bool:
        return not self.inner.holds(context)

    def describe(self) -> str:
        return f"not ({self.inner.describe()})"


@dataclass(frozen=True, slots=True)
class AnyOf:
    inner: tuple[Condition, ...]

    def holds(self, context: RequestContext) -> bool:
        return any(c.holds(context) for c in self.inner)

    def describe(self) -> str:
        return "any of (" + "; ".join(c.describe() for c in self.inner) + ")"


@dataclass(frozen=True, slots=True)
class NotInGroup:
    """The principal is not in ``group`` (OCI exempts its Administrators group from deny statements)."""

    group: str

    def holds(self, context: RequestContext) -> bool:
        return self.group not in context.principal.groups

    def describe(self) -> str:
        return f"principal not in group {self.group}"


@dataclass(frozen=True, slots=True)
class NotPrincipal:
    """The principal is none of ``ids`` (``user:root``; Alibaba's account owner is exempt from RAM denies)."""

    ids: frozenset[str]

    def holds(self, context: RequestContext) -> bool:
        return context.principal.id not in self.ids

    def describe(self) -> str:
        return "principal not " + ", ".join(sorted(self.ids))
