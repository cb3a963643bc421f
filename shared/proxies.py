"""The client's address: the socket peer, unless that peer is a proxy we trust.

PP_TRUSTED_PROXIES lists the proxies (addresses or CIDRs, comma-separated) allowed to say
who the client is, in `X-Forwarded-For`. Only when the socket peer is one of them is the
header read, from the right (each hop appends the address it saw): the first address that
is not a trusted proxy is the client. A header from anyone else is ignored, so a client
cannot choose the address the sign-in limits count against. Unset, nobody is trusted and
the peer is the client (embedded mode: its gateway is the socket).
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str | None) -> IPAddress | None:
    """An address, or None for anything else (a port, a name, garbage). An IPv4 address
    written as IPv6 (::ffff:a.b.c.d, a dual-stack socket's peer) is the IPv4 one."""
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> "TrustedProxies":
        """`10.0.0.0/8, 127.0.0.1` (an address alone is its /32 or /128). Raises
        ValueError naming the entry that is neither."""
        networks = []
        for entry in (text or "").replace(" ", ",").split(","):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"not an address or CIDR: {entry!r}") from None
        return cls(tuple(networks))

    def trusts(self, address: IPAddress) -> bool:
        return any(address.version == net.version and address in net
                   for net in self.networks)

    def client_address(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client as the nearest untrusted hop: the peer itself unless it is trusted;
        then X-Forwarded-For walked from the right past trusted proxies. A hop that is not
        an address stops the walk at the trusted proxy that passed it on."""
        client = parse_address(peer)
        if client is None:
            return peer or "unknown"
        if not self.trusts(client) or not forwarded_for:
            return str(client)
        for hop in reversed(forwarded_for.split(",")):
            address = parse_address(hop)
            if address is None:
                break
            client = address
            if not self.trusts(address):
                break
        return str(client)

    def __str__(self) -> str:
        return ",".join(str(net) for net in self.networks)
