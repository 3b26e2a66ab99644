"""Which address a request came from, believing X-Forwarded-For only from trusted proxies.

A client can send any X-Forwarded-For it likes: only a reverse proxy listed in the setting
`trusted_proxies` is believed, and only for the hops it and other trusted proxies appended.
The servers that run the service (etiquette serve, etiquette run, the tests) start uvicorn with
`proxy_headers=False`, so that this setting, not uvicorn's default, decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ADDRESS_CHARS = 64  # as the login tables store it


@lru_cache(maxsize=32)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t.strip(), strict=False) for t in trusted if t.strip())


def is_trusted(peer: str | None, trusted: Sequence[str]) -> bool:
    """Whether `peer` (the address of the connection) is one of the trusted proxies."""
    if not peer or not trusted:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in _networks(tuple(trusted)))


def client_address(peer: str | None, forwarded_for: Iterable[str],
                   trusted: Sequence[str]) -> str:
    """The client's address: the connection's, or, from a trusted proxy, the nearest hop of
    X-Forwarded-For (all its header lines, in order) that is not itself a trusted proxy."""
    address = peer or "unknown"
    if not is_trusted(peer, trusted):
        return address[:MAX_ADDRESS_CHARS]
    hops = [h.strip() for line in forwarded_for for h in line.split(",")]
    for hop in reversed(hops):
        try:
            address = str(ipaddress.ip_address(hop))
        except ValueError:
            break  # garbage from beyond the proxies: the last trusted hop is the best we know
        if not is_trusted(address, trusted):
            break
    return address[:MAX_ADDRESS_CHARS]
