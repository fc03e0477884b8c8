"""Config ``public``: anyone, anonymous included, may pull and list these repositories."""

from __future__ import annotations

from collections.abc import Sequence

from regproxy.oci.actions import Action
from regproxy.policy.model import Effect, PrincipalRef, PrincipalSelector, ResourcePattern, Statement


def public_statements(patterns: Sequence[str]) -> tuple[Statement, ...]:
    if not patterns:
        return ()
    return (
        Statement(
            id="config#public",
            effect=Effect.ALLOW,
            principals=(PrincipalRef(PrincipalSelector.EVERYONE),),
            actions=frozenset({Action.PULL, Action.LIST, Action.CATALOG}),
            resources=tuple(ResourcePattern(p) for p in patterns),
        ),
    )
