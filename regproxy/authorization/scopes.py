"""The Docker token scopes a request needs: one table for challenges, grants and the upstream.

Follows distribution's token-auth spec (docs/spec/auth/token.md, scope.md) and what its
registry asks for: GET and HEAD need ``pull``; POST, PUT and PATCH need ``pull,push``; DELETE
needs ``delete``; the catalog needs ``registry:catalog:*``. A cross-repository mount also needs
``pull`` on its source. Every 401 challenge, the token the upstream is asked for, and the check
of a bearer token's access read this one table.
"""

from __future__ import annotations

from regproxy.identity.scope import CATALOG_SCOPE
from regproxy.oci.routes import RegistryRequest, RouteKind

_WORDS_BY_METHOD = {
    "GET": "pull",
    "HEAD": "pull",
    "POST": "pull,push",
    "PUT": "pull,push",
    "PATCH": "pull,push",
    "DELETE": "delete",
}


def request_scopes(request: RegistryRequest) -> tuple[str, ...]:
    """Every scope the request needs, target first (empty for the base route)."""
    if request.route is RouteKind.CATALOG:
        return (CATALOG_SCOPE,)
    if not request.repository:
        return ()
    scopes = [f"repository:{request.repository}:{_WORDS_BY_METHOD[request.method]}"]
    if request.mount is not None:
        scopes.append(f"repository:{request.mount.source}:pull")
    return tuple(scopes)


def challenge_scope(request: RegistryRequest) -> str:
    """The ``scope`` parameter of a challenge (space-separated, as distribution writes it)."""
    return " ".join(request_scopes(request))
