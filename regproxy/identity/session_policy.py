"""Session policies: an Alibaba RAM document that narrows one short-lived credential, as STS does.

Alibaba STS ``AssumeRole`` takes an optional ``Policy``: a RAM document, and "the permissions
of the STS token are the intersection of the role's policies and this policy". Here the role is
the principal the credential is issued for, its policies the statements bound to it, and the
session policy a scope on the credential: a request is allowed only when the principal's
policies allow it *and* the session policy allows it, and an explicit ``Deny`` in either wins.
The document travels verbatim inside the signed credential (and inside the tokens issued for
it), with the region and account it was issued for.

This module is identity's side: the document as data, and the scope's claim form. Compiling the
document is the policy layer's (:mod:`regproxy.policy.session_policy`, the Alibaba dialect),
which installs its compiler when the policy layer is imported; identity never imports policy.
Until a compiler is installed, a session policy cannot be honoured and is refused (a credential
or token carrying one does not verify): never fail open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from regproxy.identity.principal import CredentialScope
from regproxy.oci.actions import Action

__all__ = [
    "DIALECT",
    "MAX_DOCUMENT_CHARS",
    "SCOPE_NAME",
    "SessionBoundScope",
    "SessionPolicy",
    "compile_session_policy",
    "install_compiler",
]

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


@dataclass(frozen=True, slots=True)
class SessionBoundScope(CredentialScope):
    """The scope a session policy puts on a credential; the compiler's subclass decides what
    it permits. This base permits nothing: it is never the one that widens a bound."""

    policy: SessionPolicy | None = None

    def permits(self, action: Action, repository: str) -> bool:
        return False

    def permits_in(self, action: Action, repository: str, context: Any) -> bool:
        return False


Compiler = Callable[[SessionPolicy], SessionBoundScope]
_compilers: list[Compiler] = []


def install_compiler(compiler: Compiler) -> None:
    """The policy layer's compiler of session documents (installed once, on its import)."""
    _compilers[:] = [compiler]


def compile_session_policy(policy: SessionPolicy) -> SessionBoundScope:
    """The scope a session policy puts on a credential; ``ValueError`` naming the line on a
    document the Alibaba dialect refuses, or when no compiler is installed."""
    if len(policy.document) > MAX_DOCUMENT_CHARS:
        raise ValueError(f"a session policy is at most {MAX_DOCUMENT_CHARS} characters")
    if not _compilers:
        raise ValueError("session policies cannot be honoured here: the policy layer is not loaded")
    return _compilers[0](policy)
