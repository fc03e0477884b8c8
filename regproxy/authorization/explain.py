"""``regproxy explain`` and ``check``, pure: the request, principal and facts from flags, the
verdict rendered line by line. The decision itself is :func:`regproxy.authorization.flow.decide`,
the flow the server runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from regproxy.authorization.flow import decide
from regproxy.authorization.verdict import Answer, Fact, Reply, RepositoryExists, TagExists, UpstreamSupports, Verdict
from regproxy.errors import RouteRefused
from regproxy.identity.identities import Identities
from regproxy.identity.principal import ANONYMOUS, Principal, PrincipalKind, TokenGrant, make_principal
from regproxy.identity.scope import access_to_scope, parse_scope
from regproxy.oci.actions import Action
from regproxy.oci.routes import RegistryRequest, parse_request
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import Effect, PolicySet, RequestContext

# A digest for requests that name none of their own (explain by action).
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


class ExplainError(ValueError):
    """A flag that does not describe a request, principal or credential regproxy knows."""


def request_from_action(action: Action, repository: str, tag: str | None) -> RegistryRequest:
    """The request the server sees for ``action`` on ``repository`` (and ``tag``)."""
    ref = tag or PLACEHOLDER_DIGEST
    method, path, query = {
        Action.PULL: ("GET", f"/v2/{repository}/manifests/{ref}", ""),
        Action.LIST: ("GET", f"/v2/{repository}/tags/list", ""),
        Action.CATALOG: ("GET", "/v2/_catalog", ""),
        Action.PUSH: ("PUT", f"/v2/{repository}/manifests/{tag}", "")
        if tag
        else ("POST", f"/v2/{repository}/blobs/uploads/", ""),
        Action.TAG_CREATE: ("PUT", f"/v2/{repository}/manifests/{tag}", ""),
        Action.TAG_OVERWRITE: ("PUT", f"/v2/{repository}/manifests/{tag}", ""),
        Action.CREATE_REPOSITORY: ("POST", f"/v2/{repository}/blobs/uploads/", ""),
        Action.DELETE_TAG: ("DELETE", f"/v2/{repository}/manifests/{tag}", ""),
        Action.DELETE_MANIFEST: ("DELETE", f"/v2/{repository}/manifests/{PLACEHOLDER_DIGEST}", ""),
        Action.DELETE_BLOB: ("DELETE", f"/v2/{repository}/blobs/{PLACEHOLDER_DIGEST}", ""),
    }[action]
    if action in (Action.TAG_CREATE, Action.TAG_OVERWRITE, Action.DELETE_TAG) and not tag:
        raise ExplainError(f"`{action.value}` needs a tag: give REPOSITORY:TAG")
    return request_from_path(method, path + (f"?{query}" if query else ""))


def request_from_path(method: str, target: str) -> RegistryRequest:
    path, _, query = target.partition("?")
    try:
        return parse_request(method.upper(), path, query, {})
    except RouteRefused as exc:
        raise ExplainError(f"the server refuses `{method} {target}`: {exc}") from None


def principal_from_flags(
    identities: Identities | None,
    principal: str | None,
    credential: str | None,
    scopes: Sequence[str],
    groups: Sequence[str] = (),
) -> Principal:
    """The principal as the server would authenticate it: an account of the identities file
    (``--principal``), or the account behind an access credential (``--credential``, with the
    credential's scope); ``--scope`` makes it the holder of a token with that ``access``.

    Without an identities file (a policies directory alone) there is nothing to look names up
    in: ``--principal KIND:NAME`` with ``--group`` describes a principal by hand.
    """
    if identities is None:
        return _by_hand(principal, groups, credential)
    if credential is not None:
        found = identities.credentials.get(credential)
        if found is None:
            raise ExplainError(f"no access credential `{credential}` in the identities file")
        who = found.account.principal(credential_id=found.id, scope=found.scope, expires_at=found.expires_at)
        if principal is not None and principal not in (who.id, found.account.name):
            raise ExplainError(f"credential `{credential}` belongs to `{who.id}`, not `{principal}`")
    elif principal is None:
        raise ExplainError("give --principal or --credential")
    elif principal == "anonymous":
        who = ANONYMOUS
    elif groups:
        raise ExplainError("--group describes a principal by hand: only without an identities file")
    else:
        account = identities.account(principal) if ":" in principal else identities.logins.get(principal)
        if account is None:
            raise ExplainError(f"no account `{principal}` in the identities file (user:NAME, service-account:NAME)")
        who = account.principal()
    if scopes:
        if not who.authenticated:
            raise ExplainError("an anonymous caller holds no token: --scope needs a principal")
        entries = []
        for text in scopes:
            for part in text.split():
                try:
                    parsed = parse_scope(part)
                except ValueError as exc:
                    raise ExplainError(str(exc)) from None
                entries.append({"type": parsed.type, "name": parsed.name, "actions": list(parsed.actions)})
        try:
            access = access_to_scope(entries)
        except ValueError as exc:
            raise ExplainError(str(exc)) from None
        bound = access if who.scope is None else access.narrowed(who.scope)
        who = replace(who, scope=bound, token=TokenGrant(access, who.scope))
    return who


def _by_hand(principal: str | None, groups: Sequence[str], credential: str | None) -> Principal:
    if credential is not None:
        raise ExplainError("--credential needs an identities file")
    if principal is None:
        raise ExplainError("give --principal")
    if principal == "anonymous":
        return ANONYMOUS
    kind_word, sep, name = principal.partition(":")
    if not sep or not name or kind_word not in (PrincipalKind.USER.value, PrincipalKind.SERVICE_ACCOUNT.value):
        raise ExplainError(f"`{principal}`: without an identities file give user:NAME or service-account:NAME")
    return make_principal(PrincipalKind(kind_word), name, groups=groups)


def parse_answer(text: str | None) -> Answer:
    if text is None or text == "unknown":
        return None
    if text in ("yes", "true"):
        return True
    if text in ("no", "false"):
        return False
    raise ExplainError(f"`{text}` is not yes, no or unknown")


def explain(
    request: RegistryRequest,
    context: RequestContext,
    policy: CompiledPolicy,
    repository_exists: Answer,
    tag_exists: Answer,
) -> Verdict:
    def answer(fact: Fact) -> Answer:
        if isinstance(fact, RepositoryExists):
            return repository_exists
        if isinstance(fact, TagExists):
            return tag_exists
        return None  # what the registry supports: explain cannot tell, the server's probe can

    return decide(request, context, policy, answer)


_REPLIES = {
    Reply.ALLOW: "forwarded to the registry",
    Reply.CHALLENGE: "401 with a challenge",
    Reply.INSUFFICIENT_SCOPE: '401 with error="insufficient_scope": a new token would be granted',
    Reply.DENY: "403 DENIED",
    Reply.UNSUPPORTED: "405 UNSUPPORTED: the registry cannot do it",
}


def render(verdict: Verdict, request: RegistryRequest, principal: Principal, policy_set: PolicySet) -> list[str]:
    effect = "ALLOW" if verdict.allowed else "DENY"
    target = request.target()
    lines = [
        f"{effect} ({verdict.decision.outcome.value}) for {principal.id} groups={sorted(principal.groups)} "
        f"{request.method} {target}",
        f"  answer: {_REPLIES[verdict.reply]}",
    ]
    if verdict.reply in (Reply.CHALLENGE, Reply.INSUFFICIENT_SCOPE) and verdict.scopes:
        lines.append(f"  scope: {' '.join(verdict.scopes)}")
    if verdict.mount_dropped:
        lines.append("  mount: dropped (no pull on the source): a plain upload is forwarded")
    for check in verdict.checks:
        mark = "deciding" if check.deciding else "checked"
        lines.append(f"  {check.permission}: {check.decision.outcome.value} ({mark})")
        for sid in check.decision.statements:
            statement = policy_set.statement(sid)
            where = f"[{statement.dialect}]  {statement.location}" if statement else "?"
            lines.append(f"    {sid}  {where}")
    for fact, value in verdict.facts:
        said = {True: "yes", False: "no", None: "unknown (the stricter branch is taken)"}[value]
        if isinstance(fact, UpstreamSupports) and value is None:
            said = "not known here (the server answers from its probe of the registry; unknown forwards)"
        lines.append(f"  fact: {fact}: {said}")
    lines.append(f"  generation {verdict.generation}, {policy_set.content_hash}")
    return lines


# actions whose requests may name no tag (a blob, a manifest by digest)
_TAGLESS_ACTIONS = frozenset({Action.PULL, Action.PUSH, Action.DELETE_MANIFEST, Action.DELETE_BLOB})


def tag_qualified_warnings(policy_set: PolicySet) -> list[str]:
    """One warning per statement whose resources carry a tag pattern: an allow grants less than
    a reader may think (no blob, no manifest by digest), a deny of a pull refuses more (every
    blob and manifest by digest of the repository)."""
    out = []
    for s in policy_set.statements:
        for resource in s.tag_qualified:
            if s.effect is Effect.ALLOW:
                out.append(
                    f"{s.location}: statement `{s.id}` names `{resource}`: it grants only requests naming a "
                    f"matching tag (no blob, no manifest by digest); write `{resource.repository}` for the repository"
                )
            elif _TAGLESS_ACTIONS & s.actions:
                out.append(
                    f"{s.location}: deny `{s.id}` names `{resource}`: it also refuses every blob and manifest "
                    f"by digest of `{resource.repository}` (their tag cannot be told): a deny is never narrower "
                    "than written"
                )
    return out
