"""What Tencent CAM and Alibaba RAM share: attaching documents, splitting statements by the
resources their actions reach, IP and time conditions."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from regproxy.errors import PolicyError, SourceLocation
from regproxy.identity.principal import PrincipalKind, make_principal
from regproxy.oci.actions import Action
from regproxy.policy.dialects import Binding, Document
from regproxy.policy.dialects.attached import bind_statements, build_statements, ip_condition, time_condition
from regproxy.policy.model import Effect, PrincipalRef, RequestContext, ResourcePattern

WHERE = SourceLocation("alibaba/doc.json", 3)
ALICE = make_principal(PrincipalKind.USER, "alice")


def at(moment: datetime, source: str = "10.0.0.1") -> RequestContext:
    return RequestContext(ALICE, ipaddress.ip_address(source), moment)


def test_statements_are_split_by_the_resources_their_actions_reach() -> None:
    repos, tags = frozenset({ResourcePattern("ns/*")}), frozenset({ResourcePattern("ns/*", "v*")})
    built = build_statements(
        {
            repos: {Action.PULL, Action.LIST},
            tags: {Action.PULL, Action.LIST},
            frozenset({ResourcePattern("x")}): {Action.PUSH},
        },
        "doc#0",
        effect=Effect.ALLOW,
        conditions=(),
        location=WHERE,
        dialect="alibaba",
    )
    assert [s.id for s in built] == ["doc#0", "doc#0.1"]
    by_actions = {s.actions: {str(r) for r in s.resources} for s in built}
    assert by_actions == {frozenset({Action.PULL, Action.LIST}): {"ns/*", "ns/*:v*"}, frozenset({Action.PUSH}): {"x"}}


def test_binding_attaches_a_document_to_named_principals_only() -> None:
    (statement,) = build_statements(
        {frozenset({ResourcePattern("**")}): {Action.PULL}},
        "doc#0",
        effect=Effect.ALLOW,
        conditions=(),
        location=WHERE,
        dialect="alibaba",
    )
    document = Document("doc", "alibaba", (statement,), WHERE, needs_binding=True)
    alice = (PrincipalRef.parse("user:alice"),)
    (bound,) = bind_statements(document, Binding(alice, None, "b1"))
    assert (bound.id, bound.principals) == ("b1/doc#0", alice)
    with pytest.raises(PolicyError, match="take no `project`"):
        bind_statements(document, Binding(alice, "p", "b1"))
    with pytest.raises(PolicyError, match="not to `everyone`"):
        bind_statements(document, Binding((PrincipalRef.parse("everyone"),), None, "b1"))


def test_ip_conditions_and_their_negation() -> None:
    inside = ip_condition(["10.0.0.0/8", " 192.0.2.7 "], negated=False)
    assert inside.holds(at(datetime(2026, 1, 1, tzinfo=UTC))) and inside.holds(
        at(datetime(2026, 1, 1, tzinfo=UTC), "192.0.2.7")
    )
    assert not ip_condition(["10.0.0.0/8"], negated=True).holds(at(datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.mark.parametrize(
    ("op", "holds_before", "holds_at", "holds_after"),
    [
        ("lt", True, False, False),
        ("le", True, True, False),
        ("gt", False, False, True),
        ("ge", False, True, True),
        ("eq", False, True, False),
        ("ne", True, False, True),
    ],
)
def test_time_operators(op: str, holds_before: bool, holds_at: bool, holds_after: bool) -> None:
    t = datetime(2026, 6, 1, tzinfo=UTC)
    condition = time_condition(op, ["2026-06-01T00:00:00Z"])
    results = [condition.holds(at(t.replace(second=s) if s >= 0 else t.replace(year=2025))) for s in (-1, 0, 1)]
    assert results == [holds_before, holds_at, holds_after]


def test_instants_need_a_zone() -> None:
    with pytest.raises(ValueError, match="no zone"):
        time_condition("lt", ["2026-06-01T00:00:00"])
    with pytest.raises(ValueError, match="ISO 8601"):
        time_condition("lt", ["tomorrow"])
