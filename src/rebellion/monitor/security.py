"""Who may talk to the monitor: Host check, token auth, WebSocket origin check, size limit.

One pure-ASGI middleware guards HTTP and WebSocket alike. It first refuses a ``Host``
header it does not know (see :mod:`rebellion.monitor.hosts`: the defence against DNS
rebinding), answering 400 on HTTP and 403 on a WebSocket upgrade. The token, when configured,
may come as ``Authorization: Bearer <token>``, as a ``token`` query parameter (what a
browser's WebSocket and the dashboard link can send), or as a WebSocket subprotocol
``rebellion.token.<token>``. Comparison is constant-time (``hmac.compare_digest``) and
the token never reaches a log line: :class:`RedactTokens` scrubs uvicorn's access log.

>>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
(True, True, False)
>>> redact("GET /ws?token=s3cret&x=1")
'GET /ws?token=***&x=1'
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, final
from urllib.parse import parse_qs

from .hosts import AllowedHosts

__all__ = [
    "TOKEN_SUBPROTOCOL",
    "Guard",
    "RedactTokens",
    "is_loopback",
    "redact",
    "token_from_scope",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_SUBPROTOCOL = "rebellion.token."
"""Prefix of the WebSocket subprotocol that carries the token."""

_TOKEN_IN_TEXT = re.compile(r"(token=)[^&\s\"']+|(Bearer\s+)\S+", re.IGNORECASE)


def is_loopback(host: str) -> bool:
    """Return True when binding ``host`` only exposes the service to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact(text: str) -> str:
    """Replace token values in ``text`` (query strings, Authorization headers) by ``***``."""
    return _TOKEN_IN_TEXT.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class RedactTokens(logging.Filter):
    """A logging filter that scrubs tokens from a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def token_from_scope(scope: Scope) -> str | None:
    """Return the token a request or WebSocket upgrade presents, if any."""
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credential:
                return credential.strip()
        if name == b"sec-websocket-protocol":
            for proto in value.decode("latin-1").split(","):
                proto = proto.strip()
                if proto.startswith(TOKEN_SUBPROTOCOL):
                    return proto[len(TOKEN_SUBPROTOCOL) :]
    query: bytes = scope.get("query_string", b"")
    if query:
        values = parse_qs(query.decode("latin-1")).get("token")
        if values:
            return values[0]
    return None


@final
class Guard:
    """ASGI middleware: Host check, token check, WebSocket origin check, request body limit.

    Args:
        app: the application to protect.
        token: the shared secret, or None to allow anyone who can reach the socket
            (only sensible on a loopback bind, which the CLI enforces).
        allowed_origins: extra origins accepted on WebSocket upgrades, besides those whose
            host ``hosts`` trusts (loopback, configured and bound names).
        hosts: the ``Host`` headers answered (default: loopback names only).
        max_body: largest request body accepted, in bytes (413 beyond).
        open_paths: paths served without a token (liveness probes).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        token: str | None,
        allowed_origins: Iterable[str] = (),
        hosts: AllowedHosts | None = None,
        max_body: int = 64 * 1024,
        open_paths: Iterable[str] = ("/healthz", "/readyz"),
    ) -> None:
        self._app = app
        self._hosts = AllowedHosts() if hosts is None else hosts
        self._token = token.encode() if token else None
        self._origins = {o.rstrip("/").lower() for o in allowed_origins}
        self._max_body = max_body
        self._open = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if not self._host_ok(scope):
                await _http_error(send, 400, _UNKNOWN_HOST)
                return
            if not self._authorised(scope):
                await _http_error(send, 401, "missing or invalid token")
                return
            if _declared_length(scope) > self._max_body:
                await _http_error(send, 413, f"request body larger than {self._max_body} bytes")
                return
            started = False

            async def tracking_send(message: Message) -> None:
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            try:
                await self._app(scope, self._limited(receive), tracking_send)
            except _BodyTooLarge as error:
                if started:
                    raise
                await _http_error(send, 413, str(error))
        elif kind == "websocket":
            if not self._host_ok(scope):
                await _deny_upgrade(scope, receive, send, 403, _UNKNOWN_HOST)
                return
            if not self._origin_ok(scope):
                await _deny_upgrade(scope, receive, send, 403, "origin refused")
                return
            if not self._authorised(scope):
                await _deny_upgrade(scope, receive, send, 401, "missing or invalid token")
                return
            await self._app(scope, receive, send)
        else:
            await self._app(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        if self._token is None or scope.get("path") in self._open:
            return True
        presented = token_from_scope(scope)
        if presented is None:
            return False
        return hmac.compare_digest(presented.encode(), self._token)

    def _host_ok(self, scope: Scope) -> bool:
        # No Host header at all is not a browser (browsers always send one): nothing
        # to rebind. Every Host header present must be known.
        return all(self._hosts.allows(host) for host in _header_values(scope, b"host"))

    def _origin_ok(self, scope: Scope) -> bool:
        origins = _header_values(scope, b"origin")
        if not origins:
            return True  # not a browser: nothing to forge a cross-site request with
        hosts = _header_values(scope, b"host")
        host = hosts[0] if len(hosts) == 1 else None
        return all(
            o.rstrip("/").lower() in self._origins or self._hosts.trusts_origin(o, host)
            for o in origins
        )

    def _limited(self, receive: Receive) -> Receive:
        seen = 0
        limit = self._max_body

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge(limit)
            return message

        return limited


_UNKNOWN_HOST = (
    "unknown Host header: the monitor answers loopback names, its bound address and the "
    "hosts given with --allow-host (or REBELLION_ALLOWED_HOSTS)"
)


def _header_values(scope: Scope, name: bytes) -> list[str]:
    return [v.decode("latin-1") for k, v in scope.get("headers", ()) if k == name]


class _BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes")


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 1 << 62
    return 0


async def _deny_upgrade(scope: Scope, receive: Receive, send: Send, status: int, why: str) -> None:
    """Refuse a WebSocket handshake with a real HTTP status when the server allows it."""
    await receive()  # the websocket.connect message
    if "websocket.http.response" in scope.get("extensions", {}):
        body = json.dumps({"detail": why}).encode()
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 4000 + status, "reason": why})


async def _http_error(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="rebellion"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
