"""Decision corpus of the Alibaba RAM dialect (seed 003, "Container Registry: RAM authorization").

Both system policies and every scenario of the seed are cases here (Scenario 1 with and without
the console statement, Scenario 2 in its region and another, Scenario 3), then the cases the seed
leaves implicit, decided as policies/README.md (alibaba section) writes down, then the errors with their
file and line. Each case's id names the behaviour it pins down.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from regproxy.identity.principal import Principal, PrincipalKind, make_principal
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.dialects.alibaba import ALIBABA_ACTIONS, SYSTEM_POLICIES, AlibabaDialect
from regproxy.policy.dialects.registry import DIALECTS
from regproxy.policy.load import PolicySetInvalid, compile_policy_set
from regproxy.policy.model import Decision, Effect
from tests.support.decisions import assert_decision, decide_checked

HANGZHOU = DialectContext(alibaba_region="cn-hangzhou", alibaba_account="1234")
BEIJING = DialectContext(alibaba_region="cn-beijing", alibaba_account="1234")
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
INSIDE, OUTSIDE = "10.1.2.3", "192.168.1.1"
A = Action
ALLOW, DENY = Effect.ALLOW, Effect.DENY
READS = (A.PULL, A.LIST, A.CATALOG)
WRITES = (A.PUSH, A.TAG_CREATE, A.TAG_OVERWRITE, A.CREATE_REPOSITORY, A.DELETE_TAG, A.DELETE_MANIFEST, A.DELETE_BLOB)


def ram(*statements: str) -> str:
    body = ",\n".join(statements)
    return f'{{\n  "Version": "1",\n  "Statement": [\n{body}\n  ]\n}}\n'


def stmt(
    action: str,
    resource: str,
    effect: str = "Allow",
    condition: str | None = None,
    key: str = "Action",
    sid: str | None = None,
) -> str:
    head = f'"Sid": "{sid}", ' if sid else ""
    extra = f',\n     "Condition": {condition}' if condition else ""
    return f'    {{{head}"{key}": {action},\n     "Resource": {resource},\n     "Effect": "{effect}"{extra}}}'


def setup(docs: dict[str, str], *entries: tuple[str, str, str]) -> dict[str, str]:
    files = {f"alibaba/{name}.json": text for name, text in docs.items()}
    files["bindings.yaml"] = "bindings:\n" + "".join(
        f"  - id: {bid}\n    policy: {policy}\n    principals: {principals}\n" for bid, policy, principals in entries
    )
    return files


ALICE = make_principal(PrincipalKind.USER, "alice")
BOB = make_principal(PrincipalKind.USER, "bob")
CI = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci")
DEV = make_principal(PrincipalKind.USER, "dave", groups=["devs"])


def decide(
    files: dict[str, str],
    principal: Principal,
    action: Action,
    repository: str,
    tag: str | None = None,
    context: DialectContext = HANGZHOU,
    source: str = INSIDE,
    now: datetime = NOW,
) -> Decision:
    return decide_checked(files, context, principal, action, repository, tag, source=source, now=now)


def errors_of(files: dict[str, str]) -> list[tuple[str, str]]:
    with pytest.raises(PolicySetInvalid) as caught:
        compile_policy_set(files, HANGZHOU, 1)
    return [(str(e.location), e.message) for e in caught.value.errors]


# --- The seed's documents, verbatim -------------------------------------------------------------

SCENARIO_1 = """{
"Statement": [
{
"Action": [
"cr:Get*",
"cr:List*",
"cr:PullRepository"
],
"Effect": "Allow",
"Resource": [
"acs:cr:*:*:repository/juzhong/*"
]
}
],
"Version": "1"
}"""
CONSOLE_STATEMENT = """{
"Action": [
"cr:ListNamespace",
"cr:ListRepository"
],
"Effect": "Allow",
"Resource": [
"*"
]
}"""
SCENARIO_1_CONSOLE = SCENARIO_1.replace("}\n],", "},\n" + CONSOLE_STATEMENT + "\n],", 1)
SCENARIO_2 = """{
"Statement": [
{
"Action": [
"cr:*"
],
"Effect": "Allow",
"Resource": [
"acs:cr:cn-hangzhou:*:repository/juzhong/nginx"
]
},
{
"Action": [
"cr:Get*",
"cr:List*"
],
"Effect": "Allow",
"Resource": [
"acs:cr:*:*:repository/juzhong"
]
}
],
"Version": "1"
}"""
SCENARIO_3 = """{
"Statement": [
{
"Action": [
"cr:*"
],
"Effect": "Allow",
"Resource": [
"acs:cr:cn-hangzhou:*:repository/juzhong",
"acs:cr:cn-hangzhou:*:repository/juzhong/*"
]
}
],
"Version": "1"
}"""
PUSHER = ram(stmt('["cr:PushRepository", "cr:PullRepository"]', '"acs:cr:*:*:repository/juzhong/*"'))

S = {
    "full": setup({}, ("sys", "AliyunContainerRegistryFullAccess", "[user:alice]")),
    "read": setup({}, ("sys", "AliyunContainerRegistryReadOnlyAccess", "[user:alice]")),
    "s1": setup({"scenario1": SCENARIO_1}, ("b", "scenario1", "[user:alice]")),
    "s1-console": setup({"scenario1": SCENARIO_1_CONSOLE}, ("b", "scenario1", "[user:alice]")),
    "s2": setup({"scenario2": SCENARIO_2}, ("b", "scenario2", "[user:alice]")),
    "s3": setup({"scenario3": SCENARIO_3}, ("b", "scenario3", "[user:alice]")),
    # Implicit cases.
    "deny-delete": setup(
        {"guard": ram(stmt('"cr:Delete*"', '"acs:cr:*:*:repository/juzhong/*"', "Deny"))},
        ("sys", "AliyunContainerRegistryFullAccess", "[user:alice]"),
        ("g", "guard", "[user:alice]"),
    ),
    "other-account": setup(
        {"acct": ram(stmt('"cr:*"', '"acs:cr:cn-hangzhou:5678:repository/juzhong/*"'))}, ("b", "acct", "[user:alice]")
    ),
    "account-glob": setup(
        {"acct": ram(stmt('"cr:PullRepository"', '"acs:cr:cn-*:12*:repository/juzhong/*"'))},
        ("b", "acct", "[user:alice]"),
    ),
    "all-cr": setup({"all": ram(stmt('"cr:*"', '"acs:cr:*:*:*"'))}, ("b", "all", "[user:alice]")),
    "instances": setup(
        {"inst": ram(stmt('["cr:GetInstance", "cr:PullRepository"]', '"acs:cr:*:*:instance/*"'))},
        ("b", "inst", "[user:alice]"),
    ),
    "pusher": setup({"pusher": PUSHER}, ("b", "pusher", "[user:alice]")),
    "creator": setup(
        {"creator": ram(stmt('["cr:CreateRepository", "cr:PushRepository"]', '"acs:cr:*:*:repository/juzhong/*"'))},
        ("b", "creator", "[user:alice]"),
    ),
    "delete-tag": setup(
        {"dt": ram(stmt('"cr:DeleteRepositoryTag"', '"acs:cr:*:*:repository/juzhong/*"'))}, ("b", "dt", "[user:alice]")
    ),
    "delete-repo": setup(
        {"dr": ram(stmt('"cr:DeleteRepository"', '"acs:cr:*:*:repository/juzhong/*"'))}, ("b", "dr", "[user:alice]")
    ),
    "case": setup(
        {"c": ram(stmt('"CR:pullrepository"', '"acs:cr:*:*:repository/juzhong/*"', "allow"))},
        ("b", "c", "[user:alice]"),
    ),
    "string-forms": setup(
        {"s": ram(stmt('"cr:PullRepository"', '"acs:cr:*:*:repository/juzhong/*"'))}, ("b", "s", "[user:alice]")
    ),
    "sid": setup(
        {"s": ram(stmt('["cr:PullRepository"]', '["acs:cr:*:*:repository/juzhong/*"]', sid="PullJuzhong"))},
        ("b", "s", "[user:alice]"),
    ),
    "other-products": setup(
        {
            "mix": ram(
                stmt(
                    '["oss:GetObject", "cr:PullRepository"]',
                    '["acs:oss:*:*:bucket/*", "acs:cr:*:*:repository/juzhong/*"]',
                )
            )
        },
        ("b", "mix", "[user:alice]"),
    ),
    "not-action-allow": setup({"na": ram(stmt('["cr:Delete*"]', '"*"', key="NotAction"))}, ("b", "na", "[user:alice]")),
    "not-action-deny": setup(
        {"na": ram(stmt('["cr:PullRepository"]', '"*"', "Deny", key="NotAction"))},
        ("sys", "AliyunContainerRegistryFullAccess", "[user:alice]"),
        ("b", "na", "[user:alice]"),
    ),
    "groups": setup({"pusher": PUSHER}, ("team", "pusher", "[group:devs, service-account:ci]")),
    "ip-allow": setup(
        {
            "net": ram(
                stmt(
                    '"cr:PullRepository"',
                    '"*"',
                    condition='{"IpAddress": {"acs:SourceIp": ["10.0.0.0/8", "172.16.0.0/12"]}}',
                )
            )
        },
        ("b", "net", "[user:alice]"),
    ),
    "ip-deny": setup(
        {"net": ram(stmt('"cr:*"', '"*"', "Deny", condition='{"NotIpAddress": {"acs:SourceIp": "10.0.0.0/8"}}'))},
        ("sys", "AliyunContainerRegistryFullAccess", "[user:alice]"),
        ("b", "net", "[user:alice]"),
    ),
    "until": setup(
        {
            "lease": ram(
                stmt(
                    '"cr:PullRepository"',
                    '"*"',
                    condition='{"DateLessThan": {"acs:CurrentTime": "2019-08-12T17:00:00+08:00"}}',
                )
            )
        },
        ("b", "lease", "[user:alice]"),
    ),
    "window-and-net": setup(
        {
            "w": ram(
                stmt(
                    '"cr:PullRepository"',
                    '"*"',
                    condition='{"DateGreaterThan": {"acs:CurrentTime": "2026-01-01T00:00:00Z"}, "IpAddress": {"acs:sourceip": "10.0.0.0/8"}}',
                )
            )
        },
        ("b", "w", "[user:alice]"),
    ),
}

CASES = [
    # System policy AliyunContainerRegistryFullAccess: every operation on every image resource.
    *[
        pytest.param(
            "full",
            ALICE,
            action,
            "any/repo",
            "v1",
            ALLOW,
            ("sys/AliyunContainerRegistryFullAccess#0",),
            {},
            id=f"system-full-{action}",
        )
        for action in Action
    ],
    # System policy AliyunContainerRegistryReadOnlyAccess: view the repository list and pull.
    *[
        pytest.param(
            "read",
            ALICE,
            action,
            "any/repo",
            "v1",
            ALLOW,
            ("sys/AliyunContainerRegistryReadOnlyAccess#0",),
            {},
            id=f"system-read-allows-{action}",
        )
        for action in READS
    ],
    *[
        pytest.param("read", ALICE, action, "any/repo", "v1", DENY, (), {}, id=f"system-read-forbids-{action}")
        for action in WRITES
    ],
    pytest.param("read", BOB, A.PULL, "any/repo", None, DENY, (), {}, id="system-policy-only-for-bound-principals"),
    # Scenario 1: pull in juzhong and view its metadata; no other namespace.
    pytest.param(
        "s1", ALICE, A.PULL, "juzhong/nginx", "latest", ALLOW, ("b/scenario1#0",), {}, id="scenario1-pull-in-juzhong"
    ),
    pytest.param(
        "s1", ALICE, A.LIST, "juzhong/nginx", None, ALLOW, ("b/scenario1#0",), {}, id="scenario1-list-tags-in-juzhong"
    ),
    pytest.param(
        "s1",
        ALICE,
        A.CATALOG,
        "juzhong/nginx",
        None,
        ALLOW,
        ("b/scenario1#0",),
        {},
        id="scenario1-catalog-shows-juzhong",
    ),
    pytest.param("s1", ALICE, A.CATALOG, "other/app", None, DENY, (), {}, id="scenario1-cannot-see-other-namespaces"),
    pytest.param("s1", ALICE, A.PULL, "other/app", None, DENY, (), {}, id="scenario1-no-pull-elsewhere"),
    pytest.param("s1", ALICE, A.PUSH, "juzhong/nginx", None, DENY, (), {}, id="scenario1-no-push"),
    # Scenario 1 with the console statement: see all namespaces and repositories, pull only juzhong.
    pytest.param(
        "s1-console",
        ALICE,
        A.CATALOG,
        "other/app",
        None,
        ALLOW,
        ("b/scenario1#1",),
        {},
        id="scenario1-console-catalog-shows-everything",
    ),
    pytest.param(
        "s1-console", ALICE, A.PULL, "other/app", None, DENY, (), {}, id="scenario1-console-still-no-pull-elsewhere"
    ),
    pytest.param(
        "s1-console", ALICE, A.LIST, "other/app", None, DENY, (), {}, id="scenario1-console-no-tag-list-elsewhere"
    ),
    pytest.param(
        "s1-console",
        ALICE,
        A.PULL,
        "juzhong/app",
        None,
        ALLOW,
        ("b/scenario1#0",),
        {},
        id="scenario1-console-pull-in-juzhong",
    ),
    # Scenario 2 in cn-hangzhou: full control of juzhong/nginx, metadata of the namespace.
    *[
        pytest.param(
            "s2",
            ALICE,
            action,
            "juzhong/nginx",
            "v1",
            ALLOW,
            ("b/scenario2#0",),
            {},
            id=f"scenario2-hangzhou-{action}-on-nginx",
        )
        for action in Action
        if action is not A.CATALOG
    ],
    pytest.param(
        "s2",
        ALICE,
        A.CATALOG,
        "juzhong/nginx",
        None,
        ALLOW,
        ("b/scenario2#0", "b/scenario2#1.1"),
        {},
        id="scenario2-hangzhou-catalog-on-nginx",
    ),
    pytest.param(
        "s2", ALICE, A.PULL, "juzhong/redis", None, DENY, (), {}, id="scenario2-no-pull-of-other-repositories"
    ),
    pytest.param(
        "s2",
        ALICE,
        A.CATALOG,
        "juzhong/redis",
        None,
        ALLOW,
        ("b/scenario2#1.1",),
        {},
        id="scenario2-namespace-listing-is-catalog",
    ),
    pytest.param(
        "s2", ALICE, A.CATALOG, "other/redis", None, DENY, (), {}, id="scenario2-no-listing-of-other-namespaces"
    ),
    # Scenario 2 in another region: the cn-hangzhou statement matches nothing.
    pytest.param(
        "s2", ALICE, A.PUSH, "juzhong/nginx", None, DENY, (), {"context": BEIJING}, id="scenario2-beijing-no-push"
    ),
    pytest.param(
        "s2", ALICE, A.PULL, "juzhong/nginx", None, DENY, (), {"context": BEIJING}, id="scenario2-beijing-no-pull"
    ),
    pytest.param(
        "s2",
        ALICE,
        A.CATALOG,
        "juzhong/nginx",
        None,
        ALLOW,
        ("b/scenario2#1.1",),
        {"context": BEIJING},
        id="scenario2-beijing-any-region-statement-still-lists",
    ),
    # Scenario 3: full control of the juzhong namespace in cn-hangzhou.
    *[
        pytest.param(
            "s3", ALICE, action, "juzhong/app", "v1", ALLOW, ("b/scenario3#0",), {}, id=f"scenario3-{action}-in-juzhong"
        )
        for action in Action
    ],
    pytest.param("s3", ALICE, A.PUSH, "other/app", None, DENY, (), {}, id="scenario3-nothing-outside-juzhong"),
    pytest.param(
        "s3",
        ALICE,
        A.PUSH,
        "juzhong/app",
        None,
        DENY,
        (),
        {"context": BEIJING},
        id="scenario3-nothing-in-another-region",
    ),
    # Implicit: explicit deny over allow.
    pytest.param(
        "deny-delete",
        ALICE,
        A.DELETE_MANIFEST,
        "juzhong/app",
        None,
        DENY,
        ("g/guard#0",),
        {},
        id="explicit-deny-beats-system-full-access",
    ),
    pytest.param(
        "deny-delete",
        ALICE,
        A.DELETE_TAG,
        "juzhong/app",
        "v1",
        DENY,
        ("g/guard#0",),
        {},
        id="explicit-deny-covers-tags",
    ),
    pytest.param(
        "deny-delete",
        ALICE,
        A.DELETE_BLOB,
        "other/app",
        None,
        ALLOW,
        ("sys/AliyunContainerRegistryFullAccess#0",),
        {},
        id="explicit-deny-only-its-resources",
    ),
    pytest.param(
        "deny-delete",
        ALICE,
        A.PUSH,
        "juzhong/app",
        None,
        ALLOW,
        ("sys/AliyunContainerRegistryFullAccess#0",),
        {},
        id="explicit-deny-only-its-actions",
    ),
    # Implicit: regions, accounts and resource types.
    pytest.param(
        "other-account", ALICE, A.PULL, "juzhong/app", None, DENY, (), {}, id="another-account-matches-nothing"
    ),
    pytest.param(
        "account-glob", ALICE, A.PULL, "juzhong/app", None, ALLOW, ("b/acct#0",), {}, id="region-and-account-globs"
    ),
    pytest.param(
        "all-cr", ALICE, A.DELETE_BLOB, "x/y", None, ALLOW, ("b/all#0",), {}, id="acs-cr-star-is-every-repository"
    ),
    pytest.param(
        "instances", ALICE, A.PULL, "juzhong/app", None, DENY, (), {}, id="instance-resources-name-no-repository"
    ),
    pytest.param(
        "s1", ALICE, A.PULL, "juzhong/a/b", None, ALLOW, ("b/scenario1#0",), {}, id="wildcard-star-crosses-slashes"
    ),
    # Implicit: the action table.
    pytest.param(
        "pusher",
        ALICE,
        A.TAG_OVERWRITE,
        "juzhong/app",
        "latest",
        ALLOW,
        ("b/pusher#0",),
        {},
        id="push-repository-pushes-tags",
    ),
    pytest.param(
        "pusher", ALICE, A.CREATE_REPOSITORY, "juzhong/new", None, DENY, (), {}, id="push-repository-does-not-create"
    ),
    pytest.param(
        "creator",
        ALICE,
        A.CREATE_REPOSITORY,
        "juzhong/new",
        None,
        ALLOW,
        ("b/creator#0",),
        {},
        id="create-repository-creates",
    ),
    pytest.param(
        "delete-tag",
        ALICE,
        A.DELETE_TAG,
        "juzhong/app",
        "v1",
        ALLOW,
        ("b/dt#0",),
        {},
        id="delete-repository-tag-deletes-tags",
    ),
    pytest.param(
        "delete-tag",
        ALICE,
        A.DELETE_MANIFEST,
        "juzhong/app",
        None,
        ALLOW,
        ("b/dt#0",),
        {},
        id="delete-repository-tag-deletes-by-digest",
    ),
    pytest.param(
        "delete-tag", ALICE, A.DELETE_BLOB, "juzhong/app", None, DENY, (), {}, id="delete-repository-tag-keeps-blobs"
    ),
    pytest.param(
        "delete-repo",
        ALICE,
        A.DELETE_BLOB,
        "juzhong/app",
        None,
        ALLOW,
        ("b/dr#0",),
        {},
        id="delete-repository-deletes-everything",
    ),
    pytest.param("case", ALICE, A.PULL, "juzhong/app", None, ALLOW, ("b/c#0",), {}, id="actions-match-without-case"),
    pytest.param("string-forms", ALICE, A.PULL, "juzhong/app", None, ALLOW, ("b/s#0",), {}, id="forms-strings"),
    pytest.param(
        "sid",
        ALICE,
        A.PULL,
        "juzhong/app",
        None,
        ALLOW,
        ("b/s#PullJuzhong",),
        {},
        id="forms-lists-and-sid-names-the-statement",
    ),
    pytest.param(
        "other-products",
        ALICE,
        A.PULL,
        "juzhong/app",
        None,
        ALLOW,
        ("b/mix#0",),
        {},
        id="other-products-accepted-and-inert",
    ),
    pytest.param(
        "not-action-allow", ALICE, A.PUSH, "any/app", None, ALLOW, ("b/na#0",), {}, id="not-action-allows-the-rest"
    ),
    pytest.param(
        "not-action-allow", ALICE, A.DELETE_MANIFEST, "any/app", None, DENY, (), {}, id="not-action-excludes-listed"
    ),
    pytest.param(
        "not-action-deny",
        ALICE,
        A.PULL,
        "any/app",
        None,
        ALLOW,
        ("sys/AliyunContainerRegistryFullAccess#0",),
        {},
        id="not-action-deny-spares-listed",
    ),
    pytest.param(
        "not-action-deny", ALICE, A.PUSH, "any/app", None, DENY, ("b/na#0",), {}, id="not-action-deny-denies-the-rest"
    ),
    pytest.param(
        "not-action-deny",
        ALICE,
        A.LIST,
        "any/app",
        None,
        DENY,
        ("b/na#0",),
        {},
        id="not-action-deny-covers-actions-others-imply",
    ),
    # Implicit: bindings.
    pytest.param("groups", DEV, A.PUSH, "juzhong/app", None, ALLOW, ("team/pusher#0",), {}, id="binding-to-a-group"),
    pytest.param(
        "groups", CI, A.PUSH, "juzhong/app", None, ALLOW, ("team/pusher#0",), {}, id="binding-to-a-service-account"
    ),
    pytest.param("groups", ALICE, A.PUSH, "juzhong/app", None, DENY, (), {}, id="binding-only-its-members"),
    # Implicit: conditions, written the RAM way.
    pytest.param(
        "ip-allow",
        ALICE,
        A.PULL,
        "any/app",
        None,
        ALLOW,
        ("b/net#0",),
        {"source": INSIDE},
        id="ip-address-first-network",
    ),
    pytest.param(
        "ip-allow",
        ALICE,
        A.PULL,
        "any/app",
        None,
        ALLOW,
        ("b/net#0",),
        {"source": "172.20.1.1"},
        id="ip-address-values-or",
    ),
    pytest.param("ip-allow", ALICE, A.PULL, "any/app", None, DENY, (), {"source": OUTSIDE}, id="ip-address-outside"),
    pytest.param(
        "ip-deny",
        ALICE,
        A.PUSH,
        "any/app",
        None,
        ALLOW,
        ("sys/AliyunContainerRegistryFullAccess#0",),
        {"source": INSIDE},
        id="not-ip-address-deny-spares-inside",
    ),
    pytest.param(
        "ip-deny",
        ALICE,
        A.PUSH,
        "any/app",
        None,
        DENY,
        ("b/net#0",),
        {"source": OUTSIDE},
        id="not-ip-address-deny-outside",
    ),
    pytest.param(
        "until",
        ALICE,
        A.PULL,
        "any/app",
        None,
        ALLOW,
        ("b/lease#0",),
        {"now": datetime(2019, 8, 12, 8, 59, tzinfo=UTC)},
        id="date-less-than-before-offset-time",
    ),
    pytest.param(
        "until",
        ALICE,
        A.PULL,
        "any/app",
        None,
        DENY,
        (),
        {"now": datetime(2019, 8, 12, 9, 0, tzinfo=UTC)},
        id="date-less-than-at-offset-time",
    ),
    pytest.param("window-and-net", ALICE, A.PULL, "any/app", None, ALLOW, ("b/w#0",), {}, id="operators-and-both-hold"),
    pytest.param(
        "window-and-net", ALICE, A.PULL, "any/app", None, DENY, (), {"source": OUTSIDE}, id="operators-and-one-fails"
    ),
    pytest.param(
        "window-and-net",
        ALICE,
        A.PULL,
        "any/app",
        None,
        DENY,
        (),
        {"now": datetime(2025, 6, 1, tzinfo=UTC)},
        id="date-greater-than-before",
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
        {"x": '{"Version": "1", "Statement": [\n  {"Action": "cr:PullRepository"\n   "Resource": "*"}]}'},
        "alibaba/x.json:3",
        "invalid JSON",
        id="json-syntax-error-line",
    ),
    pytest.param(
        {"x": '{"Version": "1",\n "Version": "1", "Statement": []}'},
        "alibaba/x.json:2",
        "`Version` is written twice",
        id="json-duplicate-key",
    ),
    pytest.param(
        {"x": '{"Statement": [{"Action": "cr:*", "Effect": "Allow", "Resource": "*"}]}'},
        "alibaba/x.json:1",
        "`Version` is required",
        id="version-missing",
    ),
    pytest.param(
        {"x": '{\n "Version": "2",\n "Statement": []}'},
        "alibaba/x.json:2",
        'must be the string "1"',
        id="version-wrong",
    ),
    pytest.param(
        {"x": '{\n "Version": 1,\n "Statement": []}'},
        "alibaba/x.json:2",
        'must be the string "1"',
        id="version-a-number",
    ),
    pytest.param(
        {"x": '{"Version": "1",\n "statement": []}'},
        "alibaba/x.json:2",
        "write `Statement`, not `statement`",
        id="keys-are-pascal-case",
    ),
    pytest.param(
        {"x": '{"Version": "1", "Statement": []}'}, "alibaba/x.json:1", "non-empty list", id="statement-empty"
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"').replace('"Effect"', '"effect"'))},
        "alibaba/x.json:6",
        "write `Effect`",
        id="statement-keys-are-pascal-case",
    ),
    pytest.param(
        {
            "x": ram(
                '    {"Principal": {"RAM": ["acs:ram::1234:root"]}, "Action": "cr:*", "Resource": "*", "Effect": "Allow"}'
            )
        },
        "alibaba/x.json:4",
        "attach this policy in bindings.yaml",
        id="principal-refused",
    ),
    pytest.param(
        {"x": ram('    {"NotResource": "*", "Action": "cr:*", "Effect": "Allow"}')},
        "alibaba/x.json:4",
        "`NotResource` is not supported",
        id="not-resource-refused",
    ),
    pytest.param(
        {"x": ram('    {"Action": "cr:*", "NotAction": "cr:Delete*", "Resource": "*", "Effect": "Allow"}')},
        "alibaba/x.json:4",
        "exactly one of `Action` and `NotAction`",
        id="action-and-not-action",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', "Permit"))},
        "alibaba/x.json:6",
        "`Effect` must be `Allow` or `Deny`",
        id="effect-invalid",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', sid="a"), stmt('"cr:*"', '"*"', sid="a"))},
        "alibaba/x.json:7",
        "`a` is used twice",
        id="sid-repeated",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', sid="1"), stmt('"cr:*"', '"*"'))},
        "alibaba/x.json:7",
        "`1` is used twice",
        id="sid-collides-with-an-index",
    ),
    pytest.param({"x": ram(stmt("[]", '"*"'))}, "alibaba/x.json:4", "non-empty list", id="action-empty-list"),
    pytest.param(
        {"x": ram(stmt('["cr:GetRepository",\n      "cr:PullRepositry"]', '"*"'))},
        "alibaba/x.json:5",
        "did you mean `cr:PullRepository`?",
        id="action-typo",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:Foo*"', '"*"'))},
        "alibaba/x.json:4",
        "matches no cr action",
        id="action-wildcard-matches-nothing",
    ),
    pytest.param(
        {"x": ram(stmt('"PullRepository"', '"*"'))},
        "alibaba/x.json:4",
        "is not `service:ActionName`",
        id="action-without-service",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"qcs::ccr:::repo/*"'))},
        "alibaba/x.json:5",
        "is not `*` nor `acs:",
        id="resource-not-an-arn",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '["*",\n      "acs:cr::1234:repository/juzhong/*"]'))},
        "alibaba/x.json:6",
        "empty region",
        id="resource-empty-region",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"acs:cr:*:*:repository/JuZhong/*"'))},
        "alibaba/x.json:5",
        "lower-case",
        id="resource-upper-case",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"acs:cr:*:*:repository/juzhong/ngin?"'))},
        "alibaba/x.json:5",
        "`*` is the only wildcard",
        id="resource-question-mark",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"acs:cr:*:*:repository/"'))},
        "alibaba/x.json:5",
        "repository/NAMESPACE",
        id="resource-empty-path",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', condition='{"StringEquals": {"acs:ResourceTag/team": "dev"}}'))},
        "alibaba/x.json:7",
        "`StringEquals` is not supported",
        id="condition-operator-unsupported",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', condition='{"Bool": {"acs:SecureTransport": "true"}}'))},
        "alibaba/x.json:7",
        "`acs:SecureTransport` is not supported",
        id="condition-secure-transport-refused",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', condition='{"IpAddress": {"acs:CurrentTime": "x"}}'))},
        "alibaba/x.json:7",
        "`IpAddress` tests `acs:SourceIp`",
        id="condition-key-mismatch",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', condition='{"DateLessThan": {"acs:CurrentTime": "2019-08-12T17:00:00"}}'))},
        "alibaba/x.json:7",
        "has no zone",
        id="condition-time-without-zone",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', condition='{"DateLessThan": {"acs:CurrentTime": "tomorrow"}}'))},
        "alibaba/x.json:7",
        "is not an ISO 8601 time",
        id="condition-time-not-iso",
    ),
    pytest.param(
        {"x": ram(stmt('"cr:*"', '"*"', condition="{}"))}, "alibaba/x.json:7", "non-empty object", id="condition-empty"
    ),
    pytest.param(
        {"AliyunContainerRegistryFullAccess": ram(stmt('"cr:*"', '"*"'))},
        "alibaba/AliyunContainerRegistryFullAccess.json",
        "system policy",
        id="file-named-like-a-system-policy",
    ),
]


@pytest.mark.parametrize(("docs", "where", "message"), ERRORS)
def test_error(docs: dict[str, str], where: str, message: str) -> None:
    """A document that does not validate is refused whole, with its file, line and reason."""
    errors = errors_of({f"alibaba/{name}.json": text for name, text in docs.items()})
    assert len(errors) == 1
    assert errors[0][0] == where
    assert message in errors[0][1]


@pytest.mark.parametrize(
    ("principals", "message"),
    [
        pytest.param("[everyone]", "not to `everyone`", id="binding-to-everyone-refused"),
        pytest.param("[authenticated]", "not to `authenticated`", id="binding-to-authenticated-refused"),
    ],
)
def test_binding_errors(principals: str, message: str) -> None:
    """RAM policies attach to users, groups and service accounts only."""
    errors = errors_of(setup({}, ("b", "AliyunContainerRegistryReadOnlyAccess", principals)))
    assert len(errors) == 1 and message in errors[0][1]


def test_system_policies_compile_from_their_published_json() -> None:
    """The built-ins are the seed's JSON, compiled by the code that compiles pasted documents."""
    documents = {d.name: d for d in AlibabaDialect().builtins(HANGZHOU)}
    assert set(documents) == set(SYSTEM_POLICIES)  # no account owner configured here
    (full,) = documents["AliyunContainerRegistryFullAccess"].statements
    (read,) = documents["AliyunContainerRegistryReadOnlyAccess"].statements
    assert full.actions == frozenset(Action) and [str(r) for r in full.resources] == ["**"]
    assert read.actions == frozenset(READS) and [str(r) for r in read.resources] == ["**"]
    assert isinstance(DIALECTS["alibaba"], AlibabaDialect)


