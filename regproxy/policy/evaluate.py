"""Compile once, evaluate many: the indexed evaluator and its decision cache.

:func:`compile_policy` builds, once per policy set, an index from (action, principal selector)
to statements, split by the literal namespace of their resource patterns (statements whose
namespace is a wildcard sit in one extra bucket). A decision touches only the statements that
could apply: its cost does not grow with the statements that cannot.

The cache (cachetools LRU) is keyed by the principal's selectors, the action, the repository
and the tag; it lives inside one :class:`CompiledPolicy`, so it is keyed by generation by
construction and dies with the set. It holds only the condition-free part of a decision:
statements with conditions are re-tested on every request, against that request's context.
"""

from __future__ import annotations

from dataclasses import dataclass

from cachetools import LRUCache

from regproxy.oci.actions import Action
from regproxy.policy.model import (
    Decision,
    Effect,
    Outcome,
    PolicySet,
    PrincipalRef,
    RequestContext,
    Statement,
    principal_keys,
)

_ByNamespace = dict[str | None, tuple[Statement, ...]]
_SELECTOR_MEMO_SIZE = 4096  # distinct (kind, name, groups) remembered per compiled set


@dataclass(frozen=True, slots=True)
class _Candidates:
    """The condition-free outcome for one cache key, and what still needs the context."""

    denies: tuple[str, ...]
    allows: tuple[str, ...]
    conditional: tuple[Statement, ...]
    shadow: tuple[Statement, ...]


class CompiledPolicy:
    """A policy set in its evaluable form. Immutable after construction but for its cache."""

    def __init__(self, policy_set: PolicySet, cache_size: int = 65536) -> None:
        self.policy_set = policy_set
        self.generation = policy_set.generation
        flat: dict[tuple[Action, PrincipalRef, str | None], list[Statement]] = {}
        for statement in policy_set.statements:
            namespaces = {r.literal_namespace for r in statement.resources}
            refs = set(statement.principals)
            for action in statement.actions:
                for ref in refs:
                    for ns in namespaces:
                        bucket = flat.get((action, ref, ns))
                        if bucket is None:
                            flat[(action, ref, ns)] = [statement]
                        else:
                            bucket.append(statement)
        self._index: dict[tuple[Action, PrincipalRef], _ByNamespace] = {}
        for (action, ref, ns), statements in flat.items():
            self._index.setdefault((action, ref), {})[ns] = tuple(statements)
        self._has_shadow = any(s.shadow for s in policy_set.statements)
        self._allowing: frozenset[tuple[Action, PrincipalRef]] = frozenset(
            (action, ref)
            for s in policy_set.statements
            if s.effect is Effect.ALLOW and not s.shadow
            for action in s.actions
            for ref in s.principals
        )
        self._selectors: dict[tuple[object, ...], tuple[PrincipalRef, ...]] = {}
        self._cache: LRUCache[tuple[object, ...], _Candidates] = LRUCache(maxsize=cache_size)
        self.cache_hits = 0
        self.cache_misses = 0

    def evaluate(self, context: RequestContext, action: Action, repository: str, tag: str | None = None) -> Decision:
        principal = context.principal
        # Everything principal_keys() depends on, as values that hash at C speed.
        cache_key = (principal.kind, principal.name, principal.groups, action, repository, tag)
        try:
            candidates = self._cache[cache_key]
            self.cache_hits += 1
        except KeyError:
            self.cache_misses += 1
            identity = cache_key[:3]
            keys = self._selectors.get(identity)
            if keys is None:
                if len(self._selectors) >= _SELECTOR_MEMO_SIZE:
                    self._selectors.clear()
                keys = self._selectors[identity] = principal_keys(principal)
            candidates = self._candidates(keys, action, repository, tag)
            self._cache[cache_key] = candidates

        denies = list(candidates.denies)
        allows = list(candidates.allows)
        for s in candidates.conditional:
            if s.conditions_hold(context):
                (denies if s.effect is Effect.DENY else allows).append(s.id)
        if denies:
            return Decision(Effect.DENY, Outcome.EXPLICIT_DENY, tuple(denies), self.generation)
        if not allows:
            return Decision(Effect.DENY, Outcome.DEFAULT_DENY, (), self.generation)
        if not principal.scope_permits(action, repository, context):
            return Decision(Effect.DENY, Outcome.SCOPE_DENY, tuple(allows), self.generation)
        return Decision(Effect.ALLOW, Outcome.ALLOWED, tuple(allows), self.generation)

    def shadow_matches(
        self, context: RequestContext, action: Action, repository: str, tag: str | None = None
    ) -> tuple[str, ...]:
        """Ids of shadow statements that match this request (reported, never enforced)."""
        if not self._has_shadow:
            return ()
        candidates = self._candidates(principal_keys(context.principal), action, repository, tag)
        return tuple(s.id for s in candidates.shadow if s.conditions_hold(context))

    def may_allow(self, principal_refs: tuple[PrincipalRef, ...], action: Action) -> bool:
        """Whether any allow statement for this action names one of these selectors."""
        return any((action, ref) in self._allowing for ref in principal_refs)

    def _candidates(
        self, keys: tuple[PrincipalRef, ...], action: Action, repository: str, tag: str | None
    ) -> _Candidates:
        namespace = repository.partition("/")[0]
        denies: list[str] = []
        allows: list[str] = []
        conditional: list[Statement] = []
        shadow: list[Statement] = []
        seen: set[int] = set()
        for ref in keys:
            by_ns = self._index.get((action, ref))
            if by_ns is None:
                continue
            for bucket in (by_ns.get(namespace, ()), by_ns.get(None, ())):
                for s in bucket:
                    if id(s) in seen or not s.matches(action, repository, tag):
                        continue
                    seen.add(id(s))
                    if s.shadow:
                        shadow.append(s)
                    elif s.conditions:
                        conditional.append(s)
                    else:
                        (denies if s.effect is Effect.DENY else allows).append(s.id)
        return _Candidates(tuple(denies), tuple(allows), tuple(conditional), tuple(shadow))


def compile_policy(policy_set: PolicySet, cache_size: int = 65536) -> CompiledPolicy:
    return CompiledPolicy(policy_set, cache_size)


def evaluate_reference(
    policy_set: PolicySet, context: RequestContext, action: Action, repository: str, tag: str | None = None
) -> Decision:
    """The decision rule read straight off the statements, with no index and no cache.

    The compiled evaluator must agree with this on every input (a property test holds it to it).
    """
    keys = set(principal_keys(context.principal))
    matching = [
        s
        for s in policy_set.statements
        if not s.shadow
        and any(p in keys for p in s.principals)
        and s.matches(action, repository, tag)
        and s.conditions_hold(context)
    ]
    denies = tuple(s.id for s in matching if s.effect is Effect.DENY)
    allows = tuple(s.id for s in matching if s.effect is Effect.ALLOW)
    g = policy_set.generation
    if denies:
        return Decision(Effect.DENY, Outcome.EXPLICIT_DENY, denies, g)
    if not allows:
        return Decision(Effect.DENY, Outcome.DEFAULT_DENY, (), g)
    if not context.principal.scope_permits(action, repository, context):
        return Decision(Effect.DENY, Outcome.SCOPE_DENY, allows, g)
    return Decision(Effect.ALLOW, Outcome.ALLOWED, allows, g)
