"""What the token service grants: each requested scope, narrowed to what the flow would allow.

A docker word (``pull``, ``push``, ``delete``, ``*``) on a repository is granted when the policy
in force, with the credential's own scope, allows some request that needs it (a word stands for
several actions; one of them suffices, since the token is only an upper bound and every request
is decided again; ``*`` needs them all). Tag-qualified allows count for the tags they name
(:data:`~regproxy.policy.model.ANY_TAG`). ``registry:catalog:*`` is granted only when asked for,
and only to a principal that policy lets see the catalog. Unknown types and words grant nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from regproxy.authorization.flow import Evaluator
from regproxy.authorization.permissions import Permission
from regproxy.identity.scope import REPOSITORY, ScopeRequest, regproxy_actions_for, token_actions_for
from regproxy.oci.actions import Action
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import ANY_TAG, RequestContext


def grant_access(
    scopes: Sequence[ScopeRequest], context: RequestContext, policy: CompiledPolicy
) -> list[dict[str, Any]]:
    """The token's ``access`` claim for these requested scopes (entries merged by resource)."""
    evaluator = Evaluator(policy, context)
    access: dict[tuple[str, str], set[str]] = {}
    for scope in scopes:
        if scope.is_catalog:
            if "*" in scope.actions and evaluator.sees_catalog():
                access.setdefault(("registry", "catalog"), set()).add("*")
            continue
        if scope.type != REPOSITORY:
            continue
        allowed: set[Action] = set()
        for word in scope.actions:
            for action in regproxy_actions_for(word, scope.type, scope.name):
                if action not in allowed and evaluator.decide(Permission(action, scope.name, ANY_TAG)).allowed:
                    allowed.add(action)
        words = set(scope.actions) & token_actions_for(allowed, partial=True)
        access.setdefault((REPOSITORY, scope.name), set()).update(words)
    return [{"type": t, "name": n, "actions": sorted(w)} for (t, n), w in access.items()]