def test_statements_point_at_their_lines() -> None:
    """Bound statements name binding, document and index, and the line their object starts on."""
    policy_set = compile_policy_set(S["s1-console"], HANGZHOU, 1)
    assert {s.id: str(s.location) for s in policy_set.statements} == {
        "b/scenario1#0": "alibaba/scenario1.json:3",
        "b/scenario1#1": "alibaba/scenario1.json:14",
    }


def test_action_table_covers_the_vocabulary() -> None:
    """Every canonical action is reachable from some RAM action; every name is a `cr:` name."""
    assert all(name.startswith("cr:") for name in ALIBABA_ACTIONS)
    assert {a for entry in ALIBABA_ACTIONS.values() for a in entry.actions} == set(Action)


# --- Every system policy a registry user binds ----------------------------------------------------

SYSTEM_CASES = [
    # (policy, action, effect): the policy's published JSON decides.
    *(("AdministratorAccess", a, ALLOW) for a in Action),  # `*` on `*`
    *(("AliyunContainerRegistryFullAccess", a, ALLOW) for a in Action),  # "cr:*" on "*"
    *(("AliyunContainerRegistryReadOnlyAccess", a, ALLOW) for a in READS),  # "view … and pull images"
    *(("AliyunContainerRegistryReadOnlyAccess", a, DENY) for a in WRITES),
    # ReadOnlyAccess: `*:Get*`, `*:List*`, … and no `cr:PullRepository`: browse, never pull.
    ("ReadOnlyAccess", A.LIST, ALLOW),
    ("ReadOnlyAccess", A.CATALOG, ALLOW),
    ("ReadOnlyAccess", A.PULL, DENY),
    *(("ReadOnlyAccess", a, DENY) for a in WRITES),
]


