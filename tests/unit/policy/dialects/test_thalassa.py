"""Decision corpus of the Thalassa dialect (seed 000, "Container Registry access control").

Every built-in policy, credential scope and scoping rule of the seed is a case here, then the
cases the seed leaves implicit, decided as policies/README.md (thalassa section) writes down, then the
errors. Each case names the behaviour it pins down in its id.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regproxy.errors import PolicyError, SourceLocation
from regproxy.identity.principal import Principal, PrincipalKind, make_principal
from regproxy.oci.actions import ALL_ACTIONS, Action
from regproxy.policy.dialects import Binding, DialectContext
from regproxy.policy.dialects.registry import DIALECTS
from regproxy.policy.dialects.thalassa import ThalassaDialect
from regproxy.policy.dialects.thalassa_iam import (
    BUILTIN_ROLES,
    PERMISSION_ACTIONS,
    IamResource,
    Permission,
    credential_scope,
)
from regproxy.policy.evaluate import compile_policy, evaluate_reference
from regproxy.policy.load import PolicySetInvalid, compile_policy_set
from regproxy.policy.model import Decision, Effect, Outcome, RequestContext
from regproxy.policy.patterns import NamespaceScopedPattern

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
A = Action
ALLOW, DENY = Effect.ALLOW, Effect.DENY

# Project A holds namespaces proj-a and proj-a-*; project B holds proj-b. org, shared and
# proj-c are organisation-scoped (in no project).
CONTEXT = DialectContext(thalassa_projects={"A": ("proj-a", "proj-a-*"), "B": ("proj-b",)})

READ_ONLY = {
    A.PULL: ALLOW,
    A.LIST: ALLOW,
    A.CATALOG: ALLOW,
    A.PUSH: DENY,
    A.TAG_CREATE: DENY,
    A.TAG_OVERWRITE: DENY,
    A.CREATE_REPOSITORY: DENY,
    A.DELETE_TAG: DENY,
    A.DELETE_MANIFEST: DENY,
    A.DELETE_BLOB: DENY,
}
DEVELOPER = {**READ_ONLY, A.PUSH: ALLOW, A.TAG_CREATE: ALLOW, A.TAG_OVERWRITE: ALLOW, A.CREATE_REPOSITORY: ALLOW}
FULL = dict.fromkeys(Action, ALLOW)
NOTHING = dict.fromkeys(Action, DENY)


def bindings(*entries: str) -> str:
    return "bindings:\n" + "".join(entries)


def binding(bid: str, policy: str, principals: str = "[user:alice]", project: str | None = None) -> str:
    text = f"  - id: {bid}\n    policy: '{policy}'\n    principals: {principals}\n"
    return text + (f"    project: {project}\n" if project is not None else "")


def alice(*, groups: tuple[str, ...] = (), scope: str | None = None) -> Principal:
    return make_principal(
        PrincipalKind.USER, "alice", groups=groups, scope=None if scope is None else credential_scope(scope)
    )


def decide(
    files: dict[str, str],
    principal: Principal,
    action: Action,
    repository: str,
    tag: str | None = None,
    context: DialectContext = CONTEXT,
) -> Decision:
    policy_set = compile_policy_set(files, context, 3)
    request = RequestContext(principal, None, NOW)
    decision = compile_policy(policy_set).evaluate(request, action, repository, tag)
    # The indexed evaluator and the reference interpreter agree on every case of the corpus.
    reference = evaluate_reference(policy_set, request, action, repository, tag)
    assert (decision.effect, decision.outcome) == (reference.effect, reference.outcome)
    assert set(decision.statements) == set(reference.statements)
    return decision


# --- built-in policies: every name and slug, every action -----------------------------------

BUILTIN_EXPECTATIONS = [
    ("registry:ReadAccess", READ_ONLY),
    ("registry-read-access", READ_ONLY),
    ("registry:developer", DEVELOPER),
    ("registry-developer", DEVELOPER),
    ("registry:viewer", READ_ONLY),
    ("registry-viewer", READ_ONLY),
    ("registry:admin", FULL),
    ("registry-admin", FULL),
    ("registry:FullAccess", FULL),  # the documented name
    ("registry:FullAdminAccess", FULL),  # the name it is stored as
    ("registry-full-admin-access", FULL),  # the unchanged slug
    ("admin:all", FULL),  # "grants full registry access implicitly"
    ("iaas:admin", FULL),
    ("iaas:devops", FULL),
    ("iaas:auditor", READ_ONLY),
    ("iaas:ReadAccess", NOTHING),  # "do not include container registry permissions"
    ("iaas:FullAccess", NOTHING),
]
BUILTIN_CASES = [
    pytest.param(policy, action, effect, id=f"{policy}-{action.value}-{effect.value}")
    for policy, table in BUILTIN_EXPECTATIONS
    for action, effect in table.items()
]


@pytest.mark.parametrize(("policy", "action", "effect"), BUILTIN_CASES)
def test_builtin_policy(policy: str, action: Action, effect: Effect) -> None:
    """Each built-in, bound by name or slug at the organisation, allows exactly its seed row
    on an organisation-scoped namespace, and names the binding's statement."""
    files = {"bindings.yaml": bindings(binding("b1", policy))}
    decision = decide(files, alice(), action, "org/app", "v1")
    assert decision.effect is effect
    if effect is ALLOW:
        canonical = {
            "registry:FullAccess": "registry:FullAdminAccess",
            "registry-full-admin-access": "registry:FullAdminAccess",
        }
        name = next(r.name for r in BUILTIN_ROLES if policy in (r.name, *r.aliases))
        assert decision.statements == (f"b1/{canonical.get(policy, name)}#1",)
    else:
        assert decision.outcome is Outcome.DEFAULT_DENY


