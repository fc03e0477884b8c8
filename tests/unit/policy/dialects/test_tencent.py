"""Decision corpus of the Tencent CAM dialect (seed 002, "TKE Image Registry Resource-level
Permission Settings").

Every worked example of the seed is a case here, then the TCR Individual examples and presets,
then the cases the seed leaves implicit, decided as policies/README.md (tencent section) writes down, then
the errors with their file and line. Each case's id names the behaviour it pins down.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regproxy.identity.principal import Principal, PrincipalKind, make_principal
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.dialects.registry import DIALECTS
from regproxy.policy.dialects.tencent import TENCENT_ACTIONS, TencentDialect
from regproxy.policy.load import PolicySetInvalid, compile_policy_set
from regproxy.policy.model import Decision, Effect
from tests.support.decisions import assert_decision, decide_checked

CONTEXT = DialectContext(alibaba_region="cn-hangzhou", alibaba_account="1234")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
INSIDE, OUTSIDE = "10.1.2.3", "192.168.1.1"
A = Action
ALLOW, DENY = Effect.ALLOW, Effect.DENY


def cam(*statements: str) -> str:
    body = ",\n".join(statements)
    return f'{{\n  "version": "2.0",\n  "statement": [\n{body}\n  ]\n}}\n'


def stmt(action: str, resource: str, effect: str = "allow", condition: str | None = None) -> str:
    extra = f',\n     "condition": {condition}' if condition else ""
    return f'    {{"action": {action},\n     "resource": {resource},\n     "effect": "{effect}"{extra}}}'


def bind(*entries: tuple[str, str, str]) -> str:
    return "bindings:\n" + "".join(
        f"  - id: {bid}\n    policy: {policy}\n    principals: {principals}\n" for bid, policy, principals in entries
    )


def setup(docs: dict[str, str], *entries: tuple[str, str, str]) -> dict[str, str]:
    files = {f"tencent/{name}.json": text for name, text in docs.items()}
    files["bindings.yaml"] = bind(*entries)
    return files


def alice(groups: tuple[str, ...] = ()) -> Principal:
    return make_principal(PrincipalKind.USER, "alice", groups=groups)


BOB = make_principal(PrincipalKind.USER, "bob")
CI = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci")
DEV = make_principal(PrincipalKind.USER, "dave", groups=["devs"])


def decide(
    files: dict[str, str],
    principal: Principal,
    action: Action,
    repository: str,
    tag: str | None = None,
    source: str = INSIDE,
    now: datetime = NOW,
) -> Decision:
    return decide_checked(files, CONTEXT, principal, action, repository, tag, source=source, now=now)


def errors_of(files: dict[str, str]) -> list[tuple[str, str]]:
    with pytest.raises(PolicySetInvalid) as caught:
        compile_policy_set(files, CONTEXT, 1)
    return [(str(e.location), e.message) for e in caught.value.errors]


# --- The seed's documents, verbatim -------------------------------------------------------------

CREATE_ANYWHERE = """{
    "version": "2.0",
    "statement": [{
        "action": "ccr:CreateRepository",
        "resource": "qcs::ccr:::repo/*",
        "effect": "allow"
    }]
}"""
DELETE_FOO_BAR = """{
   "version": "2.0",
   "statement": [{
       "action": [
           "ccr:BatchDeleteRepository",
           "ccr:DeleteRepository"
       ],
       "resource": [
           "qcs::ccr:::repo/foo/*",
           "qcs::ccr:::repo/bar/*"
       ],
       "effect": "allow"
   }]
}"""
MANAGE_FOO = """{
   "version": "2.0",
   "statement": [{
       "action": [
           "ccr:CreateRepository",
           "ccr:BatchDeleteRepository",
           "ccr:DeleteRepository",
           "ccr:push"
       ],
       "resource": "qcs::ccr:::repo/foo/*",
       "effect": "allow"
   }]
}"""
NO_DELETE = """{
   "version": "2.0",
   "statement": [{
       "action": [
           "ccr:BatchDeleteRepository",
           "ccr:DeleteRepository"
       ],
       "resource": "qcs::ccr:::repo/*",
       "effect": "deny"
   }]
}"""
# "Image tag permissions": resource qcs::ccr:::repo/${namespace}/${name}:${tag}, ccr:DeleteTag.
DELETE_TAG = cam(stmt('"ccr:DeleteTag"', '"qcs::ccr:::repo/foo/bar:v1"'))
# "Permit collaborator A to pull images"; "Forbid collaborator B from pulling in namespace ns1".
PULL = cam(stmt('"ccr:pull"', '"qcs::ccr:::repo/*"'))
NO_PULL_NS1 = cam(stmt('"ccr:pull"', '"qcs::ccr:::repo/ns1/*"', "deny"))

# TCR Individual's published examples (Tencent's "Example of Authorization Solution").
TEAM_01 = """{"version": "2.0", "statement": [{"action": ["tcr:*"],
  "resource": ["qcs::tcr:::repo/team-01", "qcs::tcr:::repo/team-01/*"], "effect": "allow"}]}"""
REPO_DEMO_READ = """{"version": "2.0", "statement": [{"action": ["tcr:Describe*", "tcr:PullRepositoryPersonal"],
  "resource": ["qcs::tcr:::repo/team-01", "qcs::tcr:::repo/team-01/repo-demo", "qcs::tcr:::repo/team-01/repo-demo/*"],
  "effect": "allow"}]}"""

S = {
    "create": setup({"ccr-policy-demo": CREATE_ANYWHERE}, ("b", "ccr-policy-demo", "[user:alice]")),
    "delete-foo-bar": setup({"delete-foo-bar": DELETE_FOO_BAR}, ("b", "delete-foo-bar", "[user:alice]")),
    "manage-foo": setup({"manage-foo": MANAGE_FOO}, ("b", "manage-foo", "[user:alice]")),
    "deny-delete": setup(
        {"no-delete": NO_DELETE},
        ("full", "QcloudCCRFullAccess", "[user:alice]"),
        ("guard", "no-delete", "[user:alice]"),
    ),
    "deny-delete-foo": setup(
        {"no-delete": NO_DELETE, "delete-foo-bar": DELETE_FOO_BAR},
        ("grant", "delete-foo-bar", "[user:alice]"),
        ("guard", "no-delete", "[user:alice]"),
    ),
    "delete-tag": setup({"delete-tag": DELETE_TAG}, ("b", "delete-tag", "[user:alice]")),
    "pull-a-not-b": setup(
        {"pull": PULL, "no-pull-ns1": NO_PULL_NS1},
        ("a", "pull", "[user:alice, user:bob]"),
        ("b", "no-pull-ns1", "[user:bob]"),
    ),
    "ccr-full": setup({}, ("p", "QcloudCCRFullAccess", "[user:alice]")),
    "ccr-read": setup({}, ("p", "QcloudCCRReadOnlyAccess", "[user:alice]")),
    "tcr-full": setup({}, ("p", "QcloudTCRFullAccess", "[user:alice]")),
    "tcr-read": setup({}, ("p", "QcloudTCRReadOnlyAccess", "[user:alice]")),
    "team-01": setup({"team-01": TEAM_01}, ("b", "team-01", "[user:alice]")),
    "repo-demo": setup({"repo-demo": REPO_DEMO_READ}, ("b", "repo-demo", "[user:alice]")),
    # Implicit cases.
    "allow-then-deny": setup(
        {
            "foo": cam(
                stmt('"ccr:*"', '"qcs::ccr:::repo/foo/*"'), stmt('["ccr:push"]', '"qcs::ccr:::repo/foo/prod"', "deny")
            )
        },
        ("b", "foo", "[user:alice]"),
    ),
    "segment-globs": setup(
        {"g": cam(stmt('"ccr:pull"', '["qcs::ccr:::repo/foo/web-*", "qcs::ccr:::repo/*/app"]'))},
        ("b", "g", "[user:alice]"),
    ),
    "namespace-only": setup({"ns": cam(stmt('"ccr:pull"', '"qcs::ccr:::repo/foo"'))}, ("b", "ns", "[user:alice]")),
    "tag-star": setup({"t": cam(stmt('"ccr:DeleteTag"', '"qcs::ccr:::repo/foo/*"'))}, ("b", "t", "[user:alice]")),
    "tag-glob": setup(
        {"t": cam(stmt('"ccr:DeleteTag"', '"qcs::ccr:::repo/foo/bar:rel-*"'))}, ("b", "t", "[user:alice]")
    ),
    "tag-star-swallows-colon": setup(
        {"t": cam(stmt('"ccr:DeleteTag"', '"qcs::ccr:::repo/foo/b*1"'))}, ("b", "t", "[user:alice]")
    ),
    "mixed-levels": setup(
        {"m": cam(stmt('["ccr:pull", "ccr:DeleteTag"]', '["qcs::ccr:::repo/a/b", "qcs::ccr:::repo/c/d:v1"]'))},
        ("b", "m", "[user:alice]"),
    ),
    "string-forms": setup(
        {"s": cam(stmt('"name/ccr:pull"', '"qcs::ccr:::repo/foo/*"', "Allow"))}, ("b", "s", "[user:alice]")
    ),
    "list-forms": setup({"s": cam(stmt('["ccr:pull"]', '["qcs::ccr:::repo/foo/*"]'))}, ("b", "s", "[user:alice]")),
    "star-star": setup({"all": cam(stmt('"*"', '"*"'))}, ("b", "all", "[user:alice]")),
    "other-products": setup(
        {
            "mix": cam(
                stmt(
                    '["cos:GetObject", "ccr:pull"]',
                    '["qcs::cos:ap-guangzhou:uid/1:prefix//1/bucket/*", "qcs::ccr:::repo/foo/*"]',
                )
            )
        },
        ("b", "mix", "[user:alice]"),
    ),
    "console-only": setup(
        {"c": cam(stmt('["tcr:CreateInstance", "ccr:CreateCCRNamespace"]', '["*", "qcs::ccr:::repo/foo"]'))},
        ("b", "c", "[user:alice]"),
    ),
    "push-pull": setup(
        {"pp": cam(stmt('["ccr:push", "ccr:pull"]', '"qcs::ccr:::repo/foo/*"'))}, ("b", "pp", "[user:alice]")
    ),
    "catalog": setup(
        {"c": cam(stmt('"ccr:GetUserRepositoryList"', '"qcs::ccr:::repo/*"'))}, ("b", "c", "[user:alice]")
    ),
    "personal-v3": setup(
        {
            "v3": cam(
                stmt(
                    '["tcr:PullRepositoryPersonal", "tcr:PushRepositoryPersonal", "tcr:DeleteImagePersonal"]',
                    '"qcs::tcr:::repo/foo/*"',
                )
            )
        },
        ("b", "v3", "[user:alice]"),
    ),
    "ccr-resource-tcr-action": setup(
        {
            "x": cam(
                stmt('["ccr:pull", "tcr:PushRepositoryPersonal"]', '["qcs::ccr:::repo/foo/*", "qcs::tcr:::repo/bar/*"]')
            )
        },
        ("b", "x", "[user:alice]"),
    ),
    "enterprise-star": setup({"e": cam(stmt('"tcr:PullRepository"', '"*"'))}, ("b", "e", "[user:alice]")),
    "groups": setup({"pull": PULL}, ("team", "pull", "[group:devs, service-account:ci]")),
    "ip-allow": setup(
        {"net": cam(stmt('"ccr:pull"', '"*"', condition='{"ip_equal": {"qcs:ip": ["10.0.0.0/8"]}}'))},
        ("b", "net", "[user:alice]"),
    ),
    "ip-deny": setup(
        {
            "full": cam(
                stmt('"ccr:*"', '"*"'),
                stmt('"ccr:*"', '"*"', "deny", '{"ip_not_equal": {"qcs:ip": ["10.0.0.0/8", "172.16.0.0/12"]}}'),
            )
        },
        ("b", "full", "[user:alice]"),
    ),
    "until": setup(
        {
            "lease": cam(
                stmt(
                    '"ccr:pull"',
                    '"*"',
                    condition='{"date_less_than": {"qcs:current_time": "2026-02-01T00:00:00+08:00"}}',
                )
            )
        },
        ("b", "lease", "[user:alice]"),
    ),
    "window": setup(
        {
            "w": cam(
                stmt(
                    '"ccr:pull"',
                    '"*"',
                    condition='{"date_greater_than_equal": {"qcs:current_time": "2026-01-01T00:00:00Z"}, "date_less_than_equal": {"qcs:current_time": "2026-01-31T00:00:00Z"}}',
                )
            )
        },
        ("b", "w", "[user:alice]"),
    ),
}

# (setup, principal, action, repository, tag, effect, deciding statements); extra keyword
# arguments (source, now) go through `pytest.param(..., marks=...)`-free dict at the end.
CASES = [
    # Seed: "permit collaborators to create an image repository" under any namespace.
    pytest.param(
        "create",
        alice(),
        A.CREATE_REPOSITORY,
        "foo/new",
        None,
        ALLOW,
        ("b/ccr-policy-demo#0",),
        {},
        id="seed-create-repository-in-any-namespace",
    ),
    pytest.param(
        "create",
        alice(),
        A.CREATE_REPOSITORY,
        "team/x/y",
        None,
        ALLOW,
        ("b/ccr-policy-demo#0",),
        {},
        id="seed-create-star-matches-any-characters",
    ),
    pytest.param("create", alice(), A.PUSH, "foo/new", None, DENY, (), {}, id="seed-create-grants-no-push"),
    pytest.param(
        "create", BOB, A.CREATE_REPOSITORY, "foo/new", None, DENY, (), {}, id="seed-create-only-for-the-bound-principal"
    ),
    # Seed: "permit the deletion of the image repositories in namespaces foo and bar".
    pytest.param(
        "delete-foo-bar",
        alice(),
        A.DELETE_MANIFEST,
        "foo/app",
        None,
        ALLOW,
        ("b/delete-foo-bar#0",),
        {},
        id="seed-delete-in-foo",
    ),
    pytest.param(
        "delete-foo-bar",
        alice(),
        A.DELETE_BLOB,
        "bar/app",
        None,
        ALLOW,
        ("b/delete-foo-bar#0",),
        {},
        id="seed-delete-blob-in-bar",
    ),
    pytest.param(
        "delete-foo-bar",
        alice(),
        A.DELETE_TAG,
        "bar/app",
        "v1",
        DENY,
        (),
        {},
        id="seed-delete-repository-is-not-delete-tag",
    ),
    pytest.param(
        "delete-foo-bar",
        alice(),
        A.DELETE_MANIFEST,
        "baz/app",
        None,
        DENY,
        (),
        {},
        id="seed-delete-not-in-other-namespaces",
    ),
    pytest.param("delete-foo-bar", alice(), A.PULL, "foo/app", None, DENY, (), {}, id="seed-delete-grants-no-pull"),
    # Seed: "permit the creation, deletion and push of image repositories in the namespace foo".
    pytest.param(
        "manage-foo",
        alice(),
        A.CREATE_REPOSITORY,
        "foo/new",
        None,
        ALLOW,
        ("b/manage-foo#0",),
        {},
        id="seed-foo-create",
    ),
    pytest.param(
        "manage-foo", alice(), A.PUSH, "foo/app", None, ALLOW, ("b/manage-foo#0",), {}, id="seed-foo-push-blobs"
    ),
    pytest.param(
        "manage-foo", alice(), A.TAG_CREATE, "foo/app", "v1", ALLOW, ("b/manage-foo#0",), {}, id="seed-foo-push-new-tag"
    ),
    pytest.param(
        "manage-foo",
        alice(),
        A.TAG_OVERWRITE,
        "foo/app",
        "latest",
        ALLOW,
        ("b/manage-foo#0",),
        {},
        id="seed-foo-push-overwrites-tag",
    ),
    pytest.param(
        "manage-foo", alice(), A.DELETE_MANIFEST, "foo/app", None, ALLOW, ("b/manage-foo#0",), {}, id="seed-foo-delete"
    ),
    pytest.param("manage-foo", alice(), A.PULL, "foo/app", None, DENY, (), {}, id="seed-foo-grants-no-pull"),
    pytest.param("manage-foo", alice(), A.PUSH, "bar/app", None, DENY, (), {}, id="seed-foo-nothing-outside-foo"),
    # Seed: "prohibit deleting any image repository", combined with allows.
    pytest.param(
        "deny-delete",
        alice(),
        A.DELETE_MANIFEST,
        "foo/app",
        None,
        DENY,
        ("guard/no-delete#0",),
        {},
        id="seed-deny-delete-beats-full-access",
    ),
    pytest.param(
        "deny-delete",
        alice(),
        A.DELETE_TAG,
        "any/where",
        "v1",
        ALLOW,
        ("full/QcloudCCRFullAccess#0",),
        {},
        id="seed-deny-delete-repository-leaves-delete-tag",
    ),
    pytest.param(
        "deny-delete",
        alice(),
        A.PULL,
        "foo/app",
        None,
        ALLOW,
        ("full/QcloudCCRFullAccess#0",),
        {},
        id="seed-deny-delete-leaves-pull",
    ),
    pytest.param(
        "deny-delete",
        alice(),
        A.PUSH,
        "foo/app",
        None,
        ALLOW,
        ("full/QcloudCCRFullAccess#0",),
        {},
        id="seed-deny-delete-leaves-push",
    ),
    pytest.param(
        "deny-delete-foo",
        alice(),
        A.DELETE_BLOB,
        "foo/app",
        None,
        DENY,
        ("guard/no-delete#0",),
        {},
        id="seed-deny-delete-beats-delete-foo-bar",
    ),
    # Seed: image tag permissions, resource repo/${namespace}/${name}:${tag}.
    pytest.param(
        "delete-tag",
        alice(),
        A.DELETE_TAG,
        "foo/bar",
        "v1",
        ALLOW,
        ("b/delete-tag#0",),
        {},
        id="seed-delete-tag-on-its-tag",
    ),
    pytest.param(
        "delete-tag", alice(), A.DELETE_TAG, "foo/bar", "v2", DENY, (), {}, id="seed-delete-tag-not-another-tag"
    ),
    pytest.param(
        "delete-tag",
        alice(),
        A.DELETE_MANIFEST,
        "foo/bar",
        None,
        DENY,
        (),
        {},
        id="seed-delete-tag-never-deletes-by-digest",
    ),
    pytest.param("delete-tag", alice(), A.PULL, "foo/bar", "v1", DENY, (), {}, id="seed-delete-tag-grants-no-pull"),
    # Seed: "permit collaborator A to pull images"; "forbid collaborator B from pulling in ns1".
    pytest.param(
        "pull-a-not-b", alice(), A.PULL, "ns1/app", "latest", ALLOW, ("a/pull#0",), {}, id="seed-pull-a-may-pull-ns1"
    ),
    pytest.param(
        "pull-a-not-b", alice(), A.LIST, "ns1/app", None, ALLOW, ("a/pull#0",), {}, id="seed-pull-includes-tag-list"
    ),
    pytest.param(
        "pull-a-not-b", BOB, A.PULL, "ns1/app", None, DENY, ("b/no-pull-ns1#0",), {}, id="seed-pull-b-forbidden-in-ns1"
    ),
    pytest.param(
        "pull-a-not-b", BOB, A.PULL, "ns2/app", None, ALLOW, ("a/pull#0",), {}, id="seed-pull-b-allowed-elsewhere"
    ),
    # Presets.
    *[
        pytest.param(
            "ccr-full",
            alice(),
            action,
            "any/repo",
            "v1",
            ALLOW,
            ("p/QcloudCCRFullAccess#0",),
            {},
            id=f"preset-ccr-full-{action}",
        )
        for action in Action
    ],
    *[
        pytest.param(
            "ccr-read",
            alice(),
            action,
            "any/repo",
            "v1",
            ALLOW,
            ("p/QcloudCCRReadOnlyAccess#0",),
            {},
            id=f"preset-ccr-read-allows-{action}",
        )
        for action in (A.PULL, A.LIST, A.CATALOG)
    ],
    *[
        pytest.param(
            "ccr-read", alice(), action, "any/repo", "v1", DENY, (), {}, id=f"preset-ccr-read-forbids-{action}"
        )
        for action in (
            A.PUSH,
            A.TAG_CREATE,
            A.TAG_OVERWRITE,
            A.CREATE_REPOSITORY,
            A.DELETE_TAG,
            A.DELETE_MANIFEST,
            A.DELETE_BLOB,
        )
    ],
    *[
        pytest.param(
            "tcr-full",
            alice(),
            action,
            "any/repo",
            "v1",
            ALLOW,
            ("p/QcloudTCRFullAccess#0",),
            {},
            id=f"preset-tcr-full-{action}",
        )
        for action in Action
    ],
    *[
        pytest.param(
            "tcr-read",
            alice(),
            action,
            "any/repo",
            None,
            ALLOW,
            ("p/QcloudTCRReadOnlyAccess#0",),
            {},
            id=f"preset-tcr-read-allows-{action}",
        )
        for action in (A.PULL, A.LIST, A.CATALOG)
    ],
    *[
        pytest.param(
            "tcr-read", alice(), action, "any/repo", "v1", DENY, (), {}, id=f"preset-tcr-read-forbids-{action}"
        )
        for action in (A.PUSH, A.CREATE_REPOSITORY, A.DELETE_TAG, A.DELETE_MANIFEST)
    ],
    # TCR Individual examples.
    pytest.param(
        "team-01", alice(), A.PUSH, "team-01/app", None, ALLOW, ("b/team-01#0",), {}, id="tcr-team-namespace-push"
    ),
    pytest.param(
        "team-01",
        alice(),
        A.DELETE_MANIFEST,
        "team-01/app",
        None,
        ALLOW,
        ("b/team-01#0",),
        {},
        id="tcr-team-namespace-delete",
    ),
    pytest.param("team-01", alice(), A.PUSH, "team-02/app", None, DENY, (), {}, id="tcr-team-namespace-not-another"),
    pytest.param(
        "repo-demo", alice(), A.PULL, "team-01/repo-demo", "v1", ALLOW, ("b/repo-demo#0",), {}, id="tcr-repo-read-pull"
    ),
    pytest.param(
        "repo-demo",
        alice(),
        A.CATALOG,
        "team-01/repo-demo",
        None,
        ALLOW,
        ("b/repo-demo#0",),
        {},
        id="tcr-repo-read-describe-is-catalog",
    ),
    pytest.param("repo-demo", alice(), A.PUSH, "team-01/repo-demo", None, DENY, (), {}, id="tcr-repo-read-no-push"),
    pytest.param(
        "repo-demo", alice(), A.DELETE_TAG, "team-01/repo-demo", "v1", DENY, (), {}, id="tcr-repo-read-no-delete"
    ),
    pytest.param(
        "repo-demo", alice(), A.PULL, "team-01/other", None, DENY, (), {}, id="tcr-repo-read-not-its-neighbours"
    ),
    # Implicit: explicit deny over allow within one document.
    pytest.param(
        "allow-then-deny",
        alice(),
        A.PUSH,
        "foo/prod",
        None,
        DENY,
        ("b/foo#1",),
        {},
        id="explicit-deny-wins-in-one-document",
    ),
    pytest.param(
        "allow-then-deny",
        alice(),
        A.PUSH,
        "foo/dev",
        None,
        ALLOW,
        ("b/foo#0",),
        {},
        id="deny-narrows-only-its-resource",
    ),
    pytest.param(
        "allow-then-deny", alice(), A.PULL, "foo/prod", None, ALLOW, ("b/foo#0",), {}, id="deny-narrows-only-its-action"
    ),
    # Implicit: CAM wildcards.
    pytest.param(
        "delete-foo-bar",
        alice(),
        A.DELETE_MANIFEST,
        "foo/a/b",
        None,
        ALLOW,
        ("b/delete-foo-bar#0",),
        {},
        id="wildcard-star-crosses-slashes",
    ),
    pytest.param(
        "segment-globs", alice(), A.PULL, "foo/web-api", None, ALLOW, ("b/g#0",), {}, id="wildcard-inside-a-name"
    ),
    pytest.param(
        "segment-globs", alice(), A.PULL, "foo/api", None, DENY, (), {}, id="wildcard-inside-a-name-is-anchored"
    ),
    pytest.param(
        "segment-globs",
        alice(),
        A.PULL,
        "x/y/app",
        None,
        ALLOW,
        ("b/g#0",),
        {},
        id="wildcard-leading-star-any-namespace",
    ),
    pytest.param(
        "namespace-only",
        alice(),
        A.PULL,
        "foo/bar",
        None,
        DENY,
        (),
        {},
        id="namespace-resource-names-no-repository-in-it",
    ),
    pytest.param(
        "namespace-only",
        alice(),
        A.PULL,
        "foo",
        None,
        ALLOW,
        ("b/ns#0",),
        {},
        id="namespace-resource-names-single-segment-repository",
    ),
    # Implicit: tag resources.
    pytest.param(
        "tag-star",
        alice(),
        A.DELETE_TAG,
        "foo/bar",
        "anything",
        ALLOW,
        ("b/t#0",),
        {},
        id="delete-tag-trailing-star-covers-all-tags",
    ),
    pytest.param(
        "tag-glob", alice(), A.DELETE_TAG, "foo/bar", "rel-1", ALLOW, ("b/t#0",), {}, id="delete-tag-tag-glob"
    ),
    pytest.param("tag-glob", alice(), A.DELETE_TAG, "foo/bar", "dev", DENY, (), {}, id="delete-tag-tag-glob-excludes"),
    pytest.param(
        "tag-star-swallows-colon",
        alice(),
        A.DELETE_TAG,
        "foo/bar",
        "v1",
        ALLOW,
        ("b/t#0",),
        {},
        id="delete-tag-star-may-swallow-the-colon",
    ),
    pytest.param(
        "tag-star-swallows-colon",
        alice(),
        A.DELETE_TAG,
        "foo/bar",
        "v2",
        DENY,
        (),
        {},
        id="delete-tag-star-glob-is-exact",
    ),
    pytest.param(
        "mixed-levels", alice(), A.PULL, "a/b", None, ALLOW, ("b/m#0",), {}, id="mixed-pull-on-repository-resource"
    ),
    pytest.param("mixed-levels", alice(), A.PULL, "c/d", "v1", DENY, (), {}, id="mixed-tag-resource-never-grants-pull"),
    pytest.param(
        "mixed-levels",
        alice(),
        A.DELETE_TAG,
        "c/d",
        "v1",
        ALLOW,
        ("b/m#0.1",),
        {},
        id="mixed-split-statement-for-the-tag",
    ),
    pytest.param(
        "mixed-levels", alice(), A.DELETE_TAG, "a/b", "v1", DENY, (), {}, id="mixed-repository-resource-names-no-tag"
    ),
    # Implicit: string vs list forms, `name/` prefix, effect case.
    pytest.param(
        "string-forms",
        alice(),
        A.PULL,
        "foo/app",
        None,
        ALLOW,
        ("b/s#0",),
        {},
        id="forms-strings-name-prefix-and-capital-effect",
    ),
    pytest.param("list-forms", alice(), A.PULL, "foo/app", None, ALLOW, ("b/s#0",), {}, id="forms-lists"),
    pytest.param(
        "star-star",
        alice(),
        A.DELETE_BLOB,
        "x/y",
        None,
        ALLOW,
        ("b/all#0",),
        {},
        id="star-action-star-resource-is-everything",
    ),
    pytest.param(
        "other-products",
        alice(),
        A.PULL,
        "foo/app",
        None,
        ALLOW,
        ("b/mix#0",),
        {},
        id="other-products-accepted-and-inert",
    ),
    pytest.param(
        "console-only",
        alice(),
        A.CREATE_REPOSITORY,
        "foo/new",
        None,
        DENY,
        (),
        {},
        id="namespace-and-console-actions-grant-nothing",
    ),
    pytest.param(
        "push-pull", alice(), A.CREATE_REPOSITORY, "foo/new", None, DENY, (), {}, id="push-does-not-create-repositories"
    ),
    pytest.param("push-pull", alice(), A.CATALOG, "foo/app", None, DENY, (), {}, id="pull-is-not-catalog"),
    pytest.param(
        "catalog", alice(), A.CATALOG, "foo/app", None, ALLOW, ("b/c#0",), {}, id="get-user-repository-list-is-catalog"
    ),
    pytest.param("catalog", alice(), A.PULL, "foo/app", None, DENY, (), {}, id="catalog-grants-no-pull"),
    pytest.param(
        "personal-v3", alice(), A.TAG_OVERWRITE, "foo/app", "v1", ALLOW, ("b/v3#0",), {}, id="tcr-personal-v3-names"
    ),
    pytest.param(
        "personal-v3",
        alice(),
        A.DELETE_TAG,
        "foo/app",
        "v1",
        ALLOW,
        ("b/v3#0",),
        {},
        id="tcr-delete-image-personal-is-delete-tag",
    ),
    pytest.param(
        "ccr-resource-tcr-action",
        alice(),
        A.PUSH,
        "foo/app",
        None,
        DENY,
        (),
        {},
        id="tcr-action-never-reaches-ccr-resource",
    ),
    pytest.param(
        "ccr-resource-tcr-action",
        alice(),
        A.PUSH,
        "bar/app",
        None,
        ALLOW,
        ("b/x#0",),
        {},
        id="tcr-action-reaches-tcr-resource",
    ),
    pytest.param(
        "enterprise-star",
        alice(),
        A.PULL,
        "any/app",
        None,
        ALLOW,
        ("b/e#0",),
        {},
        id="tcr-enterprise-action-through-star",
    ),
    # Implicit: bindings to groups and service accounts.
    pytest.param("groups", DEV, A.PULL, "foo/app", None, ALLOW, ("team/pull#0",), {}, id="binding-to-a-group"),
    pytest.param("groups", CI, A.PULL, "foo/app", None, ALLOW, ("team/pull#0",), {}, id="binding-to-a-service-account"),
    pytest.param("groups", alice(), A.PULL, "foo/app", None, DENY, (), {}, id="binding-only-its-members"),
    # Implicit: conditions.
    pytest.param(
        "ip-allow", alice(), A.PULL, "foo/app", None, ALLOW, ("b/net#0",), {"source": INSIDE}, id="ip-equal-inside"
    ),
    pytest.param("ip-allow", alice(), A.PULL, "foo/app", None, DENY, (), {"source": OUTSIDE}, id="ip-equal-outside"),
    pytest.param(
        "ip-deny",
        alice(),
        A.PUSH,
        "foo/app",
        None,
        ALLOW,
        ("b/full#0",),
        {"source": "172.20.0.1"},
        id="ip-not-equal-second-network-is-inside",
    ),
    pytest.param(
        "ip-deny",
        alice(),
        A.PUSH,
        "foo/app",
        None,
        DENY,
        ("b/full#1",),
        {"source": OUTSIDE},
        id="ip-not-equal-deny-outside-both",
    ),
    pytest.param(
        "until",
        alice(),
        A.PULL,
        "foo/app",
        None,
        ALLOW,
        ("b/lease#0",),
        {"now": datetime(2026, 1, 31, 15, 59, tzinfo=UTC)},
        id="date-less-than-before-with-offset",
    ),
    pytest.param(
        "until",
        alice(),
        A.PULL,
        "foo/app",
        None,
        DENY,
        (),
        {"now": datetime(2026, 1, 31, 16, 0, tzinfo=UTC)},
        id="date-less-than-at-the-instant",
    ),
    pytest.param(
        "window",
        alice(),
        A.PULL,
        "foo/app",
        None,
        ALLOW,
        ("b/w#0",),
        {"now": datetime(2026, 1, 31, 0, 0, tzinfo=UTC)},
        id="date-less-than-equal-includes-the-instant",
    ),
    pytest.param(
        "window",
        alice(),
        A.PULL,
        "foo/app",
        None,
        DENY,
        (),
        {"now": datetime(2025, 12, 31, 23, 59, tzinfo=UTC)},
        id="date-greater-than-equal-before",
    ),
]


@pytest.mark.parametrize(
    ("setup_name", "principal", "action", "repository", "tag", "effect", "statements", "request_"), CASES
)
def test_decision(
    setup_name: str,
    principal: Principal,
    action: Action,
    repository: str,
    tag: str | None,
    effect: Effect,
    statements: tuple[str, ...],
    request_: dict[str, object],
) -> None:
    """The decision, and the statements that made it, for one request against one policy set."""
    decision = decide(S[setup_name], principal, action, repository, tag, **request_)  # type: ignore[arg-type]
    assert_decision(decision, effect, statements)


# --- Errors: refused whole, with file and line ---------------------------------------------------

ERRORS = [
    pytest.param(
        {"x": '{"version": "2.0", "statement": [\n  {"action": "ccr:pull"\n   "resource": "*"}]}'},
        "tencent/x.json:3",
        "invalid JSON",
        id="json-syntax-error-line",
    ),
    pytest.param(
        {
            "x": '{"version": "2.0",\n "statement": [{"effect": "allow",\n  "effect": "deny", "action": "ccr:pull", "resource": "*"}]}'
        },
        "tencent/x.json:3",
        "`effect` is written twice",
        id="json-duplicate-key",
    ),
    pytest.param(
        {"x": '{"statement": [{"action": "ccr:pull", "resource": "*", "effect": "allow"}]}'},
        "tencent/x.json:1",
        "`version` is required",
        id="version-missing",
    ),
    pytest.param(
        {"x": '{\n "version": "1",\n "statement": []}'},
        "tencent/x.json:2",
        'must be the string "2.0"',
        id="version-wrong",
    ),
    pytest.param(
        {"x": '{\n "version": 2.0,\n "statement": []}'},
        "tencent/x.json:2",
        'must be the string "2.0"',
        id="version-a-number",
    ),
    pytest.param(
        {"x": '{"version": "2.0",\n "Statement": []}'},
        "tencent/x.json:2",
        "write `statement`, not `Statement`",
        id="keys-are-lower-case",
    ),
    pytest.param(
        {"x": '{"version": "2.0",\n "statement": []}'}, "tencent/x.json:1", "non-empty list", id="statement-empty"
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"*"').replace('"effect"', '"Effect"'))},
        "tencent/x.json:6",
        "write `effect`",
        id="statement-keys-are-lower-case",
    ),
    pytest.param(
        {
            "x": cam(
                '    {"principal": {"qcs": ["qcs::cam::uin/1:uin/2"]}, "action": "ccr:pull", "resource": "*", "effect": "allow"}'
            )
        },
        "tencent/x.json:4",
        "attach this policy in bindings.yaml",
        id="principal-refused",
    ),
    pytest.param(
        {"x": cam('    {"sid": "a", "action": "ccr:pull", "resource": "*", "effect": "allow"}')},
        "tencent/x.json:4",
        "unknown key `sid`",
        id="unknown-key",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"*"', "permit"))},
        "tencent/x.json:6",
        "`effect` must be `allow` or `deny`",
        id="effect-invalid",
    ),
    pytest.param(
        {"x": cam(stmt("[]", '"*"'))},
        "tencent/x.json:4",
        "`action` must be a string or a non-empty list",
        id="action-empty-list",
    ),
    pytest.param(
        {"x": cam(stmt('["ccr:pull",\n      "ccr:Pull"]', '"*"'))},
        "tencent/x.json:5",
        "did you mean `ccr:pull`?",
        id="action-case-typo",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:DeleteRepositry"', '"*"'))},
        "tencent/x.json:4",
        "did you mean `ccr:DeleteRepository`?",
        id="action-typo",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:Delte*"', '"*"'))},
        "tencent/x.json:4",
        "matches no ccr action",
        id="action-wildcard-matches-nothing",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr"', '"*"'))}, "tencent/x.json:4", "is not `service:ApiName`", id="action-without-service"
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '["*",\n      "qcs::ccr:ap-guangzhou::repo/*"]'))},
        "tencent/x.json:6",
        "knows no Tencent region or account",
        id="resource-region-refused",
    ),
    pytest.param(
        {"x": cam(stmt('"tcr:PullRepository"', '"qcs::tcr:ap-guangzhou:uin/1:repository/tcr-1/ns/app"'))},
        "tencent/x.json:5",
        "TCR Enterprise instance",
        id="resource-enterprise-refused",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"qcs::ccr:::repo/Foo/*"'))},
        "tencent/x.json:5",
        "lower-case",
        id="resource-upper-case",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"qcs::ccr:::repo/foo/ba?"'))},
        "tencent/x.json:5",
        "`*` is the only wildcard",
        id="resource-question-mark",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"arn:aws:ecr:::repository/x"'))},
        "tencent/x.json:5",
        "is not `*` nor `qcs:",
        id="resource-not-qcs",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"qcs:1:ccr:::repo/*"'))},
        "tencent/x.json:5",
        "leave the project segment empty",
        id="resource-project-refused",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"*"', condition='{"string_equal": {"qcs:tag/team": "a"}}'))},
        "tencent/x.json:7",
        "`string_equal` is not supported",
        id="condition-operator-unsupported",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"*"', condition='{"ip_equal": {"qcs:current_time": "x"}}'))},
        "tencent/x.json:7",
        "`ip_equal` tests `qcs:ip`",
        id="condition-key-mismatch",
    ),
    pytest.param(
        {"x": cam(stmt('"ccr:pull"', '"*"', condition='{"ip_equal": {"qcs:ip": "10.0.0.300/8"}}'))},
        "tencent/x.json:7",
        "`ip_equal`:",
        id="condition-bad-network",
    ),
    pytest.param(
        {
            "x": cam(
                stmt('"ccr:pull"', '"*"', condition='{"date_less_than": {"qcs:current_time": "2016-06-01 00:01:00"}}')
            )
        },
        "tencent/x.json:7",
        "has no zone",
        id="condition-time-without-zone",
    ),
    pytest.param(
        {"QcloudCCRFullAccess": cam(stmt('"ccr:pull"', '"*"'))},
        "tencent/QcloudCCRFullAccess.json",
        "preset policy",
        id="file-named-like-a-preset",
    ),
]


@pytest.mark.parametrize(("docs", "where", "message"), ERRORS)
def test_error(docs: dict[str, str], where: str, message: str) -> None:
    """A document that does not validate is refused whole, with its file, line and reason."""
    errors = errors_of({f"tencent/{name}.json": text for name, text in docs.items()})
    assert len(errors) == 1
    assert errors[0][0] == where
    assert message in errors[0][1]


@pytest.mark.parametrize(
    ("principals", "project", "message"),
    [
        pytest.param("[everyone]", None, "not to `everyone`", id="binding-to-everyone-refused"),
        pytest.param("[anonymous]", None, "not to `anonymous`", id="binding-to-anonymous-refused"),
        pytest.param("[user:alice]", "A", "take no `project`", id="binding-with-project-refused"),
    ],
)
def test_binding_errors(principals: str, project: str | None, message: str) -> None:
    """CAM policies attach to users, groups and service accounts, never at a project."""
    files = setup({"pull": PULL}, ("b", "pull", principals))
    if project is not None:
        files["bindings.yaml"] += f"    project: {project}\n"
    errors = errors_of(files)
    assert [(w, m) for w, m in errors if message in m] and errors[0][0] == "tencent/pull.json"


def test_every_document_error_is_reported() -> None:
    """Two bad documents give two errors; the good one beside them does not rescue the set."""
    files = {
        "tencent/a.json": cam(stmt('"ccr:Pull"', '"*"')),
        "tencent/b.json": cam(stmt('"ccr:pull"', '"qcs::ccr:::repo/Foo"')),
        "tencent/c.json": PULL,
    }
    assert [w for w, _ in errors_of(files)] == ["tencent/a.json:4", "tencent/b.json:5"]


def test_compiled_statements_carry_their_source() -> None:
    """Bound statements name the binding, the document and the index, and point at the line."""
    policy_set = compile_policy_set(S["manage-foo"], CONTEXT, 7)
    (statement,) = policy_set.statements
    assert statement.id == "b/manage-foo#0"
    assert str(statement.location) == "tencent/manage-foo.json:3"
    assert statement.dialect == "tencent"
    assert statement.actions == frozenset(
        {A.CREATE_REPOSITORY, A.PUSH, A.TAG_CREATE, A.TAG_OVERWRITE, A.DELETE_MANIFEST, A.DELETE_BLOB}
    )
    assert [str(r) for r in statement.resources] == ["foo/**"]


def test_unbound_documents_grant_nothing() -> None:
    """A CAM document needs a binding: compiled alone it yields no statement."""
    assert compile_policy_set({"tencent/pull.json": PULL}, CONTEXT, 1).statements == ()


def test_registered_under_its_directory_name() -> None:
    """`policies/tencent/*.json` is compiled by this dialect, whose presets are bindable."""
    assert isinstance(DIALECTS["tencent"], TencentDialect)
    names = {d.name for d in TencentDialect().builtins(CONTEXT)}
    assert names == {"QcloudCCRFullAccess", "QcloudCCRReadOnlyAccess", "QcloudTCRFullAccess", "QcloudTCRReadOnlyAccess"}


def test_every_mapped_action_is_a_known_word() -> None:
    """The table maps names to canonical actions only; console names map to none."""
    assert all(name.partition(":")[0] in ("ccr", "tcr") for name in TENCENT_ACTIONS)
    assert {a for entry in TENCENT_ACTIONS.values() for a in entry.actions} == set(Action)


# --- Accepted as CAM accepts them, with a warning -----------------------------------------------


@pytest.mark.parametrize(
    ("docs", "where", "message"),
    [
        pytest.param(
            {"x": cam(stmt('"ccr:DeleteTag"', '"qcs::ccr:::repo/foo/bar"'))},
            "tencent/x.json:4",
            "can name a tag",
            id="delete-tag-on-a-repository-resource",
        ),
        pytest.param(
            {"x": cam(stmt('"ccr:pull"', '"qcs::ccr:::repo/foo/bar:v1"'))},
            "tencent/x.json:4",
            "names a ccr repository",
            id="pull-on-a-tag-resource",
        ),
        pytest.param(
            {"x": cam(stmt('"ccr:pull"', '"qcs::tcr:::repo/foo/*"'))},
            "tencent/x.json:4",
            "names a ccr repository",
            id="ccr-action-on-a-tcr-resource",
        ),
        pytest.param(
            {"x": cam(stmt('"tcr:PullRepository"', '"qcs::tcr:::repo/foo/*"'))},
            "tencent/x.json:4",
            "write `tcr:PullRepositoryPersonal`",
            id="enterprise-action-on-a-personal-resource",
        ),
    ],
)
def test_warning(docs: dict[str, str], where: str, message: str) -> None:
    """A statement CAM accepts but that can match nothing for an action is accepted, with a warning."""
    policy_set = compile_policy_set({f"tencent/{name}.json": text for name, text in docs.items()}, CONTEXT, 1)
    (warning,) = policy_set.warnings
    assert warning.startswith(where + ": ")
    assert message in warning


TAGGED = setup(
    {
        "pull-v1": cam(stmt('["ccr:pull", "ccr:DeleteTag"]', '"qcs::ccr:::repo/ns/name:v1"')),
    },
    ("b", "pull-v1", "[user:alice]"),
)


@pytest.mark.parametrize(
    ("action", "tag", "effect", "statements"),
    [
        # Seed: "The ${tag} field currently is only for authenticating the permissions for deleting."
        pytest.param(A.DELETE_TAG, "v1", ALLOW, ("b/pull-v1#0",), id="tagged-delete-tag-allowed"),
        pytest.param(A.DELETE_TAG, "v2", DENY, (), id="tagged-delete-other-tag-denied"),
        # ccr:pull is checked against qcs::ccr:::repo/${namespace}/${name}: a tag resource never matches.
        pytest.param(A.PULL, "v1", DENY, (), id="tagged-pull-grants-no-pull"),
        pytest.param(A.PULL, None, DENY, (), id="tagged-pull-grants-no-blob-pull"),
        pytest.param(A.LIST, None, DENY, (), id="tagged-pull-grants-no-list"),
    ],
)
def test_a_tag_qualified_statement_is_decided_as_cam_decides_it(
    action: Action, tag: str | None, effect: Effect, statements: tuple[str, ...]
) -> None:
    assert_decision(decide(TAGGED, alice(), action, "ns/name", tag), effect, statements)
    assert len(compile_policy_set(TAGGED, CONTEXT, 1).warnings) == 1
