"""The policy layer compiles session policies with the Alibaba dialect: what the document
allows and does not deny, a conditional statement never widening the bound without its facts."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from regproxy.identity.principal import PrincipalKind, make_principal
from regproxy.identity.session_policy import SessionPolicy, compile_session_policy
from regproxy.oci.actions import Action
from regproxy.policy.model import RequestContext
from regproxy.policy.session_policy import SessionPolicyScope, compile_document

DOCUMENT = """{
  "Version": "1",
  "Statement": [
    {"Effect": "Allow", "Action": "cr:Pull*", "Resource": "acs:cr:*:*:repository/team/*"},
    {"Effect": "Deny", "Action": "cr:PullRepository", "Resource": "acs:cr:*:*:repository/team/secret"},
    {"Effect": "Allow", "Action": "cr:PushRepository", "Resource": "acs:cr:*:*:repository/team/*",
     "Condition": {"IpAddress": {"acs:SourceIp": ["10.0.0.0/8"]}}}
  ]
}"""
POLICY = SessionPolicy(DOCUMENT, "cn-hangzhou", "1234")


def context(source: str) -> RequestContext:
    return RequestContext(make_principal(PrincipalKind.USER, "alice"), ipaddress.ip_address(source), datetime.now(UTC))


def test_importing_the_policy_layer_installs_the_compiler() -> None:
    assert isinstance(compile_session_policy(POLICY), SessionPolicyScope)


def test_allowed_and_not_denied() -> None:
    scope = compile_document(POLICY)
    assert scope.policy == POLICY and scope.name == "sts-session-policy"
    assert scope.permits(Action.PULL, "team/app")
    assert not scope.permits(Action.PULL, "team/secret")
    assert not scope.permits(Action.PULL, "other/app")


def test_a_conditional_allow_needs_its_facts() -> None:
    scope = compile_document(POLICY)
    assert not scope.permits(Action.PUSH, "team/app")  # no request context: no widening
    assert scope.permits_in(Action.PUSH, "team/app", context("10.1.2.3"))
    assert not scope.permits_in(Action.PUSH, "team/app", context("192.0.2.1"))


def test_a_document_the_dialect_refuses_names_the_session_policy() -> None:
    with pytest.raises(ValueError, match="session policy"):
        compile_document(SessionPolicy('{"Version": "1", "Statement": 3}', "cn-hangzhou", "1234"))