def test_iaas_read_and_full_access_bind_and_grant_nothing() -> None:
    """iaas:ReadAccess and iaas:FullAccess are valid bindings that compile to no statement."""
    files = {"bindings.yaml": bindings(binding("r", "iaas:ReadAccess"), binding("f", "iaas:FullAccess"))}
    assert compile_policy_set(files, CONTEXT, 1).statements == ()


# --- credential scopes ----------------------------------------------------------------------

SCOPE_CASES = [
    # (credential scope, policy, action, effect, outcome)
    ("containerRegistry", "registry:developer", A.PUSH, ALLOW, Outcome.ALLOWED),
    ("containerRegistry:all", "registry:developer", A.PUSH, ALLOW, Outcome.ALLOWED),
    ("containerRegistry:all", "registry:admin", A.DELETE_MANIFEST, ALLOW, Outcome.ALLOWED),
    ("containerRegistry:pull", "registry:developer", A.PULL, ALLOW, Outcome.ALLOWED),
    ("containerRegistry:pull", "registry:developer", A.LIST, ALLOW, Outcome.ALLOWED),
    ("containerRegistry:pull", "registry:developer", A.CATALOG, ALLOW, Outcome.ALLOWED),
    ("containerRegistry:pull", "registry:developer", A.PUSH, DENY, Outcome.SCOPE_DENY),
    ("containerRegistry:pull", "registry:admin", A.CREATE_REPOSITORY, DENY, Outcome.SCOPE_DENY),
    ("containerRegistry:pull", "registry:admin", A.DELETE_TAG, DENY, Outcome.SCOPE_DENY),
    # A scope is an upper bound, never a grant: push+pull credentials on a viewer stay read-only.
    ("containerRegistry:all", "registry:viewer", A.PUSH, DENY, Outcome.DEFAULT_DENY),
]


@pytest.mark.parametrize(
    ("scope", "policy", "action", "effect", "outcome"),
    SCOPE_CASES,
    ids=[f"{c[0]}-{c[1]}-{c[2].value}" for c in SCOPE_CASES],
)
def test_credential_scope_intersects_policy(
    scope: str, policy: str, action: Action, effect: Effect, outcome: Outcome
) -> None:
    """The access credential's scope narrows what the bound policy allows, never widens it."""
    files = {"bindings.yaml": bindings(binding("ci", policy, "[service-account:ci]"))}
    principal = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", scope=credential_scope(scope))
    decision = decide(files, principal, action, "org/app", "v1")
    assert (decision.effect, decision.outcome) == (effect, outcome)


