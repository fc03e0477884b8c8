"""STS session policies (seed 003: "use Security Token Service (STS) to issue short-lived
credentials"): a RAM document passed verbatim when the credential is issued. As with Alibaba
STS AssumeRole, the credential's permissions are the intersection of its principal's (the
role's) policies and the session policy, and an explicit Deny in either wins."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from regproxy.identity.chain import Credentials, Scheme, Valid
from regproxy.identity.keys import KeySet
from regproxy.identity.principal import Principal, PrincipalKind, make_principal
from regproxy.identity.scope import scope_from_claim, scope_to_claim
from regproxy.identity.session_policy import SessionPolicy, compile_session_policy
from regproxy.identity.sts import StsAuthenticator, StsCredential, issue_credential
from regproxy.oci.actions import Action
from regproxy.policy.dialects import DialectContext
from regproxy.policy.evaluate import compile_policy
from regproxy.policy.load import compile_policy_set
from regproxy.policy.model import Decision, Outcome, RequestContext
from tests.support.clock import NOW
from tests.unit.identity.test_sts import ISSUER, SERVICE, SIGNER

A = Action
CONTEXT = DialectContext(alibaba_region="cn-hangzhou", alibaba_account="1234")

# The role's own policies: Scenario 3 of seed 003 (full access to juzhong), and a deny.
ROLE_POLICIES = {
    "alibaba/juzhong-admin.json": """{"Version": "1", "Statement": [
      {"Action": ["cr:*"], "Effect": "Allow",
       "Resource": ["acs:cr:cn-hangzhou:*:repository/juzhong", "acs:cr:cn-hangzhou:*:repository/juzhong/*"]},
      {"Action": "cr:DeleteRepository", "Effect": "Deny", "Resource": "acs:cr:*:*:repository/juzhong/prod"}]}""",
    "bindings.yaml": "bindings:\n  - id: role\n    policy: juzhong-admin\n    principals: [user:deployer]\n",
}

# The session policy: Scenario 1 of seed 003 (read access to juzhong), plus push to one
# repository and a Deny of pulls from juzhong/secret, from one network only.
SESSION = """{
  "Version": "1",
  "Statement": [
    {"Action": ["cr:Get*", "cr:List*", "cr:PullRepository"], "Effect": "Allow",
     "Resource": ["acs:cr:*:*:repository/juzhong/*"]},
    {"Action": ["cr:PushRepository", "cr:DeleteRepository"], "Effect": "Allow",
     "Resource": "acs:cr:*:*:repository/juzhong/*",
     "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}},
    {"Action": "cr:PullRepository", "Effect": "Deny", "Resource": "acs:cr:*:*:repository/juzhong/secret"}
  ]
}"""
INSIDE, OUTSIDE = "10.1.2.3", "192.168.1.1"


def issue(document: str) -> StsCredential:
    """A 15-minute credential of `user:deployer`, bounded only by the session policy."""
    return issue_credential(
        "user:deployer",
        900,
        ["*"],
        ["**"],
        SIGNER,
        NOW,
        issuer=ISSUER,
        audience=SERVICE,
        session_policy=SessionPolicy(document, "cn-hangzhou", "1234"),
    )


async def session_principal(document: str = SESSION) -> Principal:
    credential = issue(document)
    authenticator = StsAuthenticator(
        keys=KeySet(SIGNER),
        issuer=ISSUER,
        audience=SERVICE,
        resolve=lambda pid: make_principal(PrincipalKind.USER, "deployer") if pid == "user:deployer" else None,
        clock=lambda: NOW,
    )
    result = await authenticator.authenticate(Credentials(Scheme.BASIC, credential.username, credential.password))
    assert isinstance(result, Valid)
    return result.principal


def decide(principal: Principal, action: Action, repository: str, source: str = INSIDE) -> Decision:
    policy_set = compile_policy_set(ROLE_POLICIES, CONTEXT, 1)
    request = RequestContext(principal, ipaddress.ip_address(source), datetime(2026, 1, 1, tzinfo=UTC))
    return compile_policy(policy_set).evaluate(request, action, repository)


CASES = [
    # (id, action, repository, source, outcome)
    ("both-allow-pull", A.PULL, "juzhong/app", INSIDE, Outcome.ALLOWED),
    ("both-allow-tag-list", A.LIST, "juzhong/app", INSIDE, Outcome.ALLOWED),
    ("session-allows-push-from-the-network", A.PUSH, "juzhong/app", INSIDE, Outcome.ALLOWED),
    ("session-condition-fails-elsewhere", A.PUSH, "juzhong/app", OUTSIDE, Outcome.SCOPE_DENY),
    ("role-allows-create-session-does-not", A.CREATE_REPOSITORY, "juzhong/new", INSIDE, Outcome.SCOPE_DENY),
    ("session-deny-wins", A.PULL, "juzhong/secret", INSIDE, Outcome.SCOPE_DENY),
    ("role-deny-wins", A.DELETE_MANIFEST, "juzhong/prod", INSIDE, Outcome.EXPLICIT_DENY),
    ("session-allows-role-does-not", A.PULL, "other/app", INSIDE, Outcome.DEFAULT_DENY),
]


@pytest.mark.parametrize(
    ("action", "repository", "source", "outcome"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_role_intersected_with_session(action: Action, repository: str, source: str, outcome: Outcome) -> None:
    principal = await session_principal()
    assert decide(principal, action, repository, source).outcome is outcome


async def test_the_session_policy_survives_into_a_token() -> None:
    """A token issued for the credential carries the document (signed), so it stays bound."""
    principal = await session_principal()
    assert principal.scope is not None
    rebuilt = scope_from_claim(scope_to_claim(principal.scope))
    assert rebuilt.permits_in(A.PULL, "juzhong/app", None)
    assert not rebuilt.permits_in(A.PULL, "juzhong/secret", None)
    assert not rebuilt.permits_in(A.PULL, "other/app", None)


def test_without_the_request_a_conditional_allow_allows_nothing() -> None:
    scope = compile_session_policy(SessionPolicy(SESSION, "cn-hangzhou", "1234"))
    assert scope.permits(A.PULL, "juzhong/app")
    assert not scope.permits(A.PUSH, "juzhong/app")  # allowed only from 10/8: unknown here


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            '{"Version": "1", "Statement": [{"Action": "cr:PullRepositry", "Effect": "Allow", "Resource": "*"}]}',
            "did you mean",
        ),
        ('{"Version": "1"}', "`Statement`"),
        ("not json", "invalid JSON"),
        (
            '{"Version": "1", "Statement": ['
            + ",".join(['{"Action": "cr:*", "Effect": "Allow", "Resource": "*"}'] * 80)
            + "]}",
            "at most",
        ),
    ],
)
def test_a_bad_session_policy_is_refused_when_issuing(document: str, message: str) -> None:
    with pytest.raises(ValueError, match="session policy") as caught:
        issue(document)
    assert message in str(caught.value)


def test_without_the_policy_layer_a_session_policy_is_refused_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    from regproxy.identity import session_policy  # noqa: PLC0415

    monkeypatch.setattr(session_policy, "_compilers", [])
    with pytest.raises(ValueError, match="cannot be honoured"):
        compile_session_policy(SessionPolicy(SESSION, "cn-hangzhou", "1234"))
