"""Thalassa's IAM vocabulary: every (resource, permission) pair has a meaning, the roles and
the credential scopes are the ones the seed names."""

from __future__ import annotations

import pytest

from regproxy.oci.actions import Action
from regproxy.policy.dialects.thalassa_iam import (
    BUILTIN_NAMES,
    BUILTIN_ROLES,
    PERMISSION_ACTIONS,
    THALASSA_SCOPES,
    IamResource,
    Permission,
    actions_for,
    credential_scope,
)


def test_every_resource_and_permission_pair_is_in_the_table() -> None:
    assert set(PERMISSION_ACTIONS) == {(r, p) for r in IamResource for p in Permission}


def test_actions_for_is_the_union_of_the_pairs() -> None:
    assert actions_for([IamResource.REPOSITORY], [Permission.PULL]) == frozenset({Action.PULL})
    both = actions_for([IamResource.REPOSITORY], [Permission.PULL, Permission.PUSH])
    assert (
        both
        == PERMISSION_ACTIONS[IamResource.REPOSITORY, Permission.PULL]
        | PERMISSION_ACTIONS[IamResource.REPOSITORY, Permission.PUSH]
    )


def test_role_names_and_aliases_are_unique() -> None:
    names = [n for role in BUILTIN_ROLES for n in (role.name, *role.aliases)]
    assert len(names) == len(set(names)) == len(BUILTIN_NAMES)


@pytest.mark.parametrize("name", THALASSA_SCOPES)
def test_the_three_registry_scopes_are_known(name: str) -> None:
    credential_scope(name)


@pytest.mark.parametrize("name", ["containerregistry", "containerRegistry:push", "iaas"])
def test_any_other_scope_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown thalassa credential scope"):
        credential_scope(name)