def test_credential_scope_values() -> None:
    """containerRegistry and containerRegistry:all are push and pull (every action);
    containerRegistry:pull is pull, list and catalog; any other name is refused."""
    for name in ("containerRegistry", "containerRegistry:all"):
        scope = credential_scope(name)
        assert scope.name == name
        assert all(scope.permits(a, "any/repo") for a in ALL_ACTIONS)
    pull = credential_scope("containerRegistry:pull")
    assert {a for a in Action if pull.permits(a, "x/y")} == {A.PULL, A.LIST, A.CATALOG}
    for bad in ("containerRegistry:push", "containerregistry", ""):
        with pytest.raises(ValueError, match="unknown thalassa credential scope"):
            credential_scope(bad)


# --- organisation and project scoping -------------------------------------------------------

SCOPING_CASES = [
    # (id, project of the binding, repository, effect)
    ("project-a-binding-reaches-a", "A", "proj-a/api", ALLOW),
    ("project-a-binding-reaches-a-glob", "A", "proj-a-extra/x", ALLOW),
    ("project-a-binding-never-b", "A", "proj-b/api", DENY),
    ("project-a-binding-not-org", "A", "org/app", DENY),
    ("project-b-binding-reaches-b", "B", "proj-b/api", ALLOW),
    ("project-b-binding-never-a", "B", "proj-a/api", DENY),
    ("org-binding-reaches-org", None, "org/app", ALLOW),
    ("org-binding-reaches-unmapped", None, "proj-c/app", ALLOW),
    # IAM inherits downward: an organisation binding reaches project-scoped namespaces too.
    ("org-binding-reaches-project-a", None, "proj-a/api", ALLOW),
    ("org-binding-reaches-project-a-glob", None, "proj-a-extra/x", ALLOW),
    ("org-binding-reaches-project-b", None, "proj-b/api", ALLOW),
]


@pytest.mark.parametrize(
    ("project", "repository", "effect"), [c[1:] for c in SCOPING_CASES], ids=[c[0] for c in SCOPING_CASES]
)
def test_binding_scope(project: str | None, repository: str, effect: Effect) -> None:
    """A project binding reaches only that project's namespaces (seed: "a principal with
    project-level access on project A cannot access project B's namespaces"); an organisation
    binding reaches every namespace, project-scoped ones included."""
    files = {"bindings.yaml": bindings(binding("dev", "registry:developer", project=project))}
    decision = decide(files, alice(), A.PUSH, repository)
    assert decision.effect is effect
    if effect is ALLOW:
        assert decision.statements == ("dev/registry:developer#1",)


def test_org_and_project_bindings_add_up() -> None:
    """Bound at the organisation and at project A, a principal reaches both; the organisation
    binding reaches B too, and decides there alone."""
    files = {
        "bindings.yaml": bindings(
            binding("org", "registry:viewer", "[group:devs]"),
            binding("in-a", "registry:viewer", "[group:devs]", project="A"),
        )
    }
    devs = alice(groups=("devs",))
    assert decide(files, devs, A.PULL, "org/app").statements == ("org/registry:viewer#1",)
    assert set(decide(files, devs, A.PULL, "proj-a/api").statements) == {
        "in-a/registry:viewer#1",
        "org/registry:viewer#1",
    }
    assert decide(files, devs, A.PULL, "proj-b/api").statements == ("org/registry:viewer#1",)
    only_a = {"bindings.yaml": bindings(binding("in-a", "registry:viewer", "[group:devs]", project="A"))}
    assert not decide(only_a, devs, A.PULL, "proj-b/api").allowed


def test_without_projects_an_org_binding_reaches_everything() -> None:
    """With no projects configured, every namespace is organisation-scoped."""
    files = {"bindings.yaml": bindings(binding("all", "registry:admin"))}
    assert decide(files, alice(), A.DELETE_BLOB, "proj-a/api", context=DialectContext()).allowed


