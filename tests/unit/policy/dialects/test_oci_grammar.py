"""The OCI grammar alone: text → syntax tree, with no deployment context (compartments are
resolved by the compiler)."""

from __future__ import annotations

import pytest

from regproxy.errors import PolicyError, SourceLocation
from regproxy.policy.dialects.oci_grammar import Parser, Permission, PermissionTest
from regproxy.policy.model import Effect, PrincipalRef, PrincipalSelector
from regproxy.policy.patterns import NameTest

WHERE = SourceLocation("oci/acme.policy")


def test_a_statement_parses_without_knowing_the_compartments() -> None:
    text = (
        "# seed 001\n"
        "Allow group acme-pushers to manage repos in compartment acme-compartment:web\n"
        "  where ANY {request.permission = 'REPOSITORY_READ', target.repo.name = /acme*/}\n"
    )
    (parsed,) = Parser(text, WHERE).statements()
    assert parsed.effect is Effect.ALLOW
    assert parsed.principals == (PrincipalRef(PrincipalSelector.GROUP, "acme-pushers"),)
    assert parsed.permissions == frozenset(Permission)
    assert (parsed.compartment, parsed.compartment_line, parsed.line) == ("acme-compartment:web", 2, 2)
    assert parsed.any_block
    (read,), (name,) = parsed.disjuncts
    assert read == PermissionTest(frozenset({Permission.READ}), negated=False)
    assert isinstance(name, NameTest) and name.value == "acme*" and name.is_pattern


def test_the_tenancy_has_no_compartment() -> None:
    (parsed,) = Parser("deny any-user to inspect all-resources in tenancy", WHERE).statements()
    assert parsed.effect is Effect.DENY and parsed.compartment is None
    assert parsed.permissions == {Permission.INSPECT}
    assert parsed.principals == (PrincipalRef(PrincipalSelector.AUTHENTICATED),)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("Allow group g to write repos in tenancy", 1, "unknown verb"),
        ("Allow group g to read buckets in tenancy", 1, "not a registry resource"),
        ('Allow group g to read repos in tenancy where target.repo.name = "x"', 1, "single quotes"),
        (
            "Allow group g to read repos in tenancy\n\nAllow group h to read repos in tenancy Allow",
            3,
            "second statement",
        ),
    ],
)
def test_syntax_errors_name_their_line(text: str, line: int, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        Parser(text, WHERE).statements()
    assert caught.value.location == SourceLocation("oci/acme.policy", line)
    assert message in caught.value.message
