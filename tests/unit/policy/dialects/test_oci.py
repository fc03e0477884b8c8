"""Decision corpus of the OCI dialect (seed 001, "Policies to Control Repository Access").

Every example statement of the seed is a case here, then the cases the seed leaves implicit,
decided as policies/README.md (oci section) writes down, then the errors. Each case names the behaviour
it pins down in its id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from regproxy.errors import PolicyError, SourceLocation
from regproxy.identity.principal import ANONYMOUS, Principal, PrincipalKind, make_principal
from regproxy.oci.actions import ALL_ACTIONS, Action
from regproxy.policy.dialects import Binding, DialectContext
from regproxy.policy.dialects.oci import OciDialect, RepositoryNamePattern
from regproxy.policy.evaluate import compile_policy, evaluate_reference
from regproxy.policy.load import PolicySetInvalid, compile_policy_set
from regproxy.policy.model import Decision, Effect, Outcome, RequestContext

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
FILE = "oci/acme.policy"

# acme-compartment holds namespaces acme and acme-web-app; its sub-compartment team holds
# acme-team; other-compartment holds other. acme-web-app-legacy is in no compartment: only
# tenancy statements reach it.
CONTEXT = DialectContext(
    oci_compartments={
        "acme-compartment": ("acme", "acme-web-app"),
        "acme-compartment:team": ("acme-team",),
        "other-compartment": ("other",),
    }
)

A = Action
ALLOW, DENY = Effect.ALLOW, Effect.DENY

# The seed's example statements, verbatim.
VIEWERS_TENANCY = "Allow group acme-viewers to inspect repos in tenancy"
VIEWERS_COMPARTMENT = "Allow group acme-viewers to inspect repos in compartment acme-compartment"
PULLERS_TENANCY = "Allow group acme-pullers to read repos in tenancy"
PULLERS_COMPARTMENT = "Allow group acme-pullers to read repos in compartment acme-compartment"
PULLERS_PREFIX_TENANCY = (
    "Allow group acme-pullers to read repos in tenancy where all { target.repo.name=/acme-web-app*/ }"
)
PULLERS_PREFIX_COMPARTMENT = (
    "Allow group acme-pullers to read repos in compartment acme-compartment "
    "where all { target.repo.name=/acme-web-app*/ }"
)
PUSHERS_TENANCY = "Allow group acme-pushers to manage repos in tenancy"
PUSHERS_RESTRICTED = (
    "Allow group acme-pushers to manage repos in tenancy where ANY {request.permission = "
    "'REPOSITORY_READ', request.permission = 'REPOSITORY_UPDATE', request.permission = "
    "'REPOSITORY_CREATE'}"
)
PUSHERS_COMPARTMENT = "Allow group acme-pushers to manage repos in compartment acme-compartment"
MANAGERS_TENANCY = "Allow group acme-managers to manage repos in tenancy"
MANAGERS_COMPARTMENT = "Allow group acme-managers to manage repos in compartment acme-compartment"


@dataclass(frozen=True)
class Case:
    id: str
    policy: str  # the text of oci/acme.policy
    groups: tuple[str, ...]
    action: Action
    repository: str
    effect: Effect
    statements: tuple[str, ...] = ()  # the deciding statement ids (suffixes after FILE#)
    tag: str | None = None
    outcome: Outcome | None = None  # checked when given


def _principal(groups: tuple[str, ...]) -> Principal:
    return make_principal(PrincipalKind.USER, "alice", groups=groups)


def decide(
    files: dict[str, str], principal: Principal, action: Action, repository: str, tag: str | None = None
) -> Decision:
    policy_set = compile_policy_set(files, CONTEXT, 7)
    context = RequestContext(principal, None, NOW)
    decision = compile_policy(policy_set).evaluate(context, action, repository, tag)
    # The indexed evaluator and the reference interpreter agree on every case of the corpus
    # (statement order aside).
    reference = evaluate_reference(policy_set, context, action, repository, tag)
    assert (decision.effect, decision.outcome) == (reference.effect, reference.outcome)
    assert set(decision.statements) == set(reference.statements)
    return decision


def _ids(*suffixes: str) -> tuple[str, ...]:
    return tuple(s if s.startswith("oci-builtin") else f"{FILE}#{s}" for s in suffixes)


SEED_CASES = [
    # acme-viewers: "see a list of all repositories ... Users will not be able to view the images
    # or layers in a repository, push or pull images".
    Case("viewers-tenancy-see-catalog", VIEWERS_TENANCY, ("acme-viewers",), A.CATALOG, "acme/web", ALLOW, ("1",)),
    Case(
        "viewers-tenancy-see-any-compartment", VIEWERS_TENANCY, ("acme-viewers",), A.CATALOG, "other/api", ALLOW, ("1",)
    ),
    Case(
        "viewers-tenancy-no-pull",
        VIEWERS_TENANCY,
        ("acme-viewers",),
        A.PULL,
        "acme/web",
        DENY,
        outcome=Outcome.DEFAULT_DENY,
    ),
    Case("viewers-tenancy-no-tag-list", VIEWERS_TENANCY, ("acme-viewers",), A.LIST, "acme/web", DENY),
    Case("viewers-tenancy-no-push", VIEWERS_TENANCY, ("acme-viewers",), A.PUSH, "acme/web", DENY),
    Case(
        "viewers-compartment-see-own",
        VIEWERS_COMPARTMENT,
        ("acme-viewers",),
        A.CATALOG,
        "acme-web-app/x",
        ALLOW,
        ("1",),
    ),
    Case(
        "viewers-compartment-see-sub-compartment",
        VIEWERS_COMPARTMENT,
        ("acme-viewers",),
        A.CATALOG,
        "acme-team/tool",
        ALLOW,
        ("1",),
    ),
    Case("viewers-compartment-not-other", VIEWERS_COMPARTMENT, ("acme-viewers",), A.CATALOG, "other/api", DENY),
    Case(
        "viewers-compartment-not-outside",
        VIEWERS_COMPARTMENT,
        ("acme-viewers",),
        A.CATALOG,
        "acme-web-app-legacy/x",
        DENY,
    ),
    Case("viewers-compartment-no-pull", VIEWERS_COMPARTMENT, ("acme-viewers",), A.PULL, "acme/web", DENY),
    # acme-pullers: "pull images (layers and manifests) from any repository".
    Case("pullers-tenancy-pull", PULLERS_TENANCY, ("acme-pullers",), A.PULL, "other/api", ALLOW, ("1",)),
    Case(
        "pullers-tenancy-pull-by-tag", PULLERS_TENANCY, ("acme-pullers",), A.PULL, "acme/web", ALLOW, ("1",), tag="v1"
    ),
    Case("pullers-tenancy-tag-list", PULLERS_TENANCY, ("acme-pullers",), A.LIST, "acme/web", ALLOW, ("1",)),
    Case(
        "pullers-tenancy-read-includes-inspect",
        PULLERS_TENANCY,
        ("acme-pullers",),
        A.CATALOG,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case("pullers-tenancy-no-push", PULLERS_TENANCY, ("acme-pullers",), A.PUSH, "acme/web", DENY),
    Case("pullers-tenancy-no-tag-create", PULLERS_TENANCY, ("acme-pullers",), A.TAG_CREATE, "acme/web", DENY, tag="v2"),
    Case("pullers-tenancy-no-delete", PULLERS_TENANCY, ("acme-pullers",), A.DELETE_MANIFEST, "acme/web", DENY),
    Case("pullers-compartment-pull", PULLERS_COMPARTMENT, ("acme-pullers",), A.PULL, "acme/web", ALLOW, ("1",)),
    Case(
        "pullers-compartment-pull-sub-compartment",
        PULLERS_COMPARTMENT,
        ("acme-pullers",),
        A.PULL,
        "acme-team/tool",
        ALLOW,
        ("1",),
    ),
    Case("pullers-compartment-not-other", PULLERS_COMPARTMENT, ("acme-pullers",), A.PULL, "other/api", DENY),
    # acme-pullers restricted to names starting with "acme-web-app".
    Case(
        "prefix-tenancy-pull-exact-prefix",
        PULLERS_PREFIX_TENANCY,
        ("acme-pullers",),
        A.PULL,
        "acme-web-app",
        ALLOW,
        ("1",),
    ),
    Case(
        "prefix-tenancy-pull-nested",
        PULLERS_PREFIX_TENANCY,
        ("acme-pullers",),
        A.PULL,
        "acme-web-app/frontend",
        ALLOW,
        ("1",),
    ),
    Case(
        "prefix-tenancy-pull-longer-name",
        PULLERS_PREFIX_TENANCY,
        ("acme-pullers",),
        A.PULL,
        "acme-web-app-legacy/x",
        ALLOW,
        ("1",),
    ),
    Case("prefix-tenancy-not-other-name", PULLERS_PREFIX_TENANCY, ("acme-pullers",), A.PULL, "acme/web", DENY),
    Case(
        "prefix-tenancy-name-is-full-name",
        PULLERS_PREFIX_TENANCY,
        ("acme-pullers",),
        A.PULL,
        "other/acme-web-app",
        DENY,
    ),
    Case("prefix-tenancy-no-push", PULLERS_PREFIX_TENANCY, ("acme-pullers",), A.PUSH, "acme-web-app/frontend", DENY),
    Case(
        "prefix-tenancy-listing-has-no-repo-name",
        PULLERS_PREFIX_TENANCY,
        ("acme-pullers",),
        A.CATALOG,
        "acme-web-app/frontend",
        DENY,
    ),
    Case(
        "prefix-compartment-pull",
        PULLERS_PREFIX_COMPARTMENT,
        ("acme-pullers",),
        A.PULL,
        "acme-web-app/frontend",
        ALLOW,
        ("1",),
    ),
    Case(
        "prefix-compartment-not-outside-compartment",
        PULLERS_PREFIX_COMPARTMENT,
        ("acme-pullers",),
        A.PULL,
        "acme-web-app-legacy/x",
        DENY,
    ),
    Case("prefix-compartment-not-other-name", PULLERS_PREFIX_COMPARTMENT, ("acme-pullers",), A.PULL, "acme/web", DENY),
    # acme-pushers, manage in tenancy: push and pull, and (too permissive) delete.
    Case("pushers-tenancy-push", PUSHERS_TENANCY, ("acme-pushers",), A.PUSH, "acme/web", ALLOW, ("1",)),
    Case(
        "pushers-tenancy-tag-create",
        PUSHERS_TENANCY,
        ("acme-pushers",),
        A.TAG_CREATE,
        "acme/web",
        ALLOW,
        ("1",),
        tag="v2",
    ),
    Case(
        "pushers-tenancy-tag-overwrite",
        PUSHERS_TENANCY,
        ("acme-pushers",),
        A.TAG_OVERWRITE,
        "acme/web",
        ALLOW,
        ("1",),
        tag="latest",
    ),
    Case("pushers-tenancy-pull", PUSHERS_TENANCY, ("acme-pushers",), A.PULL, "acme/web", ALLOW, ("1",)),
    Case(
        "pushers-tenancy-create-on-push",
        PUSHERS_TENANCY,
        ("acme-pushers",),
        A.CREATE_REPOSITORY,
        "acme/new",
        ALLOW,
        ("1",),
    ),
    Case(
        "pushers-tenancy-manage-includes-delete",
        PUSHERS_TENANCY,
        ("acme-pushers",),
        A.DELETE_TAG,
        "acme/web",
        ALLOW,
        ("1",),
        tag="old",
    ),
    # acme-pushers restricted with ANY {...}: one statement per condition.
    Case("restricted-pull-from-read", PUSHERS_RESTRICTED, ("acme-pushers",), A.PULL, "acme/web", ALLOW, ("1.1",)),
    Case("restricted-push-from-update", PUSHERS_RESTRICTED, ("acme-pushers",), A.PUSH, "acme/web", ALLOW, ("1.2",)),
    Case(
        "restricted-tag-from-update",
        PUSHERS_RESTRICTED,
        ("acme-pushers",),
        A.TAG_CREATE,
        "acme/web",
        ALLOW,
        ("1.2",),
        tag="v3",
    ),
    Case(
        "restricted-create-from-create",
        PUSHERS_RESTRICTED,
        ("acme-pushers",),
        A.CREATE_REPOSITORY,
        "acme/new",
        ALLOW,
        ("1.3",),
    ),
    Case("restricted-no-delete", PUSHERS_RESTRICTED, ("acme-pushers",), A.DELETE_MANIFEST, "acme/web", DENY),
    Case("restricted-no-delete-tag", PUSHERS_RESTRICTED, ("acme-pushers",), A.DELETE_TAG, "acme/web", DENY, tag="v1"),
    Case("restricted-no-inspect", PUSHERS_RESTRICTED, ("acme-pushers",), A.CATALOG, "acme/web", DENY),
    # acme-pushers in a compartment: push to existing repositories, never create on push.
    Case("pushers-compartment-push", PUSHERS_COMPARTMENT, ("acme-pushers",), A.PUSH, "acme/web", ALLOW, ("1",)),
    Case(
        "pushers-compartment-no-create-on-push",
        PUSHERS_COMPARTMENT,
        ("acme-pushers",),
        A.CREATE_REPOSITORY,
        "acme/new",
        DENY,
        outcome=Outcome.DEFAULT_DENY,
    ),
    Case("pushers-compartment-not-other", PUSHERS_COMPARTMENT, ("acme-pushers",), A.PUSH, "other/api", DENY),
    # acme-managers: any operation, including delete.
    Case(
        "managers-tenancy-delete-manifest",
        MANAGERS_TENANCY,
        ("acme-managers",),
        A.DELETE_MANIFEST,
        "other/api",
        ALLOW,
        ("1",),
    ),
    Case(
        "managers-tenancy-delete-blob", MANAGERS_TENANCY, ("acme-managers",), A.DELETE_BLOB, "acme/web", ALLOW, ("1",)
    ),
    Case(
        "managers-tenancy-create",
        MANAGERS_TENANCY,
        ("acme-managers",),
        A.CREATE_REPOSITORY,
        "brand-new/repo",
        ALLOW,
        ("1",),
    ),
    Case(
        "managers-compartment-delete",
        MANAGERS_COMPARTMENT,
        ("acme-managers",),
        A.DELETE_TAG,
        "acme/web",
        ALLOW,
        ("1",),
        tag="v1",
    ),
    Case(
        "managers-compartment-push", MANAGERS_COMPARTMENT, ("acme-managers",), A.PUSH, "acme-team/tool", ALLOW, ("1",)
    ),
    Case(
        "managers-compartment-no-create-on-push",
        MANAGERS_COMPARTMENT,
        ("acme-managers",),
        A.CREATE_REPOSITORY,
        "acme/new",
        DENY,
    ),
    Case("managers-compartment-not-other", MANAGERS_COMPARTMENT, ("acme-managers",), A.DELETE_BLOB, "other/api", DENY),
    # "users in the tenancy's Administrators group can perform any operation on any repository".
    Case(
        "administrators-delete-anywhere",
        VIEWERS_TENANCY,
        ("Administrators",),
        A.DELETE_BLOB,
        "other/api",
        ALLOW,
        ("oci-builtin#Administrators",),
    ),
    Case(
        "administrators-create-anywhere",
        VIEWERS_COMPARTMENT,
        ("Administrators",),
        A.CREATE_REPOSITORY,
        "new/repo",
        ALLOW,
        ("oci-builtin#Administrators",),
    ),
    Case(
        "administrators-plus-own-statement",
        VIEWERS_TENANCY,
        ("Administrators", "acme-viewers"),
        A.CATALOG,
        "acme/web",
        ALLOW,
        ("1", "oci-builtin#Administrators"),
    ),
    Case(
        "other-groups-get-nothing",
        MANAGERS_TENANCY,
        ("acme-viewers",),
        A.PULL,
        "acme/web",
        DENY,
        outcome=Outcome.DEFAULT_DENY,
    ),
]


IMPLICIT_CASES = [
    # OCI's verb table: `use` adds nothing to `read` for repos, so it cannot push.
    Case(
        "use-equals-read-pull", "Allow group devs to use repos in tenancy", ("devs",), A.PULL, "acme/web", ALLOW, ("1",)
    ),
    Case("use-equals-read-no-push", "Allow group devs to use repos in tenancy", ("devs",), A.PUSH, "acme/web", DENY),
    Case(
        "all-resources-covers-repos",
        "Allow group devs to manage all-resources in tenancy",
        ("devs",),
        A.DELETE_BLOB,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    # Keywords are case-insensitive; spare blanks and line breaks have no effect.
    Case(
        "keywords-any-case", "ALLOW GROUP devs TO READ REPOS IN TENANCY", ("devs",), A.PULL, "acme/web", ALLOW, ("1",)
    ),
    Case(
        "statement-over-several-lines",
        "Allow group devs\n  to read repos\n  in compartment acme-compartment\n",
        ("devs",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "comments-and-blank-lines",
        "# pullers\n\nAllow group devs to read repos in tenancy\n",
        ("devs",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("3",),
    ),
    # Several groups, with or without a repeated `group`.
    Case(
        "groups-comma-second",
        "Allow group a-team, b-team to read repos in tenancy",
        ("b-team",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "groups-comma-repeated-keyword",
        "Allow group a-team, group b-team to read repos in tenancy",
        ("b-team",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "group-names-are-case-sensitive",
        "Allow group Devs to read repos in tenancy",
        ("devs",),
        A.PULL,
        "acme/web",
        DENY,
    ),
    # Identity domains: Default/<g> is <g>; another domain stays in the group name.
    Case(
        "default-domain-is-implied",
        "Allow group Default/devs to read repos in tenancy",
        ("devs",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "quoted-domain-and-group",
        "Allow group 'Corp'/'Dev Team' to read repos in tenancy",
        ("Corp/Dev Team",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    # any-user / any-group: every authenticated principal.
    Case(
        "any-user-is-authenticated",
        "Allow any-user to read repos in tenancy",
        ("nobody-special",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "any-group-is-authenticated",
        "Allow any-group to inspect repos in tenancy",
        (),
        A.CATALOG,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    # Permission lists instead of verb + resource type.
    Case(
        "permission-list-update",
        "Allow group ci to {REPOSITORY_READ, REPOSITORY_UPDATE} in tenancy",
        ("ci",),
        A.PUSH,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "permission-list-no-create",
        "Allow group ci to {REPOSITORY_READ, REPOSITORY_UPDATE} in tenancy",
        ("ci",),
        A.CREATE_REPOSITORY,
        "acme/new",
        DENY,
    ),
    # Permission conditions: = narrows, != removes, and a verb never grants beyond itself.
    Case(
        "permission-not-equal-removes",
        "Allow group ci to manage repos in tenancy where request.permission != 'REPOSITORY_DELETE'",
        ("ci",),
        A.DELETE_TAG,
        "acme/web",
        DENY,
        tag="v1",
    ),
    Case(
        "permission-not-equal-keeps-rest",
        "Allow group ci to manage repos in tenancy where request.permission != 'REPOSITORY_DELETE'",
        ("ci",),
        A.PUSH,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "permission-outside-verb-grants-nothing",
        "Allow group ci to read repos in tenancy where request.permission = 'REPOSITORY_UPDATE'",
        ("ci",),
        A.PUSH,
        "acme/web",
        DENY,
    ),
    Case(
        "permission-values-any-case",
        "Allow group ci to manage repos in tenancy where request.permission = 'repository_delete'",
        ("ci",),
        A.DELETE_BLOB,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "permission-pattern",
        "Allow group ci to manage repos in tenancy where request.permission = /REPOSITORY_DEL*/",
        ("ci",),
        A.DELETE_BLOB,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "repository-manage-alone-names-no-registry-request",
        "Allow group ci to manage repos in tenancy where request.permission = 'REPOSITORY_MANAGE'",
        ("ci",),
        A.PUSH,
        "acme/web",
        DENY,
    ),
    Case(
        "create-in-compartment-names-no-registry-request",
        "Allow group ci to manage repos in compartment acme-compartment where request.permission = 'REPOSITORY_CREATE'",
        ("ci",),
        A.CREATE_REPOSITORY,
        "acme/new",
        DENY,
    ),
    # Name conditions: exact strings, case-insensitive values, the other pattern forms, !=.
    Case(
        "name-exact",
        "Allow group ci to read repos in tenancy where target.repo.name = 'acme/web'",
        ("ci",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "name-exact-not-below",
        "Allow group ci to read repos in tenancy where target.repo.name = 'acme/web'",
        ("ci",),
        A.PULL,
        "acme/web/sub",
        DENY,
    ),
    Case(
        "name-value-case-insensitive",
        "Allow group ci to read repos in tenancy where target.repo.name = 'ACME/Web'",
        ("ci",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "name-quoted-star-is-literal",
        "Allow group ci to read repos in tenancy where target.repo.name = 'acme*'",
        ("ci",),
        A.PULL,
        "acme/web",
        DENY,
    ),
    Case(
        "name-ends-with",
        "Allow group ci to read repos in tenancy where target.repo.name = /*-prod/",
        ("ci",),
        A.PULL,
        "team/api-prod",
        ALLOW,
        ("1",),
    ),
    Case(
        "name-ends-with-no",
        "Allow group ci to read repos in tenancy where target.repo.name = /*-prod/",
        ("ci",),
        A.PULL,
        "team/api-prod-old",
        DENY,
    ),
    Case(
        "name-contains",
        "Allow group ci to read repos in tenancy where target.repo.name = /*web*/",
        ("ci",),
        A.PULL,
        "acme/old-web-ui",
        ALLOW,
        ("1",),
    ),
    Case(
        "name-not-equal-excludes",
        "Allow group ci to read repos in tenancy where target.repo.name != 'acme/secret'",
        ("ci",),
        A.PULL,
        "acme/secret",
        DENY,
    ),
    Case(
        "name-not-equal-keeps-rest",
        "Allow group ci to read repos in tenancy where target.repo.name != 'acme/secret'",
        ("ci",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "name-not-equal-no-listing",
        "Allow group ci to read repos in tenancy where target.repo.name != 'acme/secret'",
        ("ci",),
        A.CATALOG,
        "acme/web",
        DENY,
    ),
    Case(
        "name-all-is-and",
        "Allow group ci to read repos in tenancy where all {target.repo.name = /acme*/, target.repo.name != /*secret*/}",
        ("ci",),
        A.PULL,
        "acme/secret-x",
        DENY,
    ),
    Case(
        "name-all-is-and-allows",
        "Allow group ci to read repos in tenancy where all {target.repo.name = /acme*/, target.repo.name != /*secret*/}",
        ("ci",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "name-compartment-and-not-equal",
        "Allow group ci to read repos in compartment acme-compartment where target.repo.name != 'acme/secret'",
        ("ci",),
        A.PULL,
        "other/web",
        DENY,
    ),
    # any {...} mixing a name and a permission: each disjunct on its own.
    Case(
        "any-mixed-name-disjunct",
        "Allow group ci to read repos in tenancy where any {target.repo.name = 'acme/web', request.permission = 'REPOSITORY_INSPECT'}",
        ("ci",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1.1",),
    ),
    Case(
        "any-mixed-name-disjunct-other-repo",
        "Allow group ci to read repos in tenancy where any {target.repo.name = 'acme/web', request.permission = 'REPOSITORY_INSPECT'}",
        ("ci",),
        A.PULL,
        "other/api",
        DENY,
    ),
    Case(
        "any-mixed-permission-disjunct",
        "Allow group ci to read repos in tenancy where any {target.repo.name = 'acme/web', request.permission = 'REPOSITORY_INSPECT'}",
        ("ci",),
        A.CATALOG,
        "other/api",
        ALLOW,
        ("1.2",),
    ),
    # A sub-compartment statement does not reach its parent's namespaces.
    Case(
        "sub-compartment-not-parent",
        "Allow group ci to read repos in compartment acme-compartment:team",
        ("ci",),
        A.PULL,
        "acme/web",
        DENY,
    ),
    Case(
        "sub-compartment-own",
        "Allow group ci to read repos in compartment acme-compartment:team",
        ("ci",),
        A.PULL,
        "acme-team/tool",
        ALLOW,
        ("1",),
    ),
    Case(
        "compartment-name-quoted",
        "Allow group ci to read repos in compartment 'acme-compartment'",
        ("ci",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    # Deny statements (OCI's opt-in deny policies): deny wins, Administrators are exempt.
    Case(
        "deny-wins-over-allow",
        "Allow group devs to manage repos in tenancy\nDeny group devs to manage repos in tenancy where request.permission = 'REPOSITORY_DELETE'",
        ("devs",),
        A.DELETE_MANIFEST,
        "acme/web",
        DENY,
        ("2",),
        outcome=Outcome.EXPLICIT_DENY,
    ),
    Case(
        "deny-leaves-the-rest",
        "Allow group devs to manage repos in tenancy\nDeny group devs to manage repos in tenancy where request.permission = 'REPOSITORY_DELETE'",
        ("devs",),
        A.PUSH,
        "acme/web",
        ALLOW,
        ("1",),
    ),
    Case(
        "deny-exempts-administrators",
        "Deny any-user to manage repos in tenancy where request.permission = 'REPOSITORY_DELETE'",
        ("Administrators",),
        A.DELETE_BLOB,
        "acme/web",
        ALLOW,
        ("oci-builtin#Administrators",),
    ),
    # Several statements allowing the same request are all named.
    Case(
        "every-allowing-statement-is-named",
        f"{PULLERS_TENANCY}\n{PULLERS_COMPARTMENT}",
        ("acme-pullers",),
        A.PULL,
        "acme/web",
        ALLOW,
        ("1", "2"),
    ),
]


@pytest.mark.parametrize("case", SEED_CASES + IMPLICIT_CASES, ids=lambda c: c.id)
def test_decision(case: Case) -> None:
    """Each case: the decision and the statements that made it, as OCI would decide."""
    decision = decide({FILE: case.policy + "\n"}, _principal(case.groups), case.action, case.repository, case.tag)
    assert decision.effect is case.effect, decision
    if case.effect is Effect.ALLOW or case.outcome is Outcome.EXPLICIT_DENY:
        assert set(decision.statements) == set(_ids(*case.statements))
    if case.outcome is not None:
        assert decision.outcome is case.outcome


def test_compartment_push_into_new_repository_needs_a_tenancy_create() -> None:
    """The seed's "unusual scenario": a compartment policy lets a group push to existing
    repositories; creating one on push takes REPOSITORY_CREATE granted in the tenancy."""
    principal = _principal(("acme-pushers",))
    compartment_only = {FILE: PUSHERS_COMPARTMENT + "\n"}
    assert decide(compartment_only, principal, A.PUSH, "acme/new").allowed
    assert not decide(compartment_only, principal, A.CREATE_REPOSITORY, "acme/new").allowed
    with_tenancy_create = {
        FILE: PUSHERS_COMPARTMENT
        + "\nAllow group acme-pushers to manage repos in tenancy where request.permission = 'REPOSITORY_CREATE'\n"
    }
    decision = decide(with_tenancy_create, principal, A.CREATE_REPOSITORY, "acme/new")
    assert decision.allowed and decision.statements == (f"{FILE}#2",)
    # ...and that tenancy statement grants nothing else.
    assert not decide(with_tenancy_create, principal, A.PUSH, "other/api").allowed


def test_administrators_statement_is_in_force_only_with_oci_documents() -> None:
    """The Administrators statement stands whenever any OCI document is loaded (even one with
    only comments), and never in a deployment that uses no OCI document at all."""
    admin = _principal(("Administrators",))
    assert decide({FILE: "# no statements yet\n"}, admin, A.DELETE_BLOB, "x/y").allowed
    native_only = {
        "team.yaml": "statements:\n  - {id: s, effect: allow, principals: [group:devs], actions: [pull], resources: ['**']}\n"
    }
    assert decide(native_only, admin, A.DELETE_BLOB, "x/y").outcome is Outcome.DEFAULT_DENY


def test_administrators_group_comes_from_the_context() -> None:
    """DialectContext.oci_administrators_group names the tenancy's administrators group."""
    context = DialectContext(oci_administrators_group="tenancy-admins")
    policy_set = compile_policy_set({FILE: VIEWERS_TENANCY}, context, 1)
    admin = [s for s in policy_set.statements if s.id == "oci-builtin#Administrators"]
    assert len(admin) == 1
    assert [str(p) for p in admin[0].principals] == ["group:tenancy-admins"]
    assert admin[0].actions == ALL_ACTIONS