def test_binding_principals() -> None:
    """A binding reaches exactly the principals it names: users, groups, service accounts."""
    files = {"bindings.yaml": bindings(binding("b", "registry:ReadAccess", "[group:ops, service-account:deploy]"))}
    assert decide(files, alice(groups=("ops",)), A.PULL, "org/app").allowed
    deploy = make_principal(PrincipalKind.SERVICE_ACCOUNT, "deploy")
    assert decide(files, deploy, A.PULL, "org/app").allowed
    assert not decide(files, alice(groups=("devs",)), A.PULL, "org/app").allowed


# --- custom roles ---------------------------------------------------------------------------

CI_ROLE = """\
name: ci-pusher
slug: ci-pusher-slug
description: CI pushes to the org namespace
labels: {team: platform}
annotations: {owner: ops}
rules:
  - resources: [container_registry_namespace]
    permissions: [push, pull]
    resource_identities: [org]
    note: push anywhere in org
  - resources: [container_registry_namespace_configuration]
    permissions: ["*"]
  - resources: [container_registry_repository]
    permissions: [read, list, pull, delete]
    resource_identities: [shared/base]
"""

ROLE_CASES = [
    # (id, repository, action, effect, deciding statement)
    ("namespace-push", "org/app", A.PUSH, ALLOW, "ci/ci-pusher#1"),
    ("namespace-push-creates", "org/new", A.CREATE_REPOSITORY, ALLOW, "ci/ci-pusher#1"),
    ("namespace-push-overwrites", "org/app", A.TAG_OVERWRITE, ALLOW, "ci/ci-pusher#1"),
    ("namespace-pull", "org/app", A.PULL, ALLOW, "ci/ci-pusher#1"),
    ("namespace-push-pull-no-tag-list", "org/app", A.LIST, DENY, None),
    ("namespace-push-pull-no-delete", "org/app", A.DELETE_TAG, DENY, None),
    ("namespace-identity-only-that-namespace", "shared/app", A.PUSH, DENY, None),
    ("namespace-identity-not-prefix", "org-two/app", A.PUSH, DENY, None),
    ("configuration-rule-grants-nothing-numbering-kept", "shared/base", A.DELETE_MANIFEST, ALLOW, "ci/ci-pusher#3"),
    ("repository-identity-exact", "shared/base", A.LIST, ALLOW, "ci/ci-pusher#3"),
    ("repository-identity-not-sibling", "shared/other", A.PULL, DENY, None),
    ("repository-read-no-push", "shared/base", A.PUSH, DENY, None),
]


@pytest.mark.parametrize(
    ("repository", "action", "effect", "statement"), [c[1:] for c in ROLE_CASES], ids=[c[0] for c in ROLE_CASES]
)
def test_custom_role(repository: str, action: Action, effect: Effect, statement: str | None) -> None:
    """A custom role's rules, narrowed by resource identities, compile to one statement each."""
    files = {
        "thalassa/ci.yaml": CI_ROLE,
        "bindings.yaml": bindings(binding("ci", "ci-pusher", "[service-account:ci]")),
    }
    principal = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci")
    decision = decide(files, principal, action, repository, "v1")
    assert decision.effect is effect
    if statement is not None:
        assert decision.statements == (statement,)


def test_custom_role_bound_by_slug_and_file_stem() -> None:
    """A role binds by `name` and `slug`; without `name`, by its file stem (JSON too)."""
    by_slug = {
        "thalassa/ci.yaml": CI_ROLE,
        "bindings.yaml": bindings(binding("s", "ci-pusher-slug")),
    }
    assert decide(by_slug, alice(), A.PUSH, "org/app").statements == ("s/ci-pusher#1",)
    stem_json = {
        "thalassa/pullers.json": '{"rules": [{"resources": ["*"], "permissions": ["pull"]}]}',
        "bindings.yaml": bindings(binding("p", "pullers")),
    }
    assert decide(stem_json, alice(), A.PULL, "org/app").statements == ("p/pullers#1",)
    assert not decide(stem_json, alice(), A.PUSH, "org/app").allowed


