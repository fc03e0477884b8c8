"""From a parsed request to the permissions it needs, and the facts those depend on (pure).

A request needs one or more (action, repository, tag) permissions, all of which must be
allowed. Two depend on facts only the upstream knows: whether the repository exists (the first
push into a repository also needs ``create-repository``) and whether a pushed tag exists
(``tag-create`` or ``tag-overwrite``). :func:`fact_needed` tells the edge when a fact would
change the decision, so it asks the upstream only then.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from regproxy.oci.actions import Action
from regproxy.oci.routes import RegistryRequest, RouteKind
from regproxy.policy.model import Decision, Effect, Outcome, PrincipalRef, PrincipalSelector, ResourcePattern, Statement

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Permission:
    action: Action
    repository: str
    tag: str | None = None


Decide = Callable[[Permission], Decision]


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
    """The permissions that do not depend on upstream facts."""
    if request.action is None or request.route is RouteKind.CATALOG:
        return ()
    return (Permission(request.action, request.repository, request.tag),)


def first_denial(decisions: Sequence[Decision]) -> Decision | None:
    for d in decisions:
        if not d.allowed:
            return d
    return None


def merge(decisions: Sequence[Decision], generation: int) -> Decision:
    """All allowed → one allow naming every statement; else the first denial."""
    denied = first_denial(decisions)
    if denied is not None:
        return denied
    ids: list[str] = []
    for d in decisions:
        ids.extend(i for i in d.statements if i not in ids)
    return Decision(Effect.ALLOW, Outcome.ALLOWED, tuple(ids), generation)


def challenge_scope(request: RegistryRequest) -> str:
    """The Docker token scope a refused request needed, for the 401 challenge."""
    if request.route is RouteKind.CATALOG:
        return "registry:catalog:*"
    if request.action is None:
        return ""
    words = {
        Action.PULL: "pull",
        Action.LIST: "pull",
        Action.DELETE_TAG: "delete",
        Action.DELETE_MANIFEST: "delete",
        Action.DELETE_BLOB: "delete",
    }
    word = words.get(request.action, "pull,push")
    return f"repository:{request.repository}:{word}"


def public_statements(patterns: Sequence[str]) -> tuple[Statement, ...]:
    """Config ``public``: anyone, anonymous included, may pull and list these repositories."""
    if not patterns:
        return ()
    return (
        Statement(
            id="config#public",
            effect=Effect.ALLOW,
            principals=(PrincipalRef(PrincipalSelector.EVERYONE),),
            actions=frozenset({Action.PULL, Action.LIST, Action.CATALOG}),
            resources=tuple(ResourcePattern(p) for p in patterns),
        ),
    )


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> IpAddress | None:
    if not forwarded_for or not trusted:
        return _parse_peer(peer)
    return _resolve_forwarded(peer, forwarded_for, tuple(trusted))


@functools.lru_cache(maxsize=4096)
def _parse_peer(peer: str | None) -> IpAddress | None:
    try:
        return ipaddress.ip_address(peer) if peer else None
    except ValueError:
        return None


def _resolve_forwarded(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> IpAddress | None:
    """The client's address: the peer, unless the peer is a trusted proxy; then the right-most
    ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    try:
        address: IpAddress | None = ipaddress.ip_address(peer) if peer else None
    except ValueError:
        return None
    if address is None or not forwarded_for or not _in(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")]):
        try:
            hop_address = ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed chain: trust only what we saw
        if not _in(hop_address, trusted):
            return hop_address
        address = hop_address
    return address


def _in(address: IpAddress, networks: Sequence[Network]) -> bool:
    return any(address.version == n.version and address in n for n in networks)