def test_anonymous_is_not_any_user() -> None:
    """any-user covers every authenticated principal in the tenancy, never an anonymous caller."""
    decision = decide({FILE: "Allow any-user to read repos in tenancy\n"}, ANONYMOUS, A.PULL, "acme/web")
    assert decision.outcome is Outcome.DEFAULT_DENY


def test_prefix_pattern_in_tenancy_compiles_to_a_plain_glob() -> None:
    """/acme-web-app*/ over the full name is the glob `acme-web-app**` (indexable by the
    evaluator); a condition a glob cannot say is kept exactly, never loosened."""
    document = OciDialect().compile_document(PULLERS_PREFIX_TENANCY, _loc(), CONTEXT)
    assert [str(r) for r in document.statements[0].resources] == ["acme-web-app**"]
    negated = OciDialect().compile_document(
        "Allow group g to read repos in tenancy where target.repo.name != /acme*/", _loc(), CONTEXT
    )
    (pattern,) = negated.statements[0].resources
    assert isinstance(pattern, RepositoryNamePattern)
    assert not pattern.matches("acme/web", None) and pattern.matches("other/web", None)


def test_statement_ids_are_unique_per_disjunct() -> None:
    """`where any {...}` compiles to one statement per condition, each with its own id."""
    document = OciDialect().compile_document(PUSHERS_RESTRICTED, _loc(), CONTEXT)
    assert [s.id for s in document.statements] == [f"{FILE}#1.1", f"{FILE}#1.2", f"{FILE}#1.3"]
    assert [s.location.line for s in document.statements] == [1, 1, 1]