def test_repository_push_does_not_create() -> None:
    """push on container_registry_repository is push into an existing repository; creating
    one takes push on the namespace or create on the repository."""
    role = """\
rules:
  - resources: [container_registry_repository]
    permissions: [push]
    resource_identities: [org/app]
  - resources: [container_registry_repository]
    permissions: [create]
    resource_identities: [org/made]
"""
    files = {"thalassa/r.yaml": role, "bindings.yaml": bindings(binding("b", "r"))}
    assert decide(files, alice(), A.PUSH, "org/app").allowed
    assert not decide(files, alice(), A.CREATE_REPOSITORY, "org/app").allowed
    assert decide(files, alice(), A.CREATE_REPOSITORY, "org/made").statements == ("b/r#2",)


def test_identities_meet_the_binding_scope() -> None:
    """Resource identities narrow a binding's scope and never widen it: a project binding
    whose identity is another project's namespace grants nothing; a glob identity at the
    organisation reaches project namespaces as well."""
    role = """\
rules:
  - resources: ["*"]
    permissions: ["*"]
    resource_identities: [proj-a, proj-b, "proj-*"]
"""
    files = {
        "thalassa/r.yaml": role,
        "bindings.yaml": bindings(binding("in-a", "r", "[group:a]", project="A"), binding("org", "r", "[group:o]")),
    }
    team_a, org = alice(groups=("a",)), alice(groups=("o",))
    assert decide(files, team_a, A.PUSH, "proj-a/x").allowed
    assert decide(files, team_a, A.PUSH, "proj-a-extra/x").allowed  # via proj-*, within project A
    assert not decide(files, team_a, A.PUSH, "proj-b/x").allowed
    assert not decide(files, team_a, A.PUSH, "proj-c/x").allowed
    assert decide(files, org, A.PUSH, "proj-c/x").allowed  # proj-c is organisation-scoped
    assert decide(files, org, A.PUSH, "proj-a/x").allowed  # the organisation reaches project A
    assert decide(files, org, A.PUSH, "proj-b/x").allowed
    assert not decide(files, org, A.PUSH, "other/x").allowed  # the identities still narrow
    compiled = compile_policy_set(files, CONTEXT, 1)
    org_patterns = [r for s in compiled.statements if s.id.startswith("org/") for r in s.resources]
    assert not any(isinstance(r, NamespaceScopedPattern) for r in org_patterns)  # plain, indexable


def test_project_binding_without_identities_is_indexable() -> None:
    """A project binding of a role without identities compiles to plain namespace globs."""
    files = {"bindings.yaml": bindings(binding("b", "registry:viewer", project="A"))}
    (statement,) = compile_policy_set(files, CONTEXT, 1).statements
    assert [str(r) for r in statement.resources] == ["proj-a", "proj-a/**", "proj-a-*", "proj-a-*/**"]


def test_every_pair_has_a_mapping() -> None:
    """Every IAM resource x permission pair has a row in the mapping table."""
    assert {(r, p) for r in IamResource for p in Permission} == set(PERMISSION_ACTIONS)


def test_dialect_is_registered() -> None:
    """policies/thalassa/*.yaml are compiled by this dialect."""
    assert isinstance(DIALECTS["thalassa"], ThalassaDialect)


# --- errors ---------------------------------------------------------------------------------

