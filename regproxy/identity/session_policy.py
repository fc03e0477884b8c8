"""Session policies: an Alibaba RAM document that narrows one short-lived credential, as STS does.

Alibaba STS ``AssumeRole`` takes an optional ``Policy``: a RAM document, and "the permissions
of the STS token are the intersection of the role's policies and this policy". Here the role is
the principal the credential is issued for, its policies the statements bound to it, and the
session policy a :class:`SessionPolicyScope` on the credential: a request is allowed only when
the principal's policies allow it *and* the session policy allows it, and an explicit ``Deny`` in
either wins. The document travels verbatim inside the signed credential (and inside the tokens
issued for it), with the region and account it was issued for, and is compiled by the Alibaba
dialect exactly as a document in the policies directory.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from regproxy.errors import PolicyError, SourceLocation
from regproxy.identity.principal import CredentialScope
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.dialects.alibaba import compile_ram
from regproxy.policy.model import Effect, Statement

DIALECT = "alibaba"
SCOPE_NAME = "sts-session-policy"
# Alibaba caps a session policy at 1,024 characters; regproxy allows pretty-printed documents
# but keeps the credential (a Basic password) and the tokens issued for it bounded.
MAX_DOCUMENT_CHARS = 4096


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """A RAM document verbatim, and the deployment (region, account) it was issued in."""

    document: str
    region: str
    account: str

    def to_claim(self) -> dict[str, str]:
        return {"dialect": DIALECT, "document": self.document, "region": self.region, "account": self.account}

    @classmethod
    def from_claim(cls, claim: Any) -> SessionPolicy:
        """``ValueError`` if the claim is malformed or names another dialect."""
        if not isinstance(claim, dict) or claim.get("dialect") != DIALECT:
            raise ValueError("a session policy claim is an alibaba document")
        values = [claim.get(k) for k in ("document", "region", "account")]
        if not all(isinstance(v, str) and v for v in values):
            raise ValueError("a session policy claim needs `document`, `region` and `account`")
        document, region, account = (str(v) for v in values)
        return cls(document, region, account)


def compile_session_policy(policy: SessionPolicy) -> SessionPolicyScope:
    """The scope a session policy puts on a credential; ``ValueError`` naming the line on a
    document the Alibaba dialect refuses."""
    if len(policy.document) > MAX_DOCUMENT_CHARS:
        raise ValueError(f"a session policy is at most {MAX_DOCUMENT_CHARS} characters")
    try:
        statements = _compiled(policy.document, policy.region, policy.account)
    except PolicyError as exc:
        raise ValueError(f"session policy: {exc}") from None
    return SessionPolicyScope(SCOPE_NAME, (), policy=policy, statements=statements)


@functools.lru_cache(maxsize=256)
def _compiled(document: str, region: str, account: str) -> tuple[Statement, ...]:
    context = DialectContext(alibaba_region=region, alibaba_account=account)
    return compile_ram(document, SourceLocation("<session policy>"), "session-policy", context).statements


@dataclass(frozen=True, slots=True)
class SessionPolicyScope(CredentialScope):
    """Permits what the session policy allows and does not deny (RAM's rule within one document).

    Without the request context (``permits``), a statement with conditions cannot be decided:
    a conditional ``Allow`` then allows nothing and a conditional ``Deny`` denies, so the bound
    never widens for want of a fact.
    """

    policy: SessionPolicy | None = None
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
