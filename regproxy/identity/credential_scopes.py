"""Scope words an access credential can be issued with, and what each permits.

Thalassa's access-credential scopes (seed 000): ``containerRegistry`` and
``containerRegistry:all`` push and pull, ``containerRegistry:pull`` pulls only. regproxy's own
short words ``all`` and ``pull`` mean the same. A scope narrows what policy grants; it never
widens it (the evaluator intersects).

A credential may carry any set of scopes: one made for other services too carries theirs
(``objectStorage``, …), which mean nothing here. Seed: "access credentials must include one of"
the registry scopes; one that includes none authenticates but gets no registry access, and says
why (:data:`REGISTRY_SCOPE_MISSING`, for the audit line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from regproxy.identity.principal import CredentialScope, NoRegistryScope, ScopeGrant
from regproxy.oci.actions import ALL_ACTIONS, Action

PULL_ONLY = frozenset({Action.PULL, Action.LIST, Action.CATALOG})
REGISTRY_SCOPE_MISSING = "registry_scope_missing"

_SCOPES: dict[str, frozenset[Action]] = {
    "containerRegistry": ALL_ACTIONS,
    "containerRegistry:all": ALL_ACTIONS,
    "containerRegistry:pull": PULL_ONLY,
    "all": ALL_ACTIONS,
    "pull": PULL_ONLY,
}

KNOWN_SCOPES = frozenset(_SCOPES)
# Another service's scope word: letters first, then letters, digits and `:._-`.
_SCOPE_WORD = re.compile(r"[A-Za-z][A-Za-z0-9:._-]*")


def credential_scope(name: str) -> CredentialScope:
    """The scope a credential issued with the registry scope ``name`` carries; ``ValueError`` if
    ``name`` is not a registry scope."""
    try:
        actions = _SCOPES[name]
    except KeyError:
        known = ", ".join(sorted(_SCOPES))
        raise ValueError(f"unknown credential scope `{name}` (known: {known})") from None
    return CredentialScope(name, (ScopeGrant("**", actions),))


def credential_scopes(names: Iterable[str]) -> CredentialScope:
    """The bound a credential issued with the scopes ``names`` (any set) puts on policy.

    The registry scopes among them add up; the others are kept in no grant. With no registry
    scope the credential permits nothing (a :class:`NoRegistryScope`). The scope's name is the
    registry scope words, space-separated, which credential-scope conditions test one by one.
    ``ValueError`` for a word that is no scope at all, or a near miss of a registry scope
    (case: ``containerregistry:pull``), since a typo would silently remove all access.
    """
    words = list(dict.fromkeys(names))
    for word in words:
        if not _SCOPE_WORD.fullmatch(word):
            raise ValueError(f"`{word}` is not a scope word")
        lowered = {k.lower(): k for k in _SCOPES}
        if word not in _SCOPES and word.lower() in lowered:
            raise ValueError(f"unknown credential scope `{word}`; did you mean `{lowered[word.lower()]}`?")
    registry = [w for w in words if w in _SCOPES]
    if not registry:
        return NoRegistryScope(" ".join(words), (), REGISTRY_SCOPE_MISSING)
    actions = frozenset(a for w in registry for a in _SCOPES[w])
    return CredentialScope(" ".join(registry), (ScopeGrant("**", actions),))
