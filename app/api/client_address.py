"""The client address that rate limits count by: one a client cannot choose.

facegate decides it from the socket peer. ``X-Forwarded-For`` is read only when the peer is a proxy the
operator declared (``FACEGATE_TRUSTED_PROXIES``): then the client is the rightmost hop that is not a
declared proxy, as each proxy appends the address it received the request from. Anyone else's header
is ignored, since the client writes it.

uvicorn's ``--proxy-headers`` (on by default, trusting 127.0.0.1 and ::1) rewrites the peer from
``X-Forwarded-For`` before facegate sees the request, so a client on the same host could choose it.
facegate is started with ``--no-proxy-headers``; when it is not, a peer that appears among the
request's own forwarded hops is not believed, and all such requests count as one client.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence

from starlette.types import Scope

__all__ = ["UNVERIFIED", "ClientAddresses"]

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The one client that every request with an unbelievable address counts as.
UNVERIFIED = "unverified-forwarded-for"
# A host owns a whole IPv6 /64: counting by single address would give it 2**64 budgets.
IPV6_CLIENT_PREFIX = 64
# Hops read from the right of X-Forwarded-For; a longer chain than this is not a real deployment.
MAX_HOPS = 32
MAX_NAME_LENGTH = 64


class ClientAddresses:
    """Maps a request to the address its rate limits count by."""

    def __init__(self, trusted_proxies: Iterable[Network]) -> None:
        self.trusted_proxies: tuple[Network, ...] = tuple(trusted_proxies)
        self._warned = False

    def of(self, scope: Scope) -> str:
        """The client of a request: an IPv4 address, an IPv6 /64, a peer name, or ``UNVERIFIED``."""
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        if not peer:
            return "unknown"
        hops = _forwarded_hops(scope["headers"])
        if hops and _same(peer, hops):
            # The peer was (probably) rewritten from this very header: uvicorn --proxy-headers.
            self._warn_once()
            return UNVERIFIED
        address = _ip(peer)
        if address is None:
            return peer[:MAX_NAME_LENGTH]  # a Unix socket, or the test client
        for hop in reversed(hops):
            if not self._trusted(address):
                break
            previous = _ip(hop)
            if previous is None:
                break  # a declared proxy wrote no address: count by the proxy itself
            address = previous
        return _key(address)

    def _trusted(self, address: Address) -> bool:
        return any(address in network for network in self.trusted_proxies)

    def _warn_once(self) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "a client address came from X-Forwarded-For, which the client may write: run uvicorn"
                " with --no-proxy-headers and list your proxies in FACEGATE_TRUSTED_PROXIES; until"
                " then all such requests share one rate limit"
            )


def _forwarded_hops(headers: Sequence[tuple[bytes, bytes]]) -> list[str]:
    values = [value.decode("latin-1") for name, value in headers if name == b"x-forwarded-for"]
    hops = [hop.strip() for hop in ",".join(values).split(",")]
    return [hop for hop in hops if hop][-MAX_HOPS:]


def _host(hop: str) -> str:
    """The host of a hop as uvicorn reads it: ``1.2.3.4``, ``1.2.3.4:5``, ``[::1]:5`` or ``::1``."""
    if hop.startswith("["):
        return hop[1 : hop.find("]")] if "]" in hop else hop
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop


def _ip(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(_host(text))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _same(peer: str, hops: list[str]) -> bool:
    address = _ip(peer)
    return any(_host(hop) == peer or (address is not None and _ip(hop) == address) for hop in hops)


def _key(address: Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)
