"""Scope words an access credential can be issued with, and what each permits.

Thalassa's access-credential scopes (seed 000): ``containerRegistry`` and
``containerRegistry:all`` push and pull, ``containerRegistry:pull`` pulls only. regproxy's own
short words ``all`` and ``pull`` mean the same. A scope narrows what policy grants; it never
widens it (the evaluator intersects).
"""

from __future__ import annotations

from regproxy.identity.principal import CredentialScope, ScopeGrant
from regproxy.oci.actions import ALL_ACTIONS, Action

PULL_ONLY = frozenset({Action.PULL, Action.LIST, Action.CATALOG})

_SCOPES: dict[str, frozenset[Action]] = {
    "containerRegistry": ALL_ACTIONS,
    "containerRegistry:all": ALL_ACTIONS,
    "containerRegistry:pull": PULL_ONLY,
    "all": ALL_ACTIONS,
    "pull": PULL_ONLY,
}

KNOWN_SCOPES = frozenset(_SCOPES)


def credential_scope(name: str) -> CredentialScope:
    """The scope a credential issued with ``name`` carries; ``ValueError`` if unknown."""
    try:
        actions = _SCOPES[name]
    except KeyError:
        known = ", ".join(sorted(_SCOPES))
        raise ValueError(f"unknown credential scope `{name}` (known: {known})") from None
    return CredentialScope(name, (ScopeGrant("**", actions),))
