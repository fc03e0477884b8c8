"""The policy model: principal selectors, resource patterns, statements and decisions."""

from __future__ import annotations

import pytest

from regproxy.identity.principal import ANONYMOUS, PrincipalKind, make_principal
from regproxy.oci.actions import Action
from regproxy.policy.model import (
    ANY_TAG,
    Decision,
    Effect,
    Outcome,
    PolicySet,
    PrincipalRef,
    PrincipalSelector,
    ResourcePattern,
    Statement,
    principal_keys,
)


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("user:alice", PrincipalRef(PrincipalSelector.USER, "alice")),
        ("group:devs", PrincipalRef(PrincipalSelector.GROUP, "devs")),
        ("service-account:ci", PrincipalRef(PrincipalSelector.SERVICE_ACCOUNT, "ci")),
        ("authenticated", PrincipalRef(PrincipalSelector.AUTHENTICATED)),
        ("*", PrincipalRef(PrincipalSelector.EVERYONE)),
    ],
)
def test_principal_selectors_parse_and_print_back(text: str, ref: PrincipalRef) -> None:
    assert PrincipalRef.parse(text) == ref
    assert str(ref) == ("everyone" if text == "*" else text)


@pytest.mark.parametrize(
    ("text", "message"), [("robot:x", "unknown"), ("user", "needs a name"), ("anonymous:x", "no name")]
)
def test_bad_selectors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrincipalRef.parse(text)


def test_the_keys_a_principal_is_looked_up_by() -> None:
    alice = make_principal(PrincipalKind.USER, "alice", groups=["b", "a"])
    assert [str(k) for k in principal_keys(alice)] == ["everyone", "authenticated", "user:alice", "group:a", "group:b"]
    assert [str(k) for k in principal_keys(ANONYMOUS)] == ["everyone", "anonymous"]
    ci = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci")
    assert "service-account:ci" in [str(k) for k in principal_keys(ci)]


def test_a_tag_pattern_grants_only_requests_that_name_a_tag() -> None:
    releases = ResourcePattern("team/*", "release-*")
    assert releases.matches("team/app", "release-1")
    assert not releases.matches("team/app", "v1")
    assert not releases.matches("team/app", None)
    assert releases.matches("team/app", ANY_TAG)
    assert str(releases) == "team/*:release-*" and releases.literal_namespace == "team"
    assert ResourcePattern("*/app").literal_namespace is None


def test_a_tag_deny_refuses_its_own_tags_only() -> None:
    deny = Statement("d", Effect.DENY, (), frozenset({Action.PUSH}), (ResourcePattern("team/*", "release-*"),))
    assert deny.matches(Action.PUSH, "team/app", "release-1")
    assert not deny.matches(Action.PUSH, "team/app", ANY_TAG)  # "any tag" is not "its tags"
    assert not deny.matches(Action.PULL, "team/app", "release-1")
    assert deny.tag_qualified == deny.resources


def test_decisions_and_sets() -> None:
    assert Decision(Effect.ALLOW, Outcome.ALLOWED, ("s",), 1).allowed
    assert not Decision(Effect.DENY, Outcome.DEFAULT_DENY, (), 1).allowed
    s = Statement("s", Effect.ALLOW, (), frozenset({Action.PULL}), (ResourcePattern("**"),))
    assert PolicySet((s,), 1, "h").statement("s") is s
    assert PolicySet((s,), 1, "h").statement("t") is None
