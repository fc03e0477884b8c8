"""The Principal: who is asking, and the bounds of the credential they presented.

Every authenticator turns a credential into one :class:`Principal`. Policies match principals
by kind, name and groups; conditions may test ``claims``; ``scope`` is the credential's own
upper bound (an access credential's ``containerRegistry:pull``, a token's ``access`` claim, a
short-lived credential's session policy). A scope only ever narrows what policy allows.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from regproxy.oci.actions import Action


@dataclass(frozen=True, slots=True)
class ScopeGrant:
    """Actions allowed on repositories matching ``repository`` (a glob, ``**`` across ``/``)."""

    repository: str
    actions: frozenset[Action]
    _matches: Callable[[str], bool] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_matches", compile_repository_glob(self.repository))

    def permits(self, action: Action, repository: str) -> bool:
        return action in self.actions and self._matches(repository)


@dataclass(frozen=True, slots=True)
class CredentialScope:
    """An upper bound on what a credential may do: the union of its grants.

    ``name`` is the word the credential was issued with (``containerRegistry:pull``,
    ``pull``, a token's scope string); conditions on credential scope test it.
    """

    name: str
    grants: tuple[ScopeGrant, ...]

    def permits(self, action: Action, repository: str) -> bool:
        return any(g.permits(action, repository) for g in self.grants)

    def permits_in(self, action: Action, repository: str, context: Any) -> bool:
        """:meth:`permits`, for a scope whose bound may depend on the request (its address,
        its time): ``context`` is the policy's ``RequestContext``, or None when unknown."""
        return self.permits(action, repository)

    def narrowed(self, other: CredentialScope | None) -> CredentialScope:
        """The intersection of two scopes, kept as 'both must permit'."""
        if other is None:
            return self
        return IntersectedScope(f"{self.name}&{other.name}", (), (self, other))


@dataclass(frozen=True, slots=True)
class IntersectedScope(CredentialScope):
    parts: tuple[CredentialScope, ...] = ()

    def permits(self, action: Action, repository: str) -> bool:
        return all(p.permits(action, repository) for p in self.parts)

    def permits_in(self, action: Action, repository: str, context: Any) -> bool:
        return all(p.permits_in(action, repository, context) for p in self.parts)


@dataclass(frozen=True, slots=True)
class NoRegistryScope(CredentialScope):
    """A credential that authenticates but carries no registry scope: it permits nothing.

    ``reason`` says why, in words an audit line can carry (``registry_scope_missing``).
    """

    reason: str = "registry_scope_missing"

    def permits(self, action: Action, repository: str) -> bool:
        return False


def scope_reason(scope: CredentialScope | None) -> str | None:
    """Why ``scope`` (or a scope it was intersected with) permits nothing, if it says."""
    if isinstance(scope, NoRegistryScope):
        return scope.reason
    if isinstance(scope, IntersectedScope):
        return next((r for r in map(scope_reason, scope.parts) if r is not None), None)
    return None


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """How a principal authenticated by one of regproxy's access tokens is bounded.

    ``access`` is the token's own ``access`` claim; ``credential`` the scope of the credential
    the token was exchanged for (None: none), which bounds any fresh token too. The principal's
    ``scope`` is their intersection. A request the ``access`` refuses but ``credential`` and
    policy allow is answered 401 ``insufficient_scope``: a new token would help.
    """

    access: CredentialScope
    credential: CredentialScope | None

    def grants_catalog(self) -> bool:
        return any(Action.CATALOG in g.actions for g in self.access.grants)


@dataclass(frozen=True, slots=True)
class Principal:
    id: str  # stable: "user:alice", "service-account:ci", "anonymous"
    kind: PrincipalKind
    name: str
    groups: frozenset[str] = frozenset()
    projects: frozenset[str] = frozenset()
    credential_id: str | None = None
    scope: CredentialScope | None = None
    expires_at: float | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    token: TokenGrant | None = None  # set when a regproxy access token authenticated the request

    @property
    def authenticated(self) -> bool:
        return self.kind is not PrincipalKind.ANONYMOUS

    def scope_permits(self, action: Action, repository: str, context: Any = None) -> bool:
        """Whether the credential's own bound permits this (``context``: the request's
        ``RequestContext``, which a short-lived credential's session policy may test)."""
        return self.scope is None or self.scope.permits_in(action, repository, context)

    @property
    def scope_reason(self) -> str | None:
        """Why the credential permits nothing at the registry (``registry_scope_missing``), or
        None. The edge puts it in the audit event of a ``scope-deny``."""
        return scope_reason(self.scope)


class PrincipalKind(StrEnum):
    """Who a principal is: a person, a machine, or nobody authenticated."""

    USER = "user"
    SERVICE_ACCOUNT = "service-account"
    ANONYMOUS = "anonymous"


ANONYMOUS = Principal(id="anonymous", kind=PrincipalKind.ANONYMOUS, name="anonymous")


def make_principal(
    kind: PrincipalKind,
    name: str,
    *,
    groups: Iterable[str] = (),
    projects: Iterable[str] = (),
    credential_id: str | None = None,
    scope: CredentialScope | None = None,
    expires_at: float | None = None,
    claims: Mapping[str, Any] | None = None,
) -> Principal:
    return Principal(
        id=f"{kind.value}:{name}",
        kind=kind,
        name=name,
        groups=frozenset(groups),
        projects=frozenset(projects),
        credential_id=credential_id,
        scope=scope,
        expires_at=expires_at,
        claims=MappingProxyType(dict(claims or {})),
    )


@functools.lru_cache(maxsize=65536)
def compile_repository_glob(pattern: str) -> Callable[[str], bool]:
    """A matcher for a repository glob: ``*`` within one path segment, ``**`` across segments,
    ``?`` one character. The common shapes (literal, ``**``, ``prefix/**``, ``prefix/*``) get
    string tests instead of a regex, and identical patterns share one matcher."""
    if not any(c in pattern for c in "*?"):
        return pattern.__eq__
    if pattern == "**":
        return _always
    head, sep, tail = pattern.rpartition("/")
    if sep and not any(c in head for c in "*?"):
        prefix = head + "/"
        if tail == "**":
            return lambda name: name.startswith(prefix) and len(name) > len(prefix)
        if tail == "*":
            return lambda name: name.startswith(prefix) and "/" not in name[len(prefix) :]
    regex = re.compile(_glob_regex(pattern))
    return lambda name: regex.fullmatch(name) is not None


def _always(name: str) -> bool:
    return True


def _glob_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def glob_matches(pattern: str, value: str) -> bool:
    """Plain glob for tags and claim values (no path semantics)."""
    return fnmatch.fnmatchcase(value, pattern)
