"""Which ``Host`` and ``Origin`` headers the monitor answers: its guard against DNS rebinding.

A web page on ``evil.example`` can make its own name resolve to 127.0.0.1, then read a
loopback service as if it were same-origin; the browser still sends ``Host:
evil.example``. So the monitor answers only the names it knows: loopback names
(``localhost``, ``*.localhost``, 127.0.0.0/8, ``[::1]``, with any port), the hosts given
with ``--allow-host`` / ``REBELLION_ALLOWED_HOSTS`` (``.example.com`` also matches its
subdomains), and the address it is bound to. Bound to every interface (``0.0.0.0`` or
``::``), it also answers any IP address: a rebinding attack needs a name it controls,
never a bare address.

>>> hosts = AllowedHosts(["monitor.lan"])
>>> hosts.allows("localhost:8765"), hosts.allows("[::1]:80"), hosts.allows("monitor.lan")
(True, True, True)
>>> hosts.allows("evil.example:8765"), hosts.allows("10.0.0.7:8765")
(False, False)
>>> AllowedHosts(bind="0.0.0.0").allows("10.0.0.7:8765")
True
>>> hosts.trusts_origin("http://localhost:3000"), hosts.trusts_origin("http://evil.example")
(True, False)
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import final

from ..errors import ConfigError

__all__ = ["AllowedHosts", "check_origins", "host_of"]

_HOST = re.compile(
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*))"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
_WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
_RULE = (
    "host names or addresses such as monitor.lan, 10.0.0.7, [fd00::1] or .example.com "
    "(that domain and its subdomains), optionally with a port"
)


def host_of(authority: str) -> str | None:
    """Return the host of a ``Host`` header or URL authority, normalised, or None if malformed.

    Names are lower-cased without a trailing dot, addresses in their compressed form, the
    port dropped. User info (``user@host``), paths and spaces make it malformed.

    Args:
        authority: ``name``, ``name:port``, ``1.2.3.4:port``, ``[::1]:port``...

    Returns:
        The host, or None when ``authority`` is not one.
    """
    match = _HOST.fullmatch(authority)
    if match is None:
        return None
    v6 = match["v6"]
    if v6 is None and ":" in match["name"]:
        if match["port"] is not None:
            return None  # a bare IPv6 address cannot carry a port without brackets
        v6 = match["name"]
    if v6 is not None:
        try:
            return ipaddress.IPv6Address(v6).compressed
        except ValueError:
            return None
    host = match["name"].lower()
    host = host[:-1] if host.endswith(".") else host
    if not host or host.startswith(".") or ".." in host:
        return None
    try:
        return ipaddress.IPv4Address(host).compressed
    except ValueError:
        return host


def check_origins(origins: Iterable[str]) -> tuple[str, ...]:
    """Return browser origins (``https://dash.example:8443``) without a trailing slash.

    Raises:
        ConfigError: an entry is not ``http(s)://host[:port]`` (no path, no user info).
    """
    if isinstance(origins, str):
        raise ConfigError("allowed_origins", "a list of origins", origins)
    out: list[str] = []
    for entry in origins:
        text = entry.strip().rstrip("/") if isinstance(entry, str) else ""
        scheme, sep, authority = text.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or host_of(authority) is None:
            rule = "origins such as https://dash.example or http://10.0.0.7:3000"
            raise ConfigError("allowed_origins", rule, entry)
        out.append(f"{scheme.lower()}://{authority.lower()}")
    return tuple(out)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True  # browsers resolve these to loopback themselves, never through DNS
    address = _address(host)
    return address is not None and address.is_loopback


@final
class AllowedHosts:
    """The hosts the monitor answers, and the browser origins it trusts for WebSockets.

    Args:
        hosts: extra host names or addresses (``--allow-host``); an entry starting with a
            dot matches that domain and its subdomains.
        bind: the address the server is bound to; a non-loopback one is allowed too, and
            a wildcard bind (``0.0.0.0``, ``::``) allows every IP address.

    Raises:
        ConfigError: ``hosts`` holds something that is not a host.
    """

    __slots__ = ("_any_address", "_names", "_suffixes")

    def __init__(self, hosts: Iterable[str] = (), *, bind: str = "127.0.0.1") -> None:
        names: set[str] = set()
        suffixes: list[str] = []
        if isinstance(hosts, str):
            raise ConfigError("allowed_hosts", "a list of " + _RULE, hosts)
        for entry in hosts:
            text = entry.strip() if isinstance(entry, str) else ""
            domain = text.startswith(".")
            host = host_of(text[1:] if domain else text)
            if host is None or (domain and _address(host) is not None):
                raise ConfigError("allowed_hosts", _RULE, entry)
            if domain:
                suffixes.append("." + host)
            else:
                names.add(host)
        bound = bind.strip()
        self._any_address = bound in _WILDCARD_BINDS
        if not self._any_address:
            host = host_of(bound) or host_of(f"[{bound}]")
            if host is not None and not _loopback(host):
                names.add(host)
        self._names = frozenset(names)
        self._suffixes = tuple(suffixes)

    def __repr__(self) -> str:
        shown = sorted(self._names) + list(self._suffixes)
        return f"AllowedHosts({shown!r}, any_address={self._any_address})"

    def _named(self, host: str) -> bool:
        if _loopback(host) or host in self._names:
            return True
        return any(host == s[1:] or host.endswith(s) for s in self._suffixes)

    def allows(self, header: str) -> bool:
        """Return True if a request with this ``Host`` header value may be answered."""
        host = host_of(header)
        if host is None:
            return False
        return self._named(host) or (self._any_address and _address(host) is not None)

    def trusts_origin(self, origin: str, host_header: str | None = None) -> bool:
        """Return True if a page of ``origin`` may open the WebSocket.

        The origin's own host must be allowed by name (loopback, configured, bound). On a
        wildcard bind, a page served from an IP address is trusted on that same address
        (``Origin`` equal to ``Host``): an address, unlike a name, cannot be rebound.

        Args:
            origin: the ``Origin`` header (``scheme://host[:port]``).
            host_header: the request's ``Host`` header, if any.
        """
        scheme, sep, authority = origin.partition("://")
        if not sep or scheme.lower() not in ("http", "https") or not authority:
            return False  # "null" (sandboxed frames, file: pages) and other schemes
        host = host_of(authority.rstrip("/"))
        if host is None:
            return False
        if self._named(host):
            return True
        same = host_header is not None and authority.rstrip("/").lower() == host_header.lower()
        return same and self._any_address and _address(host) is not None
