"""Thalassa's IAM vocabulary (seed 000): its registry resources and permissions, what each pair
allows at the registry API, the built-in roles, and the access-credential scopes.

Data and small pure functions only; the dialect (:mod:`.thalassa`) parses role documents and
binds them with these words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from regproxy.identity.credential_scopes import credential_scope as identity_credential_scope
from regproxy.identity.principal import CredentialScope
from regproxy.oci.actions import DELETE_ACTIONS, Action


class IamResource(StrEnum):
    """The four IAM resources of the registry (seed, "IAM resources")."""

    REGISTRY = "container_registry"  # namespaces as a collection: list, create
    NAMESPACE = "container_registry_namespace"  # one namespace: read, update, delete
    NAMESPACE_CONFIGURATION = "container_registry_namespace_configuration"
    REPOSITORY = "container_registry_repository"


class Permission(StrEnum):
    """The standard IAM permissions plus the registry's own push and pull."""

    CREATE = "create"
    READ = "read"
    UPDATE = "update"
    DELETE = "delete"
    LIST = "list"
    PUSH = "push"
    PULL = "pull"


_PUSH = frozenset({Action.PUSH, Action.TAG_CREATE, Action.TAG_OVERWRITE})
_BROWSE = frozenset({Action.CATALOG, Action.LIST})
_NONE: frozenset[Action] = frozenset()

# (IAM resource, permission) -> the registry-API actions it allows. Pairs that name no
# registry-API request (namespace creation, retention configuration, repository metadata)
# are valid and allow nothing here. policies/README.md (thalassa section) has this table with reasons.
PERMISSION_ACTIONS: Mapping[tuple[IamResource, Permission], frozenset[Action]] = {
    (IamResource.REGISTRY, Permission.LIST): frozenset({Action.CATALOG}),
    (IamResource.REGISTRY, Permission.READ): frozenset({Action.CATALOG}),
    (IamResource.REGISTRY, Permission.PULL): frozenset({Action.PULL}),
    (IamResource.REGISTRY, Permission.PUSH): _PUSH | {Action.CREATE_REPOSITORY},
    (IamResource.REGISTRY, Permission.CREATE): _NONE,
    (IamResource.REGISTRY, Permission.UPDATE): _NONE,
    (IamResource.REGISTRY, Permission.DELETE): _NONE,
    (IamResource.NAMESPACE, Permission.LIST): _BROWSE,
    (IamResource.NAMESPACE, Permission.READ): _BROWSE,
    (IamResource.NAMESPACE, Permission.PULL): frozenset({Action.PULL}),
    (IamResource.NAMESPACE, Permission.PUSH): _PUSH | {Action.CREATE_REPOSITORY},
    (IamResource.NAMESPACE, Permission.CREATE): _NONE,
    (IamResource.NAMESPACE, Permission.UPDATE): _NONE,
    (IamResource.NAMESPACE, Permission.DELETE): _NONE,
    **{(IamResource.NAMESPACE_CONFIGURATION, p): _NONE for p in Permission},
    (IamResource.REPOSITORY, Permission.LIST): _BROWSE,
    (IamResource.REPOSITORY, Permission.READ): _BROWSE,
    (IamResource.REPOSITORY, Permission.PULL): frozenset({Action.PULL}),
    (IamResource.REPOSITORY, Permission.PUSH): _PUSH,
    (IamResource.REPOSITORY, Permission.CREATE): frozenset({Action.CREATE_REPOSITORY}),
    (IamResource.REPOSITORY, Permission.UPDATE): _NONE,
    (IamResource.REPOSITORY, Permission.DELETE): DELETE_ACTIONS,
}


def actions_for(resources: Iterable[IamResource], permissions: Iterable[Permission]) -> frozenset[Action]:
    """The registry-API actions a rule allows: the union over its resource x permission pairs."""
    permissions = tuple(permissions)
    out: set[Action] = set()
    for resource in resources:
        for permission in permissions:
            out |= PERMISSION_ACTIONS[(resource, permission)]
    return frozenset(out)


# --- access credential scopes (seed, "Access credential scopes") ---------------------------

THALASSA_SCOPES = ("containerRegistry", "containerRegistry:all", "containerRegistry:pull")


def credential_scope(name: str) -> CredentialScope:
    """The upper bound an access credential issued with scope ``name`` puts on policy.

    ``containerRegistry`` and ``containerRegistry:all`` bound nothing (push and pull);
    ``containerRegistry:pull`` bounds to pull, list and catalog. Raises ``ValueError`` for a
    name Thalassa does not issue (names are case-sensitive, as Thalassa writes them). One table
    for the whole project: :mod:`regproxy.identity.credential_scopes`.
    """
    if name not in THALASSA_SCOPES:
        known = ", ".join(THALASSA_SCOPES)
        raise ValueError(f"unknown thalassa credential scope `{name}` (known: {known})")
    return identity_credential_scope(name)


# --- built-in policies (seed, "Built-in policies" and "IaaS policy inclusion") -------------


@dataclass(frozen=True, slots=True)
class BuiltinRole:
    name: str
    aliases: tuple[str, ...]
    rules: tuple[tuple[frozenset[IamResource], frozenset[Permission]], ...]


_EVERY_RESOURCE = frozenset(IamResource)
_EVERY_PERMISSION = frozenset(Permission)
_READ_RULE = (
    frozenset({IamResource.REGISTRY, IamResource.NAMESPACE, IamResource.REPOSITORY}),
    frozenset({Permission.READ, Permission.LIST, Permission.PULL}),
)
_DEVELOPER_RULE = (
    frozenset({IamResource.NAMESPACE, IamResource.REPOSITORY}),
    frozenset({Permission.READ, Permission.LIST, Permission.PUSH, Permission.PULL}),
)
_FULL_RULE = (_EVERY_RESOURCE, _EVERY_PERMISSION)  # "Full CRUD + push/pull"

BUILTIN_ROLES: tuple[BuiltinRole, ...] = (
    BuiltinRole("registry:ReadAccess", ("registry-read-access",), (_READ_RULE,)),
    BuiltinRole("registry:developer", ("registry-developer",), (_DEVELOPER_RULE,)),
    BuiltinRole("registry:viewer", ("registry-viewer",), (_READ_RULE,)),
    BuiltinRole("registry:admin", ("registry-admin",), (_FULL_RULE,)),
    # "registry:FullAccess is currently stored as registry:FullAdminAccess; slug
    # registry-full-admin-access is unchanged": all three names bind the same policy.
    BuiltinRole(
        "registry:FullAdminAccess",
        ("registry:FullAccess", "registry-full-admin-access"),
        (_FULL_RULE,),
    ),
    BuiltinRole("admin:all", (), (_FULL_RULE,)),  # "grants full registry access implicitly"
    BuiltinRole("iaas:admin", (), (_FULL_RULE,)),
    BuiltinRole("iaas:devops", (), (_FULL_RULE,)),
    BuiltinRole("iaas:auditor", (), (_READ_RULE,)),
    # "iaas:ReadAccess and iaas:FullAccess do not include container registry permissions":
    # bindable, and binding them grants nothing here.
    BuiltinRole("iaas:ReadAccess", (), ()),
    BuiltinRole("iaas:FullAccess", (), ()),
)
BUILTIN_NAMES: frozenset[str] = frozenset(n for role in BUILTIN_ROLES for n in (role.name, *role.aliases))
