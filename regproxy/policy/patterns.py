"""Resource patterns beyond a plain glob, shared by every dialect and indexed like the rest.

The evaluator indexes a statement by each pattern's literal namespace (``literal_namespace``,
computed by :class:`ResourcePattern`); these subclasses only narrow ``matches`` further, so they
index exactly as a plain glob of the same repository part would.

- :class:`NamespaceScopedPattern`: a glob further limited to (or away from) some namespaces —
  a Thalassa project-level binding's scope, where the intersection is not itself a glob.
- :class:`RepositoryNamePattern` with its :class:`NameTest` values: a glob and tests on the full
  repository name, matched case-insensitively — OCI's ``target.repo.name`` conditions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from regproxy.identity.principal import compile_repository_glob
from regproxy.oci import grammar
from regproxy.policy.model import ResourcePattern


@dataclass(frozen=True, slots=True)
class NamespaceScopedPattern(ResourcePattern):
    """A repository glob further limited by the repository's namespace.

    ``within``: the namespace must match one of these globs (a project's namespaces);
    ``excluded``: it must match none of them (organisation scope: no project's namespace).
    Used only where the intersection is not itself a glob; otherwise bind() emits plain
    :class:`ResourcePattern` values, which the evaluator can index by namespace.
    """

    within: tuple[str, ...] | None = None
    excluded: tuple[str, ...] = ()
    _within_re: tuple[Callable[[str], bool], ...] = field(init=False, repr=False, compare=False, hash=False)
    _excluded_re: tuple[Callable[[str], bool], ...] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        ResourcePattern.__post_init__(self)
        object.__setattr__(self, "_within_re", tuple(compile_repository_glob(g) for g in self.within or ()))
        object.__setattr__(self, "_excluded_re", tuple(compile_repository_glob(g) for g in self.excluded))

    def __str__(self) -> str:
        text = ResourcePattern.__str__(self)
        if self.within is not None:
            text += " in namespaces " + ", ".join(self.within)
        if self.excluded:
            text += " outside namespaces " + ", ".join(self.excluded)
        return text

    def matches(self, repository: str, tag: str | None) -> bool:
        if not ResourcePattern.matches(self, repository, tag):
            return False
        namespace = grammar.namespace_of(repository)
        if self.within is not None and not any(m(namespace) for m in self._within_re):
            return False
        return not any(m(namespace) for m in self._excluded_re)


_GLOB_SAFE = re.compile(r"[a-z0-9._/-]*")


@dataclass(frozen=True, slots=True)
class NameTest:
    """``target.repo.name`` = or != a string or a /pattern/, matched case-insensitively."""

    text: str  # as written, for explanations
    value: str  # the string, or the pattern between its slashes
    is_pattern: bool
    negated: bool
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        parts = self.value.split("*") if self.is_pattern else [self.value]
        object.__setattr__(self, "_regex", re.compile(".*".join(map(re.escape, parts)), re.IGNORECASE))

    def holds(self, repository: str) -> bool:
        return (self._regex.fullmatch(repository) is not None) != self.negated

    def as_glob(self) -> str | None:
        """The same test as a repository glob, when it is a positive one that a glob can say."""
        if self.negated:
            return None
        parts = self.value.lower().split("*") if self.is_pattern else [self.value.lower()]
        if not all(_GLOB_SAFE.fullmatch(p) for p in parts):
            return None
        return "**".join(parts)  # `**` crosses `/`: target.repo.name is the full name


@dataclass(frozen=True, slots=True)
class RepositoryNamePattern(ResourcePattern):
    """A location's repository glob and every ``target.repo.name`` test of one statement."""

    tests: tuple[NameTest, ...] = ()

    def __str__(self) -> str:
        return ResourcePattern.__str__(self) + " where " + ", ".join(t.text for t in self.tests)

    def matches(self, repository: str, tag: str | None) -> bool:
        return ResourcePattern.matches(self, repository, tag) and all(t.holds(repository) for t in self.tests)
