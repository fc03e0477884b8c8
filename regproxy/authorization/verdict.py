"""What the decision flow asks and answers: facts, checks, and the verdict (pure values).

A :class:`Verdict` names every permission checked with the decision each got, the facts the
flow asked for and their answers, the policy generation, and what the client is told::

    Reply.ALLOW               forward (a mount may be dropped first: ``mount_dropped``)
    Reply.CHALLENGE           401 + challenge naming ``scopes``: no credentials yet
    Reply.INSUFFICIENT_SCOPE  401 + challenge with error="insufficient_scope": the bearer
                              token's access lacks a scope the policy would grant
    Reply.DENY                403 DENIED: the policy (or the credential's own scope) refuses;
                              a new token would not help
    Reply.UNSUPPORTED         405 UNSUPPORTED: the policy allows, and the registry is known not
                              to perform it (:class:`UpstreamSupports` answered no); audited as
                              allowed, never forwarded
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from regproxy.authorization.permissions import Permission
from regproxy.authorization.scopes import request_scopes
from regproxy.oci.capability import Capability
from regproxy.oci.routes import RegistryRequest
from regproxy.policy.model import Decision, Effect, Outcome


@dataclass(frozen=True, slots=True)
class RepositoryExists:
    """Does the repository exist upstream?"""

    repository: str

    def __str__(self) -> str:
        return f"repository {self.repository} exists"


@dataclass(frozen=True, slots=True)
class TagExists:
    """Does the tag exist upstream?"""

    repository: str
    tag: str

    def __str__(self) -> str:
        return f"tag {self.repository}:{self.tag} exists"


@dataclass(frozen=True, slots=True)
class UpstreamSupports:
    """Does the registry perform what an allowed request needs (a tag delete)? Asked only
    after the policy allowed, so a refused caller learns nothing of the registry."""

    capability: Capability

    def __str__(self) -> str:
        return f"the registry supports {self.capability.value}"


Fact = RepositoryExists | TagExists | UpstreamSupports
Answer = bool | None  # None: cannot tell (the flow then takes the stricter branch)


class Reply(StrEnum):
    ALLOW = "allow"
    CHALLENGE = "challenge"
    INSUFFICIENT_SCOPE = "insufficient-scope"
    DENY = "deny"
    UNSUPPORTED = "unsupported"


@dataclass(frozen=True, slots=True)
class Check:
    """One permission evaluated, and whether its decision counts towards the verdict."""

    permission: Permission
    decision: Decision
    deciding: bool = True


@dataclass(frozen=True, slots=True)
class Verdict:
    reply: Reply
    decision: Decision  # the merged decision the audit records
    checks: tuple[Check, ...] = ()
    facts: tuple[tuple[Fact, Answer], ...] = ()
    request: RegistryRequest | None = None
    mount_dropped: bool = False

    @property
    def allowed(self) -> bool:
        return self.reply is Reply.ALLOW

    @property
    def scopes(self) -> tuple[str, ...]:
        """Every scope the request needs: what a challenge names (rendered only when asked)."""
        return request_scopes(self.request) if self.request is not None else ()

    @property
    def generation(self) -> int:
        return self.decision.generation


def allowed_decision(statements: tuple[str, ...], generation: int) -> Decision:
    return Decision(Effect.ALLOW, Outcome.ALLOWED, statements, generation)