ROLE_ERRORS = [
    (
        "unknown-permission",
        "rules:\n  - resources: [container_registry]\n    permissions: [write]\n",
        2,
        "rule 1: unknown permission `write`",
    ),
    (
        "unknown-resource",
        "name: r\nrules:\n  - resources: [cloud_vpc]\n    permissions: [read]\n",
        3,
        "rule 1: unknown resource `cloud_vpc`",
    ),
    (
        "second-rule-line",
        "rules:\n  - resources: ['*']\n    permissions: [pull]\n  - resources: ['*']\n    permissions: [pulll]\n",
        4,
        "rule 2: unknown permission `pulll`",
    ),
    (
        "unknown-rule-key",
        "rules:\n  - resources: ['*']\n    permission: [pull]\n",
        2,
        "unknown key `permission` in rule 1",
    ),
    (
        "unknown-role-key",
        "rule: []\nrules:\n  - resources: ['*']\n    permissions: [pull]\n",
        1,
        "unknown key `rule` in role",
    ),
    ("empty-rules", "name: r\nrules: []\n", 1, "`rules` must be a non-empty list"),
    (
        "empty-permissions",
        "rules:\n  - resources: ['*']\n    permissions: []\n",
        2,
        "`permissions` must be a non-empty list",
    ),
    (
        "bad-identity",
        "rules:\n  - resources: ['*']\n    permissions: [pull]\n    resource_identities: [Org/App]\n",
        2,
        "resource identity `Org/App` is not a namespace or repository name",
    ),
    (
        "builtin-name",
        "name: registry:admin\nrules:\n  - resources: ['*']\n    permissions: [pull]\n",
        1,
        "role name `registry:admin` is a built-in thalassa policy",
    ),
    (
        "builtin-slug",
        "slug: registry-admin\nrules:\n  - resources: ['*']\n    permissions: [pull]\n",
        1,
        "role name `registry-admin` is a built-in thalassa policy",
    ),
    ("yaml-syntax", "rules:\n  - resources: [a\n", 3, ""),
    ("not-a-mapping", "- a\n", 0, "a thalassa role is a mapping with `rules`"),
]


@pytest.mark.parametrize(("text", "line", "message"), [c[1:] for c in ROLE_ERRORS], ids=[c[0] for c in ROLE_ERRORS])
def test_role_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    """A custom role that does not validate is refused with its file and line."""
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set({"thalassa/r.yaml": text}, CONTEXT, 1)
    (error,) = info.value.errors
    expected = "thalassa/r.yaml" + (f":{line}" if line else "") + ": "
    assert str(error).startswith(expected), str(error)
    assert message in error.message
    assert "\n" not in str(error)


BINDING_ERRORS = [
    (
        "unknown-builtin",
        binding("b1", "registry:writer"),
        "bindings.yaml:2: binding `b1`: no policy named `registry:writer`",
    ),
    (
        "unknown-project",
        binding("b1", "registry:viewer") + binding("b2", "registry:viewer", project="C"),
        "bindings.yaml:5: binding `b2`: unknown thalassa project `C` (known: `A`, `B`)",
    ),
]


@pytest.mark.parametrize(("entries", "message"), [c[1:] for c in BINDING_ERRORS], ids=[c[0] for c in BINDING_ERRORS])
def test_binding_errors_name_the_binding_line(entries: str, message: str) -> None:
    """A binding to an unknown policy or project is refused at the binding's line."""
    with pytest.raises(PolicySetInvalid) as info:
        compile_policy_set({"bindings.yaml": bindings(entries)}, CONTEXT, 1)
    (error,) = info.value.errors
    assert str(error) == message


def test_unknown_project_without_projects_configured() -> None:
    """With no projects configured, any project binding is refused and says so."""
    with pytest.raises(PolicySetInvalid, match="known: none is configured"):
        compile_policy_set(
            {"bindings.yaml": bindings(binding("b", "registry:viewer", project="A"))}, DialectContext(), 1
        )


def test_bind_reports_at_bindings_file() -> None:
    """bind() raises at bindings.yaml without a line; the loader supplies the line."""
    (viewer,) = [d for d in ThalassaDialect().builtins(CONTEXT) if d.name == "registry:viewer"]
    with pytest.raises(PolicyError) as info:
        ThalassaDialect().bind(viewer, Binding((), "Z", "b"), CONTEXT)
    assert info.value.location == SourceLocation("bindings.yaml")


def test_top_level_thalassa_file_is_named_by_its_stem() -> None:
    """A ConfigMap-friendly top-level `x.thalassa.yaml` is the role `x`."""
    files = {
        "pullers.thalassa.yaml": "rules:\n  - resources: ['*']\n    permissions: [pull]\n",
        "bindings.yaml": bindings(binding("p", "pullers")),
    }
    assert decide(files, alice(), A.PULL, "org/app").statements == ("p/pullers#1",)
