"""From a parsed request to the permissions it needs (pure).

A request needs one or more (action, repository, tag) permissions, all of which must be
allowed. Two depend on facts only the upstream knows: whether the repository exists (the first
push into a repository also needs ``create-repository``) and whether a pushed tag exists
(``tag-create`` or ``tag-overwrite``); :mod:`regproxy.authorization.flow` asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from regproxy.oci.actions import Action
from regproxy.oci.routes import RegistryRequest, RouteKind
from regproxy.policy.model import ANY_TAG


@dataclass(frozen=True, slots=True)
class Permission:
    action: Action
    repository: str
    tag: str | None = None

    def __str__(self) -> str:
        where = self.repository if self.tag is None else f"{self.repository}:{self.tag}"
        return f"{self.action.value} on {where}"


def creates_content(request: RegistryRequest) -> bool:
    """Requests that can bring a repository into being: upload start, manifest PUT."""
    return request.route is RouteKind.UPLOAD_START or (request.route is RouteKind.MANIFEST and request.method == "PUT")


def pushed_tags(request: RegistryRequest) -> tuple[str, ...]:
    """Tags a manifest PUT creates or moves: the reference, or ``?tag=`` on a digest PUT."""
    if request.route is not RouteKind.MANIFEST or request.method != "PUT":
        return ()
    if request.tag is not None:
        return (request.tag,)
    return tuple(v for k, v in request.query if k == "tag")


def base_permissions(request: RegistryRequest) -> tuple[Permission, ...]:
    """The permissions that do not depend on upstream facts.

    A tag listing needs ``list`` on *some* tag of the repository (:data:`ANY_TAG`): the body is
    then filtered tag by tag, so a tag-qualified ``list`` grant shows exactly its tags.
    """
    if request.action is None or request.route is RouteKind.CATALOG:
        return ()
    if request.route is RouteKind.TAGS:
        return (Permission(request.action, request.repository, ANY_TAG),)
    return (Permission(request.action, request.repository, request.tag),)
