"""Statement conditions: each holds exactly when the request context says so."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, time

import pytest

from regproxy.identity.principal import CredentialScope, PrincipalKind, make_principal
from regproxy.policy.conditions import (
    AnyOf,
    ClaimMatches,
    CredentialScopeIn,
    Not,
    NotInGroup,
    NotPrincipal,
    SourceAddressIn,
    TimeWindow,
)
from regproxy.policy.model import RequestContext

WEDNESDAY_NOON = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
ALICE = make_principal(
    PrincipalKind.USER,
    "alice",
    groups=["devs"],
    scope=CredentialScope("ci-pull", ()),
    claims={"ref": "refs/heads/main", "teams": ["builders", "release"], "admin": True},
)


def context(source: str | None = "10.1.2.3", now: datetime = WEDNESDAY_NOON) -> RequestContext:
    return RequestContext(ALICE, ipaddress.ip_address(source) if source else None, now)


def test_source_address() -> None:
    inside = SourceAddressIn((ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")))
    assert inside.holds(context("10.1.2.3")) and inside.holds(context("2001:db8::1"))
    assert not inside.holds(context("192.0.2.1"))
    assert not inside.holds(context(None))  # an unknown address is in no network
    assert inside.describe() == "source in 10.0.0.0/8, 2001:db8::/32"


@pytest.mark.parametrize(
    ("window", "holds"),
    [
        (TimeWindow(not_before=datetime(2026, 1, 1, tzinfo=UTC)), True),
        (TimeWindow(not_after=WEDNESDAY_NOON), False),  # the end is excluded
        (TimeWindow(daily_start=time(9), daily_end=time(17)), True),
        (TimeWindow(daily_start=time(22), daily_end=time(6)), False),  # across midnight
        (TimeWindow(weekdays=frozenset({0, 1, 2, 3, 4})), True),
        (TimeWindow(weekdays=frozenset({5, 6})), False),
    ],
)
def test_time_window(window: TimeWindow, holds: bool) -> None:
    assert window.holds(context()) is holds


def test_a_daily_window_across_midnight_holds_at_night() -> None:
    night = TimeWindow(daily_start=time(22), daily_end=time(6))
    assert night.holds(context(now=datetime(2026, 1, 14, 23, 30, tzinfo=UTC)))
    assert night.holds(context(now=datetime(2026, 1, 14, 5, 59, tzinfo=UTC)))
    assert night.describe() == "time daily 22:00-06:00 UTC"


def test_credential_scope_and_claims() -> None:
    assert CredentialScopeIn(frozenset({"ci-pull"})).holds(context())
    assert not CredentialScopeIn(frozenset({"other"})).holds(context())
    assert ClaimMatches("ref", ("refs/heads/*",)).holds(context())
    assert ClaimMatches("teams", ("rel*",)).holds(context())  # any value of a list
    assert ClaimMatches("admin", ("true",)).holds(context())  # JSON true reads as `true`
    assert not ClaimMatches("missing", ("*",)).holds(context())


def test_combinators_and_principal_exemptions() -> None:
    yes, no = NotInGroup("admins"), NotInGroup("devs")
    assert yes.holds(context()) and not no.holds(context())
    assert Not(no).holds(context()) and AnyOf((no, yes)).holds(context()) and not AnyOf((no,)).holds(context())
    assert not NotPrincipal(frozenset({"user:alice"})).holds(context())
    assert NotPrincipal(frozenset({"user:root"})).holds(context())
    assert Not(no).describe() == "not (principal not in group devs)"
