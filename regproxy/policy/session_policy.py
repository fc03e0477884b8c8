"""The policy layer's side of session policies: compile the RAM document with the Alibaba
dialect, and decide with its statements (:class:`SessionPolicyScope`). Importing the policy
layer installs this compiler in :mod:`regproxy.identity.session_policy`."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from regproxy.errors import PolicyError, SourceLocation
from regproxy.identity.session_policy import SCOPE_NAME, SessionBoundScope, SessionPolicy, install_compiler
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.dialects.alibaba import compile_ram
from regproxy.policy.model import Effect, Statement

__all__ = ["SessionPolicyScope", "compile_document"]


@dataclass(frozen=True, slots=True)
class SessionPolicyScope(SessionBoundScope):
    """Permits what the session policy allows and does not deny (RAM's rule within one document).

    Without the request context (``permits``), a statement with conditions cannot be decided:
    a conditional ``Allow`` then allows nothing and a conditional ``Deny`` denies, so the bound
    never widens for want of a fact.
    """

    statements: tuple[Statement, ...] = field(default=(), compare=False)

    def permits(self, action: Action, repository: str) -> bool:
        return self.permits_in(action, repository, None)

    def permits_in(self, action: Action, repository: str, context: Any) -> bool:
        allowed = False
        for s in self.statements:
            if not s.matches(action, repository, None):
                continue
            if s.conditions:
                holds = s.effect is Effect.DENY if context is None else s.conditions_hold(context)
                if not holds:
                    continue
            if s.effect is Effect.DENY:
                return False
            allowed = True
        return allowed


def compile_document(policy: SessionPolicy) -> SessionPolicyScope:
    """``ValueError`` naming the line on a document the Alibaba dialect refuses."""
    try:
        statements = _compiled(policy.document, policy.region, policy.account)
    except PolicyError as exc:
        raise ValueError(f"session policy: {exc}") from None
    return SessionPolicyScope(SCOPE_NAME, (), policy=policy, statements=statements)


@functools.lru_cache(maxsize=256)
def _compiled(document: str, region: str, account: str) -> tuple[Statement, ...]:
    context = DialectContext(alibaba_region=region, alibaba_account=account)
    return compile_ram(document, SourceLocation("<session policy>"), "session-policy", context).statements


install_compiler(compile_document)