@pytest.mark.parametrize(
    ("policy", "action", "effect"),
    SYSTEM_CASES,
    ids=[f"{p}-{a.value}-{'allowed' if e is ALLOW else 'denied'}" for p, a, e in SYSTEM_CASES],
)
def test_system_policy(policy: str, action: Action, effect: Effect) -> None:
    files = setup({}, ("sys", policy, "[user:alice]"))
    assert_decision(
        decide(files, ALICE, action, "any/repo", "v1"), effect, (f"sys/{policy}#0",) if effect is ALLOW else ()
    )


def test_administrator_access_still_yields_to_an_explicit_deny() -> None:
    """RAM: an explicit Deny wins over any Allow, AdministratorAccess's included."""
    files = setup(
        {"no-delete": ram(stmt('"cr:DeleteRepository"', '"acs:cr:*:*:repository/*"', effect="Deny"))},
        ("sys", "AdministratorAccess", "[user:alice]"),
        ("guard", "no-delete", "[user:alice]"),
    )
    assert_decision(decide(files, ALICE, A.DELETE_MANIFEST, "a/b"), DENY, ("guard/no-delete#0",))
    assert_decision(decide(files, ALICE, A.PUSH, "a/b"), ALLOW, ("sys/AdministratorAccess#0",))


# --- The account owner ------------------------------------------------------------------------------

