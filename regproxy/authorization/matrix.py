"""Who can do what on one repository: every principal, access credential and group of the
identities file, by every action, each cell decided by the flow the server runs (pure).

Subjects: each account (user or service account, with its own groups), each access credential
(its account bounded by the credential's scope), each group (a member of that group alone), any
authenticated caller in no group, and anonymous. A cell is the request
``regproxy explain --action`` would build, decided by :func:`regproxy.authorization.explain.explain`
with the repository existing (``create-repository``: not existing). Without a tag, the tag
actions and ``catalog`` ask whether *some* tag could be allowed
(:data:`~regproxy.policy.model.ANY_TAG`), as the token service does; give ``REPOSITORY:TAG`` for
one tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from regproxy.authorization.explain import explain, request_from_action
from regproxy.authorization.flow import Evaluator
from regproxy.authorization.permissions import Permission
from regproxy.identity.identities import Identities
from regproxy.identity.principal import ANONYMOUS, Principal, PrincipalKind, make_principal
from regproxy.oci.actions import Action
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import ANY_TAG, RequestContext

_TAG_ACTIONS = frozenset({Action.TAG_CREATE, Action.TAG_OVERWRITE, Action.DELETE_TAG})
# A name no statement can name (`<` is outside every principal grammar): only the groups count.
_MEMBER = "<member of {}>"
_ANY = "<any authenticated>"


@dataclass(frozen=True, slots=True)
class Cell:
    subject: str  # user:alice, group:team-a-devs, authenticated, anonymous
    kind: str  # user, service-account, credential, group, authenticated, anonymous
    action: Action
    decision: str  # the verdict's reply: allow, deny, challenge, insufficient-scope
    outcome: str  # allowed, explicit-deny, default-deny, scope-deny
    statements: tuple[str, ...]


def subjects(identities: Identities | None) -> list[tuple[str, str, Principal]]:
    """(subject, kind, principal) for every account and group, then the catch-alls."""
    out: list[tuple[str, str, Principal]] = []
    groups: set[str] = set()
    if identities is not None:
        for account_id in sorted(identities.accounts):
            account = identities.accounts[account_id]
            out.append((account_id, account.kind.value, account.principal()))
            groups |= account.groups
        for credential_id in sorted(identities.credentials):
            found = identities.credentials[credential_id]
            principal = found.account.principal(credential_id=found.id, scope=found.scope)
            out.append((f"credential:{credential_id}", "credential", principal))
    for group in sorted(groups):
        principal = make_principal(PrincipalKind.USER, _MEMBER.format(group), groups=(group,))
        out.append((f"group:{group}", "group", principal))
    out.append(("authenticated", "authenticated", make_principal(PrincipalKind.USER, _ANY)))
    out.append(("anonymous", "anonymous", ANONYMOUS))
    return out


def decide_cell(
    policy: CompiledPolicy, context: RequestContext, action: Action, repository: str, tag: str | None
) -> tuple[str, str, tuple[str, ...]]:
    if action is Action.CATALOG or (action in _TAG_ACTIONS and tag is None):
        decision = Evaluator(policy, context).decide(Permission(action, repository, tag or ANY_TAG))
        reply = "allow" if decision.allowed else ("deny" if context.principal.authenticated else "challenge")
        return reply, decision.outcome.value, decision.statements
    request = request_from_action(action, repository, tag if action is not Action.PUSH else None)
    verdict = explain(
        request,
        context,
        policy,
        repository_exists=action is not Action.CREATE_REPOSITORY,
        tag_exists=action is not Action.TAG_CREATE,
    )
    return verdict.reply.value, verdict.decision.outcome.value, verdict.decision.statements


def access_matrix(
    policy: CompiledPolicy, identities: Identities | None, repository: str, tag: str | None, now: datetime
) -> list[Cell]:
    cells = []
    for subject, kind, principal in subjects(identities):
        context = RequestContext(principal, None, now)
        for action in Action:
            reply, outcome, statements = decide_cell(policy, context, action, repository, tag)
            cells.append(Cell(subject, kind, action, reply, outcome, statements))
    return cells
