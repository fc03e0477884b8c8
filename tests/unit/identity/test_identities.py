"""The identities file's access credentials and their scopes."""

from __future__ import annotations

import pytest

from regproxy.errors import IdentityFileError, SourceLocation
from regproxy.identity.credential_scopes import REGISTRY_SCOPE_MISSING
from regproxy.identity.identities import parse_identities
from regproxy.identity.passwords import hash_password
from regproxy.oci.actions import Action

SECRET = hash_password("s3", log_n=10)


def credential(scope_line: str) -> str:
    return f"""\
service_accounts:
  - name: ci
access_credentials:
  - id: rpc-ci
    secret: "{SECRET}"
    principal: service-account:ci
{scope_line}
"""


@pytest.mark.parametrize(
    ("line", "push", "pull", "reason"),
    [
        pytest.param("    scope: containerRegistry", True, True, None, id="one-word"),
        pytest.param("    scope: containerRegistry:pull", False, True, None, id="pull-only"),
        pytest.param("    scope: [containerRegistry:pull, objectStorage]", False, True, None, id="a-list"),
        pytest.param("    scope: [objectStorage]", False, False, REGISTRY_SCOPE_MISSING, id="no-registry-scope"),
        pytest.param("    scope: []", False, False, REGISTRY_SCOPE_MISSING, id="empty-list"),
    ],
)
def test_scope(line: str, push: bool, pull: bool, reason: str | None) -> None:
    cred = parse_identities(credential(line), SourceLocation("identities.yaml")).credentials["rpc-ci"]
    assert cred.scope.permits(Action.PUSH, "a/b") is push
    assert cred.scope.permits(Action.PULL, "a/b") is pull
    principal = cred.account.principal(credential_id=cred.id, scope=cred.scope)
    assert principal.scope_reason == reason


def test_a_credential_without_scope_is_refused_naming_it() -> None:
    """Omitting `scope` once meant push and pull; it is refused, never silently re-read."""
    with pytest.raises(IdentityFileError) as caught:
        parse_identities(credential(""), SourceLocation("identities.yaml"))
    assert str(caught.value.location) == "identities.yaml:4"
    assert "credential `rpc-ci` names no `scope`" in caught.value.message


@pytest.mark.parametrize("line", ["    scope: containerregistry:pull", "    scope: {a: b}", "    scope: [1]"])
def test_a_bad_scope_is_refused(line: str) -> None:
    with pytest.raises(IdentityFileError, match="rpc-ci"):
        parse_identities(credential(line), SourceLocation("identities.yaml"))
