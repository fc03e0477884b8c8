"""Replay a recorded decision through another policy set: the audit line in, the flow's verdict
out (pure).

What an audit line records for this (and none of it is a secret: ids, names, globs, words):

- the caller: ``principal`` (its id), ``principal_kind``, ``groups``, ``projects``, the
  ``credential`` id, ``credential_scope`` (the bound the credential put on policy: its name
  and its grants, ``{"name": ..., "parts": [["team-a/**=pull,list"], ...]}``, every part must
  permit) and, for a regproxy access token, ``token_access`` (the token's own ``access``, in
  the same shape);
- the request: ``method``, ``path`` and ``query`` (only the parameters a decision reads:
  ``mount``, ``from``, ``tag``), parsed again exactly as the server parsed them;
- the context: ``source`` (the client address after trusted-proxy resolution) and ``time``;
- the facts the flow asked (``facts``) and the ``decision`` it got. A fact the candidate asks
  and the line does not carry is tried both ways: the line is decided when both agree, and is
  reported as not replayable (it needs the fact) when they do not.

Token claims are not recorded; a statement conditioned on a claim is replayed without claims.
A principal whose groups the line does not carry (a line older than ``groups``) is resolved
from the identities file at replay time when one is given. A credential bounded by a session
policy (a short-lived credential with a RAM document) is not replayable from the line and is
skipped, and said so.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from regproxy.authorization.flow import decide
from regproxy.authorization.verdict import Answer, Fact, Verdict
from regproxy.errors import RouteRefused
from regproxy.identity.identities import Identities
from regproxy.identity.principal import (
    ANONYMOUS,
    CredentialScope,
    IntersectedScope,
    NoRegistryScope,
    Principal,
    PrincipalKind,
    ScopeGrant,
    TokenGrant,
    make_principal,
)
from regproxy.oci.actions import Action
from regproxy.oci.routes import RegistryRequest, parse_request
from regproxy.policy.evaluate import CompiledPolicy
from regproxy.policy.model import Outcome, RequestContext

# The query parameters a decision reads (a mount's source, the tags a digest PUT moves); others
# (upload state, pagination) are never recorded.
DECISION_PARAMETERS = ("mount", "from", "tag")
_OPAQUE = "!opaque"  # a part that cannot be written down (a session policy): not replayable
POLICY_DECISIONS = frozenset(o.value for o in Outcome)


class NotReplayable(ValueError):
    """An audit line that cannot be decided again; the message says why (a short phrase)."""


# -- recording --------------------------------------------------------------------------------


def scope_record(scope: CredentialScope | None) -> dict[str, Any] | None:
    """A credential bound as plain JSON: its name and its parts (each a list of grants)."""
    if scope is None:
        return None
    return {"name": scope.name, "parts": [list(p) for p in _parts(scope)]}


def _parts(scope: CredentialScope) -> list[tuple[str, ...]]:
    if isinstance(scope, IntersectedScope):
        return [p for part in scope.parts for p in _parts(part)]
    if isinstance(scope, NoRegistryScope):
        return [()]
    if type(scope) is not CredentialScope:
        return [(_OPAQUE,)]
    return [tuple(f"{g.repository}={','.join(sorted(a.value for a in g.actions))}" for g in scope.grants)]


def decision_query(request: RegistryRequest) -> str:
    """The query parameters the decision read, ``k=v&k=v`` (values are names, digests, tags)."""
    return "&".join(f"{k}={v}" for k, v in request.query if k in DECISION_PARAMETERS)


# -- replaying --------------------------------------------------------------------------------


def _scope_from(record: Any) -> CredentialScope | None:
    if record is None:
        return None
    if not isinstance(record, Mapping) or not isinstance(record.get("parts"), list):
        raise NotReplayable("credential scope not understood")
    name = str(record.get("name", ""))
    parts: list[CredentialScope] = []
    for part in record["parts"]:
        if not isinstance(part, list):
            raise NotReplayable("credential scope not understood")
        if _OPAQUE in part:
            raise NotReplayable("credential bounded by a session policy")
        if not part:
            parts.append(NoRegistryScope(name, ()))
            continue
        grants = []
        for grant in part:
            glob, _, words = str(grant).partition("=")
            try:
                grants.append(ScopeGrant(glob, frozenset(Action(w) for w in words.split(",") if w)))
            except ValueError:
                raise NotReplayable("credential scope not understood") from None
        parts.append(CredentialScope(name, tuple(grants)))
    if len(parts) == 1:
        return replace(parts[0], name=name)
    return IntersectedScope(name, (), tuple(parts))


@functools.lru_cache(maxsize=4096)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text) if text else None
    except ValueError:
        return None


@functools.lru_cache(maxsize=16384)
def _request(method: str, path: str, query: str) -> RegistryRequest:
    try:
        return parse_request(method, path, query, {})
    except RouteRefused as exc:
        raise NotReplayable(f"request not parsed: {exc}") from None


def _answers(raw: Any) -> dict[str, Answer]:
    """The recorded facts by their text (``repository R exists``, ``tag R:T exists``), from a
    mapping of text to answer, or a list of ``[text, answer]`` pairs or ``{fact, answer}``."""
    out: dict[str, Answer] = {}
    if isinstance(raw, Mapping):
        items: list[tuple[Any, Any]] = list(raw.items())
    elif isinstance(raw, list):
        items = []
        for item in raw:
            if isinstance(item, list | tuple) and len(item) == 2:
                items.append((item[0], item[1]))
            elif isinstance(item, Mapping):
                items.append((item.get("fact"), item.get("answer", item.get("value"))))
    else:
        return out
    words = {"yes": True, "true": True, "no": False, "false": False}
    for text, value in items:
        said = words.get(value.lower()) if isinstance(value, str) else value
        out[str(text)] = said if isinstance(said, bool) else None
    return out


@dataclass(slots=True)
class Replayer:
    """Decides recorded lines again through ``policy``; principals are built once per distinct
    caller description."""

    policy: CompiledPolicy
    identities: Identities | None = None
    resolved_from_identities: int = 0  # lines whose groups came from the identities file
    missing_facts: int = 0  # lines where the candidate asked a fact the line does not carry
    _principals: dict[tuple[object, ...], Principal] | None = None

    def principal(self, line: Mapping[str, Any]) -> Principal:
        groups = line.get("groups")
        key = (
            line.get("principal"),
            line.get("principal_kind"),
            tuple(groups) if isinstance(groups, list) else None,
            tuple(line.get("projects") or ()),
            line.get("credential"),
            _frozen(line.get("credential_scope")),
            _frozen(line.get("token_access")),
        )
        cache = self._principals
        if cache is None:
            cache = self._principals = {}
        found = cache.get(key)
        if found is None:
            if len(cache) >= 65536:
                cache.clear()
            found = cache[key] = self._build(line, groups)
        if groups is None and found.authenticated and self.identities is not None:
            self.resolved_from_identities += 1
        return found

    def _build(self, line: Mapping[str, Any], groups: Any) -> Principal:
        kind_word = str(line.get("principal_kind") or "")
        principal_id = str(line.get("principal") or "")
        if kind_word == PrincipalKind.ANONYMOUS.value or principal_id == ANONYMOUS.id:
            return ANONYMOUS
        try:
            kind = PrincipalKind(kind_word)
        except ValueError:
            raise NotReplayable("no principal recorded") from None
        name = principal_id.partition(":")[2] or principal_id
        projects: Any = line.get("projects") or ()
        if groups is None:
            account = self.identities.account(principal_id) if self.identities is not None else None
            groups = account.groups if account is not None else ()
            if account is not None and not projects:
                projects = account.projects
        credential = _scope_from(line.get("credential_scope"))
        principal = make_principal(
            kind, name, groups=groups, projects=projects, credential_id=line.get("credential") or None
        )
        access = _scope_from(line.get("token_access"))
        if access is not None:
            bound = access if credential is None else access.narrowed(credential)
            return replace(principal, scope=bound, token=TokenGrant(access, credential))
        return replace(principal, scope=credential)

    def replay(self, line: Mapping[str, Any]) -> Verdict:
        """The verdict ``policy`` gives the recorded request (:class:`NotReplayable` if none)."""
        request = _request(str(line.get("method", "")), str(line.get("path", "")), str(line.get("query") or ""))
        principal = self.principal(line)
        try:
            when = datetime.fromtimestamp(float(line.get("time", 0)), UTC)
        except (TypeError, ValueError, OverflowError):
            raise NotReplayable("no time recorded") from None
        context = RequestContext(principal, _address(str(line.get("source") or "")), when)
        facts = _answers(line.get("facts"))
        missing: list[Fact] = []

        def answer(fact: Fact) -> Answer:
            if str(fact) in facts:
                return facts[str(fact)]
            missing.append(fact)
            return None

        verdict = decide(request, context, self.policy, answer)
        if not missing:
            return verdict
        # The candidate asks a fact the line does not carry (the live set never needed it, or the
        # line predates `facts`): decide every way it could be; the verdict stands only if they agree.
        self.missing_facts += 1
        asked = list(dict.fromkeys(missing))
        outcomes = set()
        for values in itertools.product((True, False), repeat=len(asked)):
            known = {**{str(f): v for f, v in zip(asked, values, strict=True)}, **facts}
            outcomes.add(decide(request, context, self.policy, _answering(known)).allowed)
        if len(outcomes) > 1:
            raise NotReplayable("the decision depends on a fact the line does not record")
        return verdict


def _answering(known: Mapping[str, Answer]) -> Callable[[Fact], Answer]:
    return lambda fact: known.get(str(fact))


def _frozen(value: Any) -> object:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value