def _loc() -> SourceLocation:
    return SourceLocation(FILE, 0)


ERROR_CASES = [
    ("bad-verb", "Allow group a to write repos in tenancy", 1, "unknown verb `write`"),
    ("unknown-compartment", "Allow group a to read repos in compartment nowhere", 1, "unknown compartment `nowhere`"),
    (
        "compartment-names-are-exact",
        "Allow group a to read repos in compartment Acme-Compartment",
        1,
        "unknown compartment `Acme-Compartment`",
    ),
    (
        "unknown-permission",
        "# c\nAllow group a to manage repos in tenancy\n  where request.permission = 'REPOSITORY_WRITE'",
        3,
        "unknown permission `REPOSITORY_WRITE`",
    ),
    (
        "unknown-permission-in-list",
        "Allow group a to {REPOSITORY_READ, OBJECT_READ} in tenancy",
        1,
        "unknown permission `OBJECT_READ`",
    ),
    (
        "permission-pattern-matches-nothing",
        "Allow group a to manage repos in tenancy where request.permission = /BUCKET*/",
        1,
        "matches no permission",
    ),
    (
        "unknown-resource-type",
        "Allow group a to read buckets in tenancy",
        1,
        "resource type `buckets` is not a registry resource",
    ),
    (
        "unknown-variable",
        "Allow group a to read repos in tenancy where request.user.name = 'bob'",
        1,
        "condition variable `request.user.name` is not supported",
    ),
    (
        "double-quoted-value",
        'Allow group a to read repos in tenancy where target.repo.name = "x"',
        1,
        "values are quoted with single quotes",
    ),
    (
        "not-a-statement",
        "Allow group a to read repos in tenancy\n\nPermit group b to read repos in tenancy",
        3,
        "a statement starts with `allow` or `deny`, not `Permit`",
    ),
    (
        "missing-location",
        "Allow group a to read repos",
        1,
        "expected `in` after the resource type, found the end of the document",
    ),
    ("missing-to", "Allow group a read repos in tenancy", 1, "expected `to` after the subject, found `read`"),
    (
        "unclosed-conditions",
        "Allow group a to read repos in tenancy where all {target.repo.name = 'x'",
        1,
        "expected `,` or `}` in the conditions",
    ),
    (
        "two-statements-on-a-line",
        "Allow group a to read repos in tenancy Allow group b to read repos in tenancy",
        1,
        "a second statement starts on this line",
    ),
    (
        "trailing-words",
        "Allow group a to read repos\n  in tenancy please",
        2,
        "unexpected `please` after the statement",
    ),
    ("pattern-value-for-group", "Allow group /x/ to read repos in tenancy", 1, "expected a group name, found `/x/`"),
    ("group-ocid", "Allow group id ocid1.group.oc1..aaa to read repos in tenancy", 1, "groups named by ocid"),
    (
        "compartment-ocid",
        "Allow group a to read repos in compartment id ocid1.compartment.oc1..aaa",
        1,
        "compartments named by ocid",
    ),
    (
        "dynamic-group",
        "Allow dynamic-group builders to read repos in tenancy",
        1,
        "`dynamic-group` subjects are not supported",
    ),
    (
        "endorse",
        "Endorse group a to read repos in tenancy foo",
        1,
        "cross-tenancy `Endorse` statements are not supported",
    ),
    (
        "stray-character",
        "Allow group a to read repos in tenancy where target.repo.name = 'x' ;",
        1,
        "unexpected character `;`",
    ),
]


