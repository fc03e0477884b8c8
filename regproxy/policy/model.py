"""The one policy model every dialect compiles into.

A :class:`Statement` says: for these principals, these actions on these resources are allowed
(or denied), when all its conditions hold. Decision rule, everywhere: any matching explicit
deny → deny; else any matching allow → allow; else deny. The credential's scope then narrows an
allow (an intersection, never a union). A :class:`Decision` is a value naming the statements
that made it and the policy generation it came from.

Resources are repository globs (``*`` within one path segment, ``**`` across segments) with an
optional tag glob. An allow is never wider than written: an allow whose resource has a tag
pattern matches only requests that name a matching tag (manifest by tag, tag push, tag delete).
A deny is never narrower than written: a request that names no tag (a blob, a manifest by
digest) may fetch a denied tag's content, which cannot be told without following the tag, so a
deny with a tag pattern also refuses the tagless requests of its repositories. :data:`ANY_TAG`
asks whether *some* tag of the repository could be allowed (token grants, listings): allows with
a tag pattern match it, denies with a tag pattern do not (they refuse only their own tags).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple, Protocol

from regproxy.errors import SourceLocation
from regproxy.identity.principal import Principal, PrincipalKind, compile_repository_glob, glob_matches
from regproxy.oci.actions import Action

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Not a valid tag (the grammar has no `*`), so no request can name it: "some tag of the repository".
ANY_TAG = "*"


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"


class PrincipalSelector(StrEnum):
    USER = "user"
    GROUP = "group"
    SERVICE_ACCOUNT = "service-account"
    ANONYMOUS = "anonymous"  # only the anonymous principal
    AUTHENTICATED = "authenticated"  # any principal that is not anonymous
    EVERYONE = "everyone"  # anyone at all, anonymous included


class PrincipalRef(NamedTuple):
    """One principal selector: ``user:alice``, ``group:devs``, ``service-account:ci``, ...

    A named tuple, so that hashing and comparing it (index look-ups) run at C speed.
    """

    selector: PrincipalSelector
    name: str = ""

    def __str__(self) -> str:
        return f"{self.selector.value}:{self.name}" if self.name else self.selector.value

    @classmethod
    def parse(cls, text: str) -> PrincipalRef:
        """``user:NAME``, ``group:NAME``, ``service-account:NAME``, ``anonymous``,
        ``authenticated``, ``everyone`` (or ``*``)."""
        word, sep, name = text.partition(":")
        if text == "*":
            return cls(PrincipalSelector.EVERYONE)
        try:
            selector = PrincipalSelector(word)
        except ValueError:
            raise ValueError(f"unknown principal `{text}`") from None
        named = selector in (PrincipalSelector.USER, PrincipalSelector.GROUP, PrincipalSelector.SERVICE_ACCOUNT)
        if named and not (sep and name):
            raise ValueError(f"principal `{text}` needs a name (`{word}:NAME`)")
        if not named and sep:
            raise ValueError(f"principal `{word}` takes no name")
        return cls(selector, name)


def principal_keys(principal: Principal) -> tuple[PrincipalRef, ...]:
    """Every selector that matches ``principal``: the index keys a lookup tries."""
    keys = [PrincipalRef(PrincipalSelector.EVERYONE)]
    if principal.kind is PrincipalKind.ANONYMOUS:
        keys.append(PrincipalRef(PrincipalSelector.ANONYMOUS))
        return tuple(keys)
    keys.append(PrincipalRef(PrincipalSelector.AUTHENTICATED))
    if principal.kind is PrincipalKind.USER:
        keys.append(PrincipalRef(PrincipalSelector.USER, principal.name))
    else:
        keys.append(PrincipalRef(PrincipalSelector.SERVICE_ACCOUNT, principal.name))
    keys.extend(PrincipalRef(PrincipalSelector.GROUP, g) for g in sorted(principal.groups))
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class ResourcePattern:
    """A repository glob and an optional tag glob, compiled once."""

    repository: str
    tag: str | None = None
    _matches: Callable[[str], bool] = field(init=False, repr=False, compare=False, hash=False)
    # The first path segment when it has no wildcard: the index key (None: any namespace).
    literal_namespace: str | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_matches", compile_repository_glob(self.repository))
        first = self.repository.partition("/")[0]
        object.__setattr__(self, "literal_namespace", None if ("*" in first or "?" in first) else first)

    def __str__(self) -> str:
        return self.repository if self.tag is None else f"{self.repository}:{self.tag}"

    def matches(self, repository: str, tag: str | None) -> bool:
        if not self._matches(repository):
            return False
        if self.tag is None:
            return True
        if tag is None:
            return False  # never wider than written: a tag grant is not a repository grant
        return tag == ANY_TAG or glob_matches(self.tag, tag)

    def matches_repository(self, repository: str) -> bool:
        return self._matches(repository)


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Everything a condition may test besides the resource."""

    principal: Principal
    source_ip: IpAddress | None
    now: datetime  # timezone-aware, UTC


class Condition(Protocol):
    """A test on the request context; pure and cheap."""

    def holds(self, context: RequestContext) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Statement:
    id: str  # unique within a policy set, e.g. "team-a.yaml#pull-team-a"
    effect: Effect
    principals: tuple[PrincipalRef, ...]
    actions: frozenset[Action]
    resources: tuple[ResourcePattern, ...]
    conditions: tuple[Condition, ...] = ()
    location: SourceLocation = field(default_factory=lambda: SourceLocation("<builtin>"))
    dialect: str = "native"
    shadow: bool = False  # evaluated and reported, never enforced

    def matches(self, action: Action, repository: str, tag: str | None) -> bool:
        if action not in self.actions:
            return False
        if self.effect is Effect.DENY:
            if tag == ANY_TAG:  # "could some tag be allowed?": a tag deny refuses its own tags only
                return any(r.tag is None and r.matches(repository, None) for r in self.resources)
            if tag is None:  # a blob or a manifest by digest may be a denied tag's content
                return any(r.matches_repository(repository) for r in self.resources)
        return any(r.matches(repository, tag) for r in self.resources)

    @property
    def tag_qualified(self) -> tuple[ResourcePattern, ...]:
        """The resources that carry a tag pattern (they grant only requests naming a tag)."""
        return tuple(r for r in self.resources if r.tag is not None)

    def conditions_hold(self, context: RequestContext) -> bool:
        return all(c.holds(context) for c in self.conditions)


class Outcome(StrEnum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicit-deny"
    DEFAULT_DENY = "default-deny"
    SCOPE_DENY = "scope-deny"  # policy allows; the credential's scope does not
    INSUFFICIENT_SCOPE = "insufficient-scope"  # policy and credential allow; the bearer token's access does not


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    outcome: Outcome
    statements: tuple[str, ...]  # the ids that made the decision (none for a default deny)
    generation: int

    @property
    def allowed(self) -> bool:
        return self.effect is Effect.ALLOW


@dataclass(frozen=True, slots=True)
class PolicySet:
    """A validated set of statements from one load of the policies directory."""

    statements: tuple[Statement, ...]
    generation: int
    content_hash: str
    files: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # "FILE:LINE: message": accepted, but likely not meant

    def statement(self, statement_id: str) -> Statement | None:
        for s in self.statements:
            if s.id == statement_id:
                return s
        return None
