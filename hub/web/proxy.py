"""The client's real address and scheme behind trusted reverse proxies.

Behind a reverse proxy every request arrives from the proxy's address. The proxy names the
client in ``X-Forwarded-For`` (each proxy appends the address it received the request from)
and the scheme in ``X-Forwarded-Proto``. Those headers are believed only as far as the hub's
``trusted_proxies`` setting allows, so a client can never choose its own address:

- a hop count ``N``: the request has passed exactly ``N`` proxies the operator runs; the
  client is the ``N``-th address from the right of ``X-Forwarded-For``;
- a list of networks: starting from the TCP peer, walk ``X-Forwarded-For`` from the right
  while the address is a trusted proxy; the first untrusted address is the client. When the
  TCP peer itself is not trusted, the forwarded headers are ignored.

The resolved address replaces ``REMOTE_ADDR`` (so ``request.remote_addr``, rate limits and
the audit trail see the client), and the proxy's ``X-Forwarded-Proto`` sets the URL scheme
(secure cookies and ``https`` URLs behind TLS termination). The TCP peer stays available as
``environ["wardlink.proxy_peer"]``.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address

from wardlink.hub.config import parse_trusted_proxies

PEER_KEY = "wardlink.proxy_peer"
_SCHEMES = ("http", "https")


def _values(environ: dict, key: str) -> list[str]:
    # Several headers of one name arrive joined with ", " by the WSGI server.
    raw = environ.get(key, "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def _address(text: str) -> str | None:
    """Return ``text`` as a normalised IP address, or None when it is not one.

    An IPv4 address seen through an IPv6 socket (``::ffff:10.0.0.5``) becomes plain IPv4, so
    IPv4 networks in ``trusted_proxies`` match it.
    """
    try:
        ip = ip_address(text.strip("[]"))
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


class ProxyFix:
    """WSGI middleware that resolves the client's address and scheme (see the module doc)."""

    def __init__(self, app, trusted: str) -> None:
        self.app = app
        self.trusted = parse_trusted_proxies(trusted)

    def __call__(self, environ, start_response):
        peer = environ.get("REMOTE_ADDR")
        environ[PEER_KEY] = peer
        resolved = self.resolve(peer, _values(environ, "HTTP_X_FORWARDED_FOR"),
                                _values(environ, "HTTP_X_FORWARDED_PROTO"))
        if resolved is not None:
            client, scheme = resolved
            environ["REMOTE_ADDR"] = client
            if scheme is not None:
                environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)

    def resolve(self, peer: str | None, forwarded_for: list[str],
                forwarded_proto: list[str]) -> tuple[str, str | None] | None:
        """Return (client address, scheme or None), or None to keep the TCP peer's view."""
        if isinstance(self.trusted, int):
            return self._by_hops(self.trusted, forwarded_for, forwarded_proto)
        return self._by_networks(self.trusted, peer, forwarded_for, forwarded_proto)

    @staticmethod
    def _by_hops(hops: int, forwarded_for: list[str],
                 forwarded_proto: list[str]) -> tuple[str, str | None] | None:
        if hops == 0 or len(forwarded_for) < hops:
            return None  # not through every proxy we run: believe nothing
        client = _address(forwarded_for[-hops])
        if client is None:
            return None
        scheme = forwarded_proto[-hops].lower() if len(forwarded_proto) >= hops else None
        return client, scheme if scheme in _SCHEMES else None

    @staticmethod
    def _by_networks(networks: tuple[IPv4Network | IPv6Network, ...], peer: str | None,
                     forwarded_for: list[str],
                     forwarded_proto: list[str]) -> tuple[str, str | None] | None:
        def trusted(address: str) -> bool:
            ip = ip_address(address)
            return any(ip in net for net in networks)

        current = _address(peer or "")
        if current is None or not trusted(current):
            return None  # the peer is not a proxy of ours: its forwarded headers mean nothing
        # The scheme is the one the nearest proxy saw (it sets the header; it does not append).
        scheme = forwarded_proto[-1].lower() if forwarded_proto else None
        for hop in reversed(forwarded_for):
            address = _address(hop)
            if address is None:
                break  # a trusted proxy passed on something that is not an address: stop here
            current = address
            if not trusted(current):
                break
        return current, scheme if scheme in _SCHEMES else None