OWNED = DialectContext(alibaba_region="cn-hangzhou", alibaba_account="1234", alibaba_account_owners=("user:root",))
ROOT = make_principal(PrincipalKind.USER, "root", groups=["devs"])


@pytest.mark.parametrize("action", list(Action), ids=[a.value for a in Action])
def test_the_account_owner_may_do_anything(action: Action) -> None:
    """Seed 003: "an Alibaba Cloud account has full access to all resources it owns" — with no
    policy attached, and not even a document in the policies directory."""
    decision = decide({}, ROOT, action, "juzhong/nginx", "v1", context=OWNED)
    assert_decision(decision, ALLOW, ("alibaba-builtin#AccountOwner",))
    assert not decide({}, ALICE, action, "juzhong/nginx", "v1", context=OWNED).allowed


def test_a_ram_deny_on_a_group_does_not_reach_the_account_owner() -> None:
    """RAM policies govern RAM identities; a Deny bound to a group the owner is in still denies
    its other members."""
    files = setup(
        {"no-delete": ram(stmt('"cr:*"', '"*"', effect="Deny"))},
        ("guard", "no-delete", "[group:devs]"),
    )
    assert_decision(decide(files, ROOT, A.DELETE_BLOB, "a/b", context=OWNED), ALLOW, ("alibaba-builtin#AccountOwner",))
    assert_decision(decide(files, DEV, A.PULL, "a/b", context=OWNED), DENY, ("guard/no-delete#0",))


def test_a_ram_policy_is_never_bound_to_the_account_owner() -> None:
    files = setup({}, ("b", "AliyunContainerRegistryReadOnlyAccess", "[user:root]"))
    with pytest.raises(PolicySetInvalid) as caught:
        compile_policy_set(files, OWNED, 1)
    assert "is the Alibaba Cloud account" in caught.value.errors[0].message


def test_without_owners_configured_nobody_is_the_owner() -> None:
    assert not decide({}, ROOT, A.PULL, "a/b").allowed