@pytest.mark.parametrize(("policy", "line", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_errors_name_file_and_line(policy: str, line: int, message: str) -> None:
    """A document that does not parse is refused with file:line, lowercase and one line."""
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set({FILE: policy + "\n"}, CONTEXT, 1)
    (error,) = info.value.errors
    assert str(error).startswith(f"{FILE}:{line}: ")
    assert message in error.message
    assert "\n" not in str(error)
    assert not error.message[0].isupper() and not error.message.endswith(".")


def test_binding_an_oci_policy_is_an_error_at_the_binding() -> None:
    """OCI statements name their own groups: bindings.yaml cannot attach them."""
    files = {
        FILE: VIEWERS_TENANCY + "\n",
        "bindings.yaml": "bindings:\n  - id: b1\n    policy: acme.policy\n    principals: [user:bob]\n",
    }
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set(files, CONTEXT, 1)
    (error,) = info.value.errors
    assert str(error).startswith("bindings.yaml:2: binding `b1`:")


def test_bind_raises_policy_error() -> None:
    """bind() itself refuses, at bindings.yaml (the loader adds the line)."""
    document = OciDialect().compile_document(VIEWERS_TENANCY, _loc(), CONTEXT)
    with pytest.raises(PolicyError, match="names its own groups"):
        OciDialect().bind(document, Binding((), None, "b1"), CONTEXT)


def test_top_level_policy_file() -> None:
    """A ConfigMap-friendly top-level `x.policy` is an OCI document; its ids carry its path."""
    decision = decide({"acme.policy": PULLERS_TENANCY + "\n"}, _principal(("acme-pullers",)), A.PULL, "acme/web")
    assert decision.statements == ("acme.policy#1",)
