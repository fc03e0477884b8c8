"""Config ``public``: anyone may pull, list and see in the catalog what it names, nothing more."""

from __future__ import annotations

from regproxy.authorization.public import public_statements
from regproxy.oci.actions import Action
from regproxy.policy.model import Effect, PrincipalSelector


def test_no_patterns_no_statement() -> None:
    assert public_statements([]) == ()


def test_one_allow_for_everyone_to_read_the_patterns() -> None:
    (statement,) = public_statements(["library/*", "docs/**"])
    assert statement.effect is Effect.ALLOW
    assert [p.selector for p in statement.principals] == [PrincipalSelector.EVERYONE]
    assert statement.actions == {Action.PULL, Action.LIST, Action.CATALOG}
    assert [r.repository for r in statement.resources] == ["library/*", "docs/**"]
    assert statement.matches(Action.PULL, "library/alpine", None)
    assert not statement.matches(Action.PUSH, "library/alpine", None)
    assert not statement.matches(Action.PULL, "private/x", None)
