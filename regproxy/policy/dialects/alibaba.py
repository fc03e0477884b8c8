"""Alibaba Cloud RAM policies for Container Registry (``Version`` ``"1"``), as RAM writes them.

    {"Version": "1",
     "Statement": [{"Sid": "pull-juzhong",                           # optional, unique
                    "Effect": "Allow",                               # Allow | Deny
                    "Action": ["cr:Get*", "cr:PullRepository"],      # or NotAction; `*` wildcards
                    "Resource": "acs:cr:*:*:repository/juzhong/*",   # string or list, or `*`
                    "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}]}

Element names are PascalCase, as RAM writes them. A document names no principal: it is attached
to users, groups and service accounts by ``bindings.yaml``. Actions are matched without regard to
case, as RAM matches them. A resource is ``*`` or an ARN
``acs:cr:REGION:ACCOUNT:repository/NAMESPACE/REPOSITORY``; REGION and ACCOUNT are globs tested
against this deployment's (:class:`DialectContext` ``alibaba_region`` / ``alibaba_account``), so
a resource for another region or account matches nothing here. The path after ``repository/``
is a glob (``*`` = any characters, ``/`` included) over the repository name;
``repository/juzhong`` names the namespace, ``repository/juzhong/*`` its repositories.

The system policies AliyunContainerRegistryFullAccess and AliyunContainerRegistryReadOnlyAccess
are built in, from their published JSON, compiled by this same code. policies/README.md (alibaba section)
is the user-facing version of this module, with every decision the Alibaba documents leave open.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from enum import StrEnum

from regproxy.errors import PolicyError, SourceLocation
from regproxy.oci.actions import ALL_ACTIONS, Action
from regproxy.policy.conditions import NotPrincipal
from regproxy.policy.dialects import Binding, DialectContext, Document, Setting
from regproxy.policy.dialects.attached import bind_statements
from regproxy.policy.dialects.iamjson import (
    API_NAME,
    PATH,
    AttachedJsonDialect,
    CloudAction,
    Keys,
    Vocabulary,
    compile_iam_json,
    date_operators,
    glob_actions,
    pascal_case,
)
from regproxy.policy.model import (
    Effect,
    PrincipalRef,
    PrincipalSelector,
    ResourcePattern,
    Statement,
)

# The config section `dialects.alibaba` (policies/README.md, "Configuration").
SETTINGS = (
    Setting(
        "region", "str", "alibaba_region", "this deployment's region id, matched against ARNs", legacy="alibaba_region"
    ),
    Setting(
        "account",
        "str",
        "alibaba_account",
        "this deployment's account id, matched against ARNs",
        legacy="alibaba_account",
    ),
    Setting(
        "account_owners",
        "principals",
        "alibaba_account_owners",
        "principals that are the Alibaba Cloud account itself: full access, exempt from RAM denies",
    ),
)

DIALECT = "alibaba"


class Level(StrEnum):
    """Which resource RAM checks an action against, as far as the edge is concerned."""

    REPOSITORY = "repository"  # …:repository/NAMESPACE/REPOSITORY
    LISTING = "listing"  # the repository, or its namespace …:repository/NAMESPACE (listing it)
    CONSOLE = "console"  # namespaces, instances, tokens, builds: nothing at the edge


_R, _L, _C = Level.REPOSITORY, Level.LISTING, Level.CONSOLE
_TABLE: tuple[tuple[str, Level, frozenset[Action]], ...] = (
    ("cr:PullRepository", _R, frozenset({Action.PULL, Action.LIST})),
    ("cr:PushRepository", _R, frozenset({Action.PUSH, Action.TAG_CREATE, Action.TAG_OVERWRITE})),
    ("cr:CreateRepository", _R, frozenset({Action.CREATE_REPOSITORY})),
    # Deleting a repository removes its content (manifests by digest, blobs), never a tag by
    # name: that is cr:DeleteRepositoryTag, RAM's own action for it.
    ("cr:DeleteRepository", _R, frozenset({Action.DELETE_MANIFEST, Action.DELETE_BLOB})),
    ("cr:DeleteRepositoryTag", _R, frozenset({Action.DELETE_TAG, Action.DELETE_MANIFEST})),
    ("cr:ListRepositoryTag", _R, frozenset({Action.LIST})),
    ("cr:GetRepositoryTag", _R, frozenset({Action.LIST})),
    ("cr:ListRepository", _L, frozenset({Action.CATALOG})),
)
# Real action names that mean nothing at a registry edge. Listed so that `cr:Get*`-style
# wildcards find them and the typo check never mistakes them for misspellings.
_CONSOLE_ONLY = (
    "cr:GetAuthorizationToken", "cr:GetRepositoryAuthorizationToken", "cr:GetRepository",
    "cr:UpdateRepository", "cr:GetRepositoryLayers", "cr:GetRepoTag", "cr:CreateRepoTag",
    "cr:ModifyRepositoryTag", "cr:ListNamespace", "cr:GetNamespace", "cr:CreateNamespace",
    "cr:UpdateNamespace", "cr:DeleteNamespace", "cr:ListInstance", "cr:GetInstance",
    "cr:ListInstanceEndpoint", "cr:GetInstanceEndpoint", "cr:GetInstanceVpcEndpoint",
    "cr:ListInstanceDomain", "cr:CreateInstanceVpcEndpointLinkedVpc", "cr:ListArtifact",
    "cr:GetArtifact",
)  # fmt: skip

ALIBABA_ACTIONS: dict[str, CloudAction] = {
    **{name.lower(): CloudAction(name, level, acts) for name, level, acts in _TABLE},
    **{name.lower(): CloudAction(name, _C, frozenset()) for name in _CONSOLE_ONLY},
}
_MAPPED = [a.name.lower() for a in ALIBABA_ACTIONS.values() if a.actions]

# The system policies a registry user binds. The Container Registry pair is verbatim from seed
# 003. AdministratorAccess (named in seed 003) is Alibaba's `*` on `*`. ReadOnlyAccess is
# Alibaba's every-product read-only policy: its Container Registry part is the `*:Get*`,
# `*:List*`, `*:Describe*`, `*:Query*`, `*:BatchGet*` and `*:BatchQuery*` patterns (the rest
# names other products' actions), and it names no `cr:PullRepository`: it browses, never pulls.
SYSTEM_POLICIES: dict[str, str] = {
    "AdministratorAccess": """{
        "Statement": [ { "Action": "*", "Effect": "Allow", "Resource": "*" } ],
        "Version": "1" }""",
    "ReadOnlyAccess": """{
        "Statement": [ { "Action": [ "*:Describe*", "*:List*", "*:Get*", "*:BatchGet*",
                                     "*:Query*", "*:BatchQuery*" ],
                         "Effect": "Allow", "Resource": "*" } ],
        "Version": "1" }""",
    "AliyunContainerRegistryFullAccess": """{
        "Statement": [ { "Action": "cr:*", "Effect": "Allow", "Resource": "*" } ],
        "Version": "1" }""",
    "AliyunContainerRegistryReadOnlyAccess": """{
        "Statement": [ { "Action": [ "cr:Get*", "cr:List*", "cr:PullRepository" ],
                         "Effect": "Allow", "Resource": "*" } ],
        "Version": "1" }""",
}


class AlibabaDialect(AttachedJsonDialect):
    name = DIALECT
    builtin_texts = SYSTEM_POLICIES
    builtin_kind = "system"
    cloud = "Alibaba"

    def compile_named(self, text: str, location: SourceLocation, name: str, context: DialectContext) -> Document:
        return compile_ram(text, location, name, context)

    def builtins(self, context: DialectContext) -> tuple[Document, ...]:
        system = super().builtins(context)
        owner = account_owner_document(context)
        return system if owner is None else (*system, owner)

    def bind(self, document: Document, binding: Binding, context: DialectContext) -> tuple[Statement, ...]:
        owners = account_owners(context)
        for ref in binding.principals:
            if ref in owners:
                raise PolicyError(
                    document.location,
                    f"binding `{binding.id}`: `{ref}` is the Alibaba Cloud account, which has full "
                    "access to all resources it owns; RAM attaches policies to RAM users, groups and roles",
                )
        statements = bind_statements(document, binding)
        if not owners:
            return statements
        # RAM policies govern RAM identities, never the account itself: a Deny bound to a group
        # the owner is also in does not reach the owner.
        exempt = NotPrincipal(frozenset(str(o) for o in owners))
        return tuple(
            replace(s, conditions=(*s.conditions, exempt)) if s.effect is Effect.DENY else s for s in statements
        )


ACCOUNT_OWNER_STATEMENT = "alibaba-builtin#AccountOwner"


def account_owners(context: DialectContext) -> tuple[PrincipalRef, ...]:
    """The configured account owners as principal selectors; ``ValueError`` for anything but a
    user or service account."""
    refs = tuple(PrincipalRef.parse(text) for text in context.alibaba_account_owners)
    for ref in refs:
        if ref.selector not in (PrincipalSelector.USER, PrincipalSelector.SERVICE_ACCOUNT):
            raise ValueError(f"an Alibaba account owner is `user:NAME` or `service-account:NAME`, not `{ref}`")
    return refs


def account_owner_document(context: DialectContext) -> Document | None:
    """Seed 003: "an Alibaba Cloud account has full access to all resources it owns". Every
    repository behind this deployment belongs to its account, so the owners may do anything:
    a standing statement, needing no binding."""
    owners = account_owners(context)
    if not owners:
        return None
    location = SourceLocation("<alibaba built-in account owner>")
    statement = Statement(
        id=ACCOUNT_OWNER_STATEMENT,
        effect=Effect.ALLOW,
        principals=owners,
        actions=ALL_ACTIONS,
        resources=(ResourcePattern("**"),),
        location=location,
        dialect=DIALECT,
    )
    return Document("AccountOwner", DIALECT, (statement,), location, needs_binding=False)


def compile_ram(text: str, location: SourceLocation, name: str, context: DialectContext) -> Document:
    """One RAM document → a :class:`Document` of statements waiting for their principals."""
    return compile_iam_json(text, location, name, VOCABULARY, context)


def expand_action(word: str, location: SourceLocation) -> tuple[list[CloudAction], bool]:
    """:func:`actions_named`, and whether the word named one action (RAM warns about none)."""
    return actions_named(word, location), False


def actions_named(word: str, location: SourceLocation) -> list[CloudAction]:
    """A RAM action (``cr:PullRepository``, ``cr:Get*``, ``*``) → the known actions it names.

    Matching ignores case, as RAM's does. A ``cr:`` name regproxy does not know is accepted as
    a console-only API (nothing at the edge) unless it is a near miss of a name the edge
    enforces, which is refused as a typo; another product's action means nothing here.
    """
    text = word.strip().lower()
    if text == "*":
        return list(ALIBABA_ACTIONS.values())
    service, sep, api = text.partition(":")
    if not sep or not service or not api:
        raise PolicyError(location, f"action `{word}` is not `service:ActionName` or `*`")
    if "*" in service:
        # `*:Get*` (ReadOnlyAccess writes these): every product's actions of that shape; here
        # the cr ones, and none is no error (`*:BatchQuery*` names no cr action).
        if not _glob_matches(service, "cr"):
            return []
        return glob_actions(f"cr:{api}", ALIBABA_ACTIONS)
    if service != "cr":
        return []
    if "*" in api:
        found = glob_actions(text, ALIBABA_ACTIONS)
        if not found:
            raise PolicyError(location, f"action `{word}` matches no cr action regproxy knows")
        return found
    if text in ALIBABA_ACTIONS:
        return [ALIBABA_ACTIONS[text]]
    if not API_NAME.fullmatch(api):
        raise PolicyError(location, f"action `{word}` is not `service:ActionName`")
    near = difflib.get_close_matches(text, _MAPPED, n=1, cutoff=0.85)
    if near:
        raise PolicyError(location, f"unknown action `{word}`; did you mean `{ALIBABA_ACTIONS[near[0]].name}`?")
    return []


@dataclass(frozen=True, slots=True)
class RamResource:
    """One ``Resource`` entry: the ``repository/`` glob it names here (None: every one)."""

    text: str
    path: str | None
    reachable: bool  # False: another product, resource type, region or account

    def reach(self, action: CloudAction) -> tuple[ResourcePattern, ...]:
        return self.patterns(Level(action.level)) if action.level in _EDGE_LEVELS else ()

    def patterns(self, level: Level) -> tuple[ResourcePattern, ...]:
        if not self.reachable:
            return ()
        if self.path is None:
            return (ResourcePattern("**"),)
        own = ResourcePattern(_glob(self.path))
        if level is Level.LISTING and "/" not in self.path and "*" not in self.path:
            # `repository/juzhong` is the namespace; listing it shows its repositories.
            return (own, ResourcePattern(f"{self.path}/**"))
        return (own,)


def parse_resource(text: str, location: SourceLocation, context: DialectContext) -> RamResource:
    if text.strip() == "*":
        return RamResource(text, None, reachable=True)
    parts = text.split(":", 4)
    if len(parts) != 5 or parts[0] != "acs":
        raise PolicyError(location, f"resource `{text}` is not `*` nor `acs:SERVICE:REGION:ACCOUNT:RESOURCE`")
    _, service, region, account, relative = parts
    if not _glob_matches(service, "cr"):
        return RamResource(text, None, reachable=False)  # another product's resource
    for segment, what in ((region, "region"), (account, "account")):
        if not segment:
            raise PolicyError(location, f"resource `{text}` has an empty {what}; write `*` or a {what} id")
    here = _glob_matches(region, context.alibaba_region) and _glob_matches(account, context.alibaba_account)
    if relative == "*":
        return RamResource(text, None, reachable=here)
    kind, _, path = relative.partition("/")
    if kind != "repository":
        if "*" in kind:
            raise PolicyError(location, f"resource `{text}`: write `*` or `repository/NAMESPACE/REPOSITORY`")
        return RamResource(text, None, reachable=False)  # instances, charts: not repositories
    if not path:
        raise PolicyError(location, f"resource `{text}` is not `…:repository/NAMESPACE[/REPOSITORY]`")
    if path != path.lower():
        raise PolicyError(location, f"resource `{text}`: repository names are lower-case")
    if not PATH.fullmatch(path) or "//" in path or path[0] == "/" or path[-1] == "/":
        raise PolicyError(location, f"resource `{text}` is not a repository pattern (`*` is the only wildcard)")
    return RamResource(text, path, reachable=here)


def _glob(ram: str) -> str:
    """A RAM glob (``*`` = any characters) → a repository glob (``**`` = across segments)."""
    return re.sub(r"\*+", "**", ram)


def _glob_matches(pattern: str, value: str) -> bool:
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), value) is not None


_EDGE_LEVELS = frozenset({Level.REPOSITORY, Level.LISTING})

VOCABULARY = Vocabulary(
    dialect=DIALECT,
    service="RAM",
    keys=Keys.spelt(pascal_case, sid=True, not_action=True),
    version="1",
    element_case="PascalCase",
    effects=("Allow", "Deny"),
    expand_action=expand_action,
    parse_resource=parse_resource,
    known_actions=ALIBABA_ACTIONS,
    normalise=str.lower,
    ip_operators={"IpAddress": False, "NotIpAddress": True},
    date_operators=date_operators(pascal_case, "equals"),
    ip_key="acs:SourceIp",
    time_key="acs:CurrentTime",
    condition_keys_case_sensitive=False,
    principal_message=(
        "a RAM policy attached to users names no `Principal` (that element belongs to "
        "resource-based and trust policies); attach this policy in bindings.yaml"
    ),
    key_hints={"notresource": "`NotResource` is not supported; list the resources instead"},
    refused_condition_keys={
        "acs:securetransport": (
            "`acs:SecureTransport` is not supported: the policy context carries no transport; "
            "serve TLS only (no plain listener) instead"
        )
    },
)
