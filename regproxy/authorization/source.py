"""The client's address, behind trusted proxies (``X-Forwarded-For``), for source conditions."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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
