"""Access-credential scopes (seed 000, "Access credential scopes"): "access credentials must
include one of" containerRegistry (push and pull), containerRegistry:all (push and pull),
containerRegistry:pull (pull only). A credential may carry any set of scopes."""

from __future__ import annotations

import pytest

from regproxy.identity.credential_scopes import REGISTRY_SCOPE_MISSING, credential_scopes
from regproxy.identity.principal import PrincipalKind, make_principal
from regproxy.identity.scope import scope_from_claim, scope_to_claim
from regproxy.oci.actions import ALL_ACTIONS, Action

PULL_ONLY = {Action.PULL, Action.LIST, Action.CATALOG}


@pytest.mark.parametrize(
    ("names", "allowed", "reason"),
    [
        pytest.param(["containerRegistry"], set(ALL_ACTIONS), None, id="containerRegistry-push-and-pull"),
        pytest.param(["containerRegistry:all"], set(ALL_ACTIONS), None, id="all-push-and-pull"),
        pytest.param(["containerRegistry:pull"], PULL_ONLY, None, id="pull-only"),
        pytest.param(["containerRegistry:pull", "objectStorage"], PULL_ONLY, None, id="other-services-ignored"),
        pytest.param(["containerRegistry:pull", "containerRegistry"], set(ALL_ACTIONS), None, id="scopes-add-up"),
        pytest.param(["objectStorage", "kubernetes"], set(), REGISTRY_SCOPE_MISSING, id="no-registry-scope"),
        pytest.param([], set(), REGISTRY_SCOPE_MISSING, id="no-scope-at-all"),
    ],
)
def test_a_credential_carries_any_set_of_scopes(names: list[str], allowed: set[Action], reason: str | None) -> None:
    scope = credential_scopes(names)
    assert {a for a in Action if scope.permits(a, "team/app")} == allowed
    principal = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", scope=scope)
    assert principal.scope_reason == reason
    # the reason survives a further narrowing (a short-lived credential minted from it)
    narrowed = make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", scope=scope.narrowed(credential_scopes(["pull"])))
    assert narrowed.scope_reason == reason


@pytest.mark.parametrize("word", ["containerregistry:pull", "ContainerRegistry", "bad word", ""])
def test_a_misspelt_or_malformed_scope_is_refused(word: str) -> None:
    with pytest.raises(ValueError):
        credential_scopes([word])


def test_the_reason_survives_into_a_token() -> None:
    """Through the token flow the scope is written into the token and read back: still nothing
    permitted, and still saying why."""
    scope = credential_scopes(["objectStorage"]).narrowed(credential_scopes(["pull"]))
    rebuilt = scope_from_claim(scope_to_claim(scope))
    assert not any(rebuilt.permits(a, "team/app") for a in Action)
    assert make_principal(PrincipalKind.SERVICE_ACCOUNT, "ci", scope=rebuilt).scope_reason == REGISTRY_SCOPE_MISSING
