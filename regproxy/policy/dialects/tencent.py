"""Tencent Cloud CAM policies for TCR / CCR (``version`` ``"2.0"``), as the CAM console writes them.

    {"version": "2.0",
     "statement": [{"effect": "allow",                            # allow | deny
                    "action": ["ccr:pull", "ccr:push"],          # string or list; `*` wildcards
                    "resource": "qcs::ccr:::repo/foo/*",          # string or list; `*` = any chars
                    "condition": {"ip_equal": {"qcs:ip": ["10.0.0.0/8"]}}}]}   # optional

Element names are lower-case, as CAM requires. A document names no principal: it is attached to
users, groups and service accounts by ``bindings.yaml``. Resources are CAM six-segment strings
``qcs:PROJECT:SERVICE:REGION:ACCOUNT:RESOURCE`` or ``*``; for the registry the resource is
``repo/NAMESPACE`` (namespace actions), ``repo/NAMESPACE/NAME`` (repository actions) or
``repo/NAMESPACE/NAME:TAG`` (``ccr:DeleteTag``). A pattern is matched against that string as
CAM matches it: ``*`` stands for any characters, ``/`` and ``:`` included. So
``qcs::ccr:::repo/foo/*`` covers every repository of ``foo`` and every tag in them, while
``qcs::ccr:::repo/foo/bar`` names the repository and none of its tags.

Actions come from the Personal Edition's two API generations (the seed's ``ccr:`` v2.0 names and
their ``tcr:…Personal`` v3.0 successors) and the TCR Enterprise data-plane names; the table
:data:`TENCENT_ACTIONS` maps each to canonical actions. policies/README.md (tencent section) is the
user-facing version of this module, with every decision the Tencent documents leave open.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from enum import StrEnum

from regproxy.errors import PolicyError, SourceLocation
from regproxy.oci.actions import Action
from regproxy.policy.dialects import Binding, DialectContext, Document, iamjson
from regproxy.policy.dialects.attached import bind_statements
from regproxy.policy.dialects.iamjson import CloudAction
from regproxy.policy.model import (
    ResourcePattern,
    Statement,
)

DIALECT = "tencent"
SERVICES = ("ccr", "tcr")


class Level(StrEnum):
    """Which resource string CAM checks an action against."""

    NAMESPACE = "namespace"  # qcs::ccr:::repo/NAMESPACE — nothing a registry edge enforces
    REPOSITORY = "repository"  # qcs::ccr:::repo/NAMESPACE/NAME
    TAG = "tag"  # qcs::ccr:::repo/NAMESPACE/NAME:TAG
    ENTERPRISE = "enterprise"  # qcs::tcr:REGION:ACCOUNT:repository/INSTANCE/… — only `*` reaches it
    CONSOLE = "console"  # operation-level console/API call: nothing at the edge


_PULL = frozenset({Action.PULL, Action.LIST})
# Deleting a repository removes its content without naming a tag: manifests by digest and
# blobs. Deleting a tag is `ccr:DeleteTag`, its own permission on its own resource.
_DELETE_CONTENT = frozenset({Action.DELETE_MANIFEST, Action.DELETE_BLOB})
_PUSH = frozenset({Action.PUSH, Action.TAG_CREATE, Action.TAG_OVERWRITE})
_CREATE = frozenset({Action.CREATE_REPOSITORY})
_DELETE_TAG = frozenset({Action.DELETE_TAG})
_CATALOG = frozenset({Action.CATALOG})
_LIST = frozenset({Action.LIST})
_NONE: frozenset[Action] = frozenset()

_R, _T, _N, _E, _C = Level.REPOSITORY, Level.TAG, Level.NAMESPACE, Level.ENTERPRISE, Level.CONSOLE

_TABLE: tuple[tuple[str, Level, frozenset[Action]], ...] = (
    # Personal Edition, API v2.0 (the seed document's names)
    ("ccr:pull", _R, _PULL),
    ("ccr:push", _R, _PUSH),
    ("ccr:CreateRepository", _R, _CREATE),
    ("ccr:DeleteRepository", _R, _DELETE_CONTENT),
    ("ccr:BatchDeleteRepository", _R, _DELETE_CONTENT),
    ("ccr:DeleteTag", _T, _DELETE_TAG),
    ("ccr:BatchDeleteTag", _R, _DELETE_TAG),
    ("ccr:GetUserRepositoryList", _R, _CATALOG),
    ("ccr:CreateCCRNamespace", _N, _NONE),
    ("ccr:DeleteUserNamespace", _N, _NONE),
    # Personal Edition, API v3.0 (TCR's "Update Guide of Resource Level APIs")
    ("tcr:PullRepositoryPersonal", _R, _PULL),
    ("tcr:PushRepositoryPersonal", _R, _PUSH),
    ("tcr:CreateRepositoryPersonal", _R, _CREATE),
    ("tcr:DeleteRepositoryPersonal", _R, _DELETE_CONTENT),
    ("tcr:BatchDeleteRepositoryPersonal", _R, _DELETE_CONTENT),
    ("tcr:DeleteImagePersonal", _R, _DELETE_TAG),
    ("tcr:BatchDeleteImagePersonal", _R, _DELETE_TAG),
    ("tcr:DescribeRepositoryOwnerPersonal", _R, _CATALOG),
    ("tcr:DescribeImagePersonal", _R, _LIST),
    ("tcr:CreateNamespacePersonal", _N, _NONE),
    ("tcr:DeleteNamespacePersonal", _N, _NONE),
    # Enterprise Edition data plane: its resources name an instance, so only `*` reaches them
    ("tcr:PullRepository", _E, _PULL),
    ("tcr:PushRepository", _E, _PUSH),
    ("tcr:CreateRepository", _E, _CREATE),
    ("tcr:DeleteRepository", _E, _DELETE_CONTENT),
    ("tcr:DeleteImage", _E, _DELETE_TAG),
    ("tcr:DescribeRepositories", _E, _CATALOG),
    ("tcr:DescribeImages", _E, _LIST),
)

# Real API names that mean nothing at a registry edge (console, instance and namespace
# management). Listed so that wildcards find them and the typo check never mistakes them.
_CONSOLE_ONLY = (
    "tcr:DescribeNamespacePersonal", "tcr:DescribeRepositoryPersonal",
    "tcr:DescribeRepositoryFilterPersonal", "tcr:DescribeImageFilterPersonal",
    "tcr:DescribeFavorRepositoryPersonal", "tcr:DescribeUserQuotaPersonal",
    "tcr:ValidateRepositoryExistPersonal", "tcr:ModifyRepositoryInfoPersonal",
    "tcr:ModifyRepositoryAccessPersonal", "tcr:DescribeImageLifecyclePersonal",
    "tcr:CreateImageLifecyclePersonal", "tcr:DeleteImageLifecyclePersonal",
    "tcr:CreateApplicationTokenPersonal", "tcr:CreateApplicationTriggerPersonal",
    "tcr:DescribeApplicationTriggerPersonal", "tcr:AuthorizeUserImageBuildConfig",
    "tcr:CreateInstance", "tcr:DeleteInstance", "tcr:DescribeInstances",
    "tcr:CreateInstanceToken", "tcr:CreateNamespace", "tcr:DeleteNamespace",
    "tcr:DescribeNamespaces", "tcr:ModifyRepository", "tcr:DescribeImageManifests",
    "tcr:CreateHelmChart", "tcr:DescribeHelmCharts", "tcr:CreateCustomAccount",
    "tcr:DescribeCustomAccounts", "tcr:CreateGCJob", "tcr:CreateImmutableTagRules",
    "tcr:CreateImageAccelerationService",
)  # fmt: skip

TENCENT_ACTIONS: dict[str, CloudAction] = {
    **{name: CloudAction(name, level, acts) for name, level, acts in _TABLE},
    **{name: CloudAction(name, _C, _NONE) for name in _CONSOLE_ONLY},
}
_EDGE_LEVELS = frozenset({Level.REPOSITORY, Level.TAG, Level.ENTERPRISE})
_MAPPED = [a.name for a in TENCENT_ACTIONS.values() if a.actions]

# The presets. The TCR pair is Tencent's published JSON; Tencent publishes only the effect of
# the CCR pair ("the same permissions as the administrator"; read-only forbids push, namespace
# and repository create/delete and tag delete), which these statements reproduce.
PRESETS: dict[str, str] = {
    "QcloudCCRFullAccess": """{"version": "2.0", "statement": [
        {"action": ["ccr:*"], "resource": "*", "effect": "allow"}]}""",
    "QcloudCCRReadOnlyAccess": """{"version": "2.0", "statement": [
        {"action": ["ccr:Get*", "ccr:pull"], "resource": "*", "effect": "allow"}]}""",
    "QcloudTCRFullAccess": """{"version": "2.0", "statement": [
        {"action": ["tcr:*"], "resource": "*", "effect": "allow"}]}""",
    "QcloudTCRReadOnlyAccess": """{"version": "2.0", "statement": [
        {"action": ["tcr:Describe*", "tcr:PullRepository*"],
         "resource": "*", "effect": "allow"}]}""",
}

_TAG = re.compile(r"[A-Za-z0-9._*-]+")


class TencentDialect(iamjson.AttachedJsonDialect):
    name = DIALECT
    builtin_texts = PRESETS
    builtin_kind = "preset"
    cloud = "Tencent"

    def compile_named(self, text: str, location: SourceLocation, name: str, context: DialectContext) -> Document:
        return compile_cam(text, location, name)

    def bind(self, document: Document, binding: Binding, context: DialectContext) -> tuple[Statement, ...]:
        return bind_statements(document, binding)


def compile_cam(text: str, location: SourceLocation, name: str) -> Document:
    """One CAM document → a :class:`Document` of statements waiting for their principals."""
    return iamjson.compile_iam_json(text, location, name, VOCABULARY, DialectContext())


def expand_action(word: str, location: SourceLocation) -> tuple[list[CloudAction], bool]:
    """A CAM action (``ccr:pull``, ``tcr:Describe*``, ``*``) → the known actions it names.

    Returns the actions and whether the word named one action explicitly (no wildcard).
    Matching is case-sensitive. A ``ccr:``/``tcr:`` name regproxy does not know is accepted as
    a console-only API (nothing at the edge) unless it is a near miss of a name the edge
    enforces, which is refused as a typo.
    """
    text = word.strip().removeprefix("name/")  # CAM also writes `name/ccr:pull`
    if text == "*":
        return list(TENCENT_ACTIONS.values()), False
    service, sep, api = text.partition(":")
    if not sep or not service or not api or "*" in service:
        raise PolicyError(location, f"action `{word}` is not `service:ApiName` or `*`")
    if service not in SERVICES:
        return [], False  # another product's permission: nothing at a registry edge
    if "*" in api:
        found = iamjson.glob_actions(text, TENCENT_ACTIONS)
        if not found:
            raise PolicyError(location, f"action `{word}` matches no {service} action regproxy knows")
        return found, False
    if text in TENCENT_ACTIONS:
        return [TENCENT_ACTIONS[text]], True
    if not iamjson.API_NAME.fullmatch(api):
        raise PolicyError(location, f"action `{word}` is not `service:ApiName`")
    near = difflib.get_close_matches(text.lower(), [n.lower() for n in _MAPPED], n=1, cutoff=0.85)
    if near:
        spelled = next(n for n in _MAPPED if n.lower() == near[0])
        raise PolicyError(location, f"unknown action `{word}`; did you mean `{spelled}`?")
    return [], False


def _unreachable(action: CloudAction) -> str | None:
    if action.level not in _EDGE_LEVELS:
        return None
    if action.level is Level.TAG:
        return (
            f"`{action.name}` is checked against `qcs::ccr:::repo/NAMESPACE/NAME:TAG` and no "
            "resource of this statement can name a tag, so it grants or denies nothing "
            "(write `…/NAME:*` or end it with `*`)"
        )
    if action.level is Level.ENTERPRISE:
        return (
            f"`{action.name}` is a TCR Enterprise action, reached here only through the "
            f"resource `*`, so this statement grants or denies nothing with it; for the "
            f"Personal Edition write `{action.name}Personal`"
        )
    return (
        f"`{action.name}` is checked against `qcs::{action.service}:::repo/NAMESPACE/NAME` "
        f"and no resource of this statement names a {action.service} repository (a "
        "tag-qualified resource names a tag, which only `ccr:DeleteTag` is checked against), "
        "so it grants or denies nothing"
    )


@dataclass(frozen=True, slots=True)
class CamResource:
    """One ``resource`` entry: which services it covers and its ``repo/`` glob (None: all)."""

    text: str
    services: frozenset[str]  # the products whose registry resources it can name
    path: str | None  # the glob after `repo/`; None: every resource of those services

    def reach(self, action: CloudAction) -> tuple[ResourcePattern, ...]:
        return self.patterns(action.service, Level(action.level)) if action.level in _EDGE_LEVELS else ()

    def patterns(self, service: str, level: Level) -> tuple[ResourcePattern, ...]:
        """The repository/tag patterns this resource covers at ``level`` for ``service``."""
        if service not in self.services:
            return ()
        if self.path is None:
            return (ResourcePattern("**"),)
        if level is Level.REPOSITORY:
            return () if ":" in self.path else (ResourcePattern(_glob(self.path)),)
        if level is Level.TAG:
            return _tag_patterns(self.path)
        return ()  # namespaces: nothing at the edge; Enterprise: `repo/` never names it


def parse_resource(text: str, location: SourceLocation, context: DialectContext | None = None) -> CamResource:
    if text == "*":
        return CamResource(text, frozenset(SERVICES), None)
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "qcs":
        raise PolicyError(
            location,
            f"resource `{text}` is not `*` nor `qcs:PROJECT:SERVICE:REGION:ACCOUNT:RESOURCE`",
        )
    _, project, service, region, account, rest = parts
    if service not in SERVICES:
        return CamResource(text, frozenset(), None)  # another product's
    if project:
        raise PolicyError(location, f"resource `{text}`: leave the project segment empty (`qcs::{service}:…`)")
    kind, slash, path = rest.partition("/")
    if kind in ("repository", "instance") and service == "tcr":
        raise PolicyError(
            location,
            f"resource `{text}` names a TCR Enterprise instance, which regproxy does not have; "
            "use `*` or the Personal Edition form `qcs::tcr:::repo/NAMESPACE/NAME`",
        )
    if region not in ("", "*") or account not in ("", "*"):
        raise PolicyError(
            location,
            f"resource `{text}`: regproxy fronts one registry and knows no Tencent region or "
            "account; leave both segments empty (`qcs::ccr:::repo/…`)",
        )
    if rest == "*":
        return CamResource(text, frozenset({service}), None)
    if kind != "repo" or not slash or not path:
        raise PolicyError(location, f"resource `{text}` is not `qcs::{service}:::repo/NAMESPACE[/NAME[:TAG]]`")
    name, colon, tag = path.partition(":")
    if name != name.lower():
        raise PolicyError(location, f"resource `{text}`: repository names are lower-case")
    if not iamjson.PATH.fullmatch(name) or "//" in name or name[0] == "/" or name[-1] == "/":
        raise PolicyError(location, f"resource `{text}` is not a repository pattern (`*` is the only wildcard)")
    if colon and not _TAG.fullmatch(tag):
        raise PolicyError(location, f"resource `{text}` has an invalid tag pattern")
    return CamResource(text, frozenset({service}), path)


def _glob(cam: str) -> str:
    """A CAM glob (``*`` = any characters) → a repository glob (``**`` = across segments)."""
    return re.sub(r"\*+", "**", cam)


def _tag_patterns(path: str) -> tuple[ResourcePattern, ...]:
    """Patterns for ``NAMESPACE/NAME:TAG`` strings that the CAM glob ``path`` matches.

    With a ``:`` the glob splits exactly (names and tags hold no ``:``). Without one, some ``*``
    must swallow the ``:``: for each ``*``, the text before it is a repository prefix and the
    text after it a tag suffix — the union is exact.
    """
    if ":" in path:
        repository, _, tag = path.partition(":")
        return (ResourcePattern(_glob(repository), None if set(tag) == {"*"} else tag),)
    out: dict[ResourcePattern, None] = {}
    for i, ch in enumerate(path):
        if ch != "*":
            continue
        suffix = path[i + 1 :]
        if "/" in suffix:
            continue  # a tag holds no `/`
        tag_glob = None if set(suffix) <= {"*"} else "*" + suffix
        out[ResourcePattern(_glob(path[:i]) + "**", tag_glob)] = None
    return tuple(out)


VOCABULARY = iamjson.Vocabulary(
    dialect=DIALECT,
    service="CAM",
    keys=iamjson.Keys.spelt(str.lower),
    version="2.0",
    element_case="lower-case",
    effects=("allow", "deny"),
    expand_action=expand_action,
    parse_resource=parse_resource,
    known_actions=TENCENT_ACTIONS,
    normalise=str,
    ip_operators={"ip_equal": False, "ip_not_equal": True},
    date_operators=iamjson.date_operators(str, "equal"),
    ip_key="qcs:ip",
    time_key="qcs:current_time",
    condition_keys_case_sensitive=True,
    principal_message=(
        "a CAM policy attached to users names no `principal` (that element belongs to "
        "role trust and bucket policies); attach this policy in bindings.yaml"
    ),
    unreachable=_unreachable,
)
