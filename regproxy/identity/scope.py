"""Docker token scopes: the grammar, and the bridge between docker's action words and regproxy's.

Follows the distribution "Token Scope Documentation" (docs/spec/auth/scope.md)::

    scope             := resourcescope [ ' ' resourcescope ]*
    resourcescope     := resourcetype ":" resourcename ":" action [ ',' action ]*
    resourcetype      := resourcetypevalue [ '(' resourcetypevalue ')' ]
    resourcetypevalue := /[a-z0-9]+/
    resourcename      := [ hostname '/' ] component [ '/' component ]*
    hostname          := hostcomponent [ '.' hostcomponent ]* [ ':' port-number ]
    action            := /[a-z*]*/

A resource name may hold one ``:`` (a port in its hostname), so a scope splits on its *first*
and *last* colon, never on the first three. The resource class (``repository(plugin)``) is
deprecated and ignored when authorizing: ``repository(plugin)`` means ``repository``.

Docker's words and what they amount to in regproxy's vocabulary (:mod:`regproxy.oci.actions`):

=========================  ==========================================================
``pull``                   pull, list
``push``                   push, tag-create, tag-overwrite, create-repository
``delete``                 delete-tag, delete-manifest, delete-blob
``*``                      every action
``registry:catalog:*``     catalog, on every repository
=========================  ==========================================================

A token's ``access`` claim (distribution docs/spec/auth/jwt.md) becomes a
:class:`~regproxy.identity.principal.CredentialScope`: an upper bound, never a grant by itself.
Unknown resource types and action words grant nothing; a malformed claim is an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from regproxy.identity.principal import CredentialScope, IntersectedScope, NoRegistryScope, ScopeGrant
from regproxy.identity.session_policy import SessionBoundScope, SessionPolicy, compile_session_policy
from regproxy.oci import grammar
from regproxy.oci.actions import ALL_ACTIONS, DELETE_ACTIONS, WRITE_ACTIONS, Action

__all__ = [
    "CATALOG_SCOPE",
    "DOCKER_WORDS",
    "ScopeRequest",
    "access_to_scope",
    "grants_from_claim",
    "grants_to_claim",
    "parse_scope",
    "parse_scopes",
    "regproxy_actions_for",
    "render_scope",
    "scope_from_claim",
    "scope_to_claim",
    "token_actions_for",
]

REPOSITORY = "repository"
REGISTRY = "registry"
CATALOG = "catalog"
CATALOG_SCOPE = "registry:catalog:*"

DOCKER_WORDS: Mapping[str, frozenset[Action]] = {
    "pull": frozenset({Action.PULL, Action.LIST}),
    "push": WRITE_ACTIONS,
    "delete": DELETE_ACTIONS,
    "*": ALL_ACTIONS,
}

# One scope is a short string; a cap keeps the regexes' work bounded whatever a client sends.
MAX_SCOPE_LENGTH = 512

_TYPE_RE = re.compile(r"([a-z0-9]+)(?:\(([a-z0-9]+)\))?")
_HOSTCOMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOSTNAME = rf"{_HOSTCOMPONENT}(?:\.{_HOSTCOMPONENT})*(?::[0-9]+)?"
# The spec writes the separator as `[_.]|__|[-]*`; `-*` may match nothing, which makes the
# component regex backtrack exponentially on a near miss. `-+` accepts the same language.
_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"(?:{_HOSTNAME}/)?{_COMPONENT}(?:/{_COMPONENT})*")
_ACTION_RE = re.compile(r"[a-z*]+")


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    """One parsed resource scope: ``type[(resource_class)]:name:action,action``."""

    type: str
    name: str
    actions: tuple[str, ...]
    resource_class: str | None = None

    @property
    def is_catalog(self) -> bool:
        return self.type == REGISTRY and self.name == CATALOG


def parse_scope(text: str) -> ScopeRequest:
    """Parse one resource scope; raise ``ValueError`` naming what is wrong."""
    if len(text) > MAX_SCOPE_LENGTH:
        raise ValueError(f"scope is longer than {MAX_SCOPE_LENGTH} characters")
    first = text.find(":")
    last = text.rfind(":")
    if first < 0 or first == last:
        raise ValueError(f"scope `{text}` is not `type:name:actions`")
    type_text, name, action_text = text[:first], text[first + 1 : last], text[last + 1 :]
    type_match = _TYPE_RE.fullmatch(type_text)
    if type_match is None:
        raise ValueError(f"scope `{text}` has an invalid resource type")
    if _NAME_RE.fullmatch(name) is None:
        raise ValueError(f"scope `{text}` has an invalid resource name")
    # An empty action list is allowed by the grammar (`action := /[a-z*]*/`); it asks for nothing.
    actions = tuple(action_text.split(",")) if action_text else ()
    if any(_ACTION_RE.fullmatch(a) is None for a in actions):
        raise ValueError(f"scope `{text}` has an invalid action")
    return ScopeRequest(type_match.group(1), name, actions, type_match.group(2))


def parse_scopes(text: str) -> tuple[ScopeRequest, ...]:
    """Parse a space-separated list of scopes (the token endpoint's POST form)."""
    return tuple(parse_scope(part) for part in text.split())


def render_scope(scope: ScopeRequest) -> str:
    resource_type = scope.type
    if scope.resource_class is not None:
        resource_type = f"{scope.type}({scope.resource_class})"
    return f"{resource_type}:{scope.name}:{','.join(scope.actions)}"


def regproxy_actions_for(word: str, resource_type: str = REPOSITORY, name: str = "") -> frozenset[Action]:
    """The regproxy actions one docker action word grants on a resource of ``resource_type``.

    On ``registry`` only ``catalog:*`` means anything (catalog); unknown words and types grant
    nothing, so a scope from a newer client can only narrow.
    """
    if resource_type == REGISTRY:
        return frozenset({Action.CATALOG}) if name == CATALOG and word == "*" else frozenset()
    if resource_type != REPOSITORY:
        return frozenset()
    return DOCKER_WORDS.get(word, frozenset())


def token_actions_for(actions: Iterable[Action], *, partial: bool = False) -> frozenset[str]:
    """The docker words (``pull``, ``push``, ``delete``, ``*``) regproxy actions amount to.

    By default a word is included only when every action it stands for is in ``actions``. With
    ``partial=True`` a word is included when *any* of its actions is: use that in the token
    endpoint, where the token is only an upper bound and the policy in force still decides each
    request (a principal allowed ``tag-create`` but not ``tag-overwrite`` must get ``push`` or
    cannot push at all). ``*`` is included only for every action, in both modes.
    """
    have = frozenset(actions)
    words: set[str] = set()
    for word, wanted in DOCKER_WORDS.items():
        if word == "*":
            if wanted <= have:
                words.add(word)
        elif wanted <= have or (partial and wanted & have):
            words.add(word)
    return frozenset(words)


def access_to_scope(access: Any) -> CredentialScope:
    """A token's ``access`` claim as a scope: one grant per entry, on exactly that repository.

    ``registry:catalog:*`` grants catalog on every repository (``**``). Raises ``ValueError``
    when the claim is not a list of ``{type, name, actions}`` objects or names a repository
    outside the OCI name grammar (a name is used as a glob, so a ``*`` in it would widen it).
    """
    if not isinstance(access, list):
        raise ValueError("`access` must be a list")
    grants: list[ScopeGrant] = []
    rendered: list[str] = []
    for entry in access:
        if not isinstance(entry, dict):
            raise ValueError("`access` entries must be objects")
        resource_type, name, words = entry.get("type"), entry.get("name"), entry.get("actions")
        if not isinstance(resource_type, str) or not isinstance(name, str):
            raise ValueError("`access` entries need string `type` and `name`")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError("`access` entry `actions` must be a list of strings")
        type_match = _TYPE_RE.fullmatch(resource_type)
        base_type = type_match.group(1) if type_match else resource_type
        rendered.append(f"{resource_type}:{name}:{','.join(words)}")
        granted: frozenset[Action] = frozenset()
        for word in words:
            granted |= regproxy_actions_for(word, base_type, name)
        if not granted:
            continue
        if base_type == REGISTRY:
            grants.append(ScopeGrant("**", granted))
            continue
        if not grammar.is_name(name):
            raise ValueError(f"`access` names an invalid repository `{name}`")
        grants.append(ScopeGrant(name, granted))
    return CredentialScope(" ".join(rendered), tuple(grants))


# A credential scope travels inside regproxy's own tokens as
# {"name": str, "parts": [[{"repository": glob, "actions": [action, ...]}, ...], ...]}:
# the intersection of its parts, each the union of its grants.


def scope_to_claim(scope: CredentialScope) -> dict[str, Any]:
    return {"name": scope.name, "parts": [_part_to_claim(part) for part in _flatten(scope)]}


def _part_to_claim(part: CredentialScope) -> list[dict[str, Any]] | dict[str, Any]:
    # A short-lived credential's session policy travels as its document (signed with the token),
    # so that a token issued for the credential stays bound by it.
    if isinstance(part, SessionBoundScope) and part.policy is not None:
        return {"session_policy": part.policy.to_claim()}
    if isinstance(part, NoRegistryScope):  # keeps saying why through the token flow
        return {"no_registry_scope": part.reason}
    return [_grant_to_claim(g) for g in part.grants]


def _part_from_claim(name: str, part: Any) -> CredentialScope:
    if isinstance(part, dict) and "no_registry_scope" in part:
        reason = part["no_registry_scope"]
        if not isinstance(reason, str):
            raise ValueError("a no_registry_scope part names its reason")
        return NoRegistryScope(name, (), reason)
    if isinstance(part, dict):
        return compile_session_policy(SessionPolicy.from_claim(part.get("session_policy")))
    return CredentialScope(name, grants_from_claim(part))


def scope_from_claim(claim: Any) -> CredentialScope:
    """Rebuild a scope written by :func:`scope_to_claim`; ``ValueError`` if malformed."""
    if not isinstance(claim, dict):
        raise ValueError("scope claim must be an object")
    name, parts = claim.get("name"), claim.get("parts")
    if not isinstance(name, str) or not isinstance(parts, list) or not parts:
        raise ValueError("scope claim needs a `name` and a non-empty list of `parts`")
    scopes = tuple(_part_from_claim(name, part) for part in parts)
    if len(scopes) == 1:
        return scopes[0]
    return IntersectedScope(name, (), scopes)


def grants_from_claim(grants: Any) -> tuple[ScopeGrant, ...]:
    """``[{"repository": glob, "actions": [regproxy action, ...]}, ...]`` as grants."""
    if not isinstance(grants, list):
        raise ValueError("grants must be a list")
    out: list[ScopeGrant] = []
    for grant in grants:
        if not isinstance(grant, dict):
            raise ValueError("a grant must be an object")
        repository, actions = grant.get("repository"), grant.get("actions")
        if not isinstance(repository, str) or not repository:
            raise ValueError("a grant needs a `repository` glob")
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise ValueError("a grant needs a list of `actions`")
        out.append(ScopeGrant(repository, frozenset(Action(a) for a in actions)))
    return tuple(out)


def grants_to_claim(grants: Sequence[ScopeGrant]) -> list[dict[str, Any]]:
    return [_grant_to_claim(g) for g in grants]


def _grant_to_claim(grant: ScopeGrant) -> dict[str, Any]:
    return {"repository": grant.repository, "actions": sorted(a.value for a in grant.actions)}


def _flatten(scope: CredentialScope) -> list[CredentialScope]:
    if isinstance(scope, IntersectedScope):
        return [leaf for part in scope.parts for leaf in _flatten(part)]
    return [scope]
