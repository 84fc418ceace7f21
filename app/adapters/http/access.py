"""Who may change the service, and from which pages.

Every request that is not ``GET``, ``HEAD`` or ``OPTIONS`` changes something
(``POST /mode/*``, ``POST /proxy/*``, and whatever is added later: the rule
is by method, not by route), so before any view runs:

1. **Cross-site**: a browser request whose ``Origin`` (or, without one,
   ``Referer``) is neither this service's own origin nor listed in
   ``http.allowed_origins`` is refused (403), token or not. Scripts send
   neither header and are judged by the next rule alone.
2. **Who**: with ``http.admin_token`` set, ``Authorization: Bearer <token>``
   is required (401 otherwise), compared in constant time. Without a token,
   only loopback peers that address the service by a loopback name
   (``localhost``, ``127.0.0.1``, ``[::1]``) are served; the name check stops
   a page whose DNS name was rebound to 127.0.0.1. Anyone else gets 403 with
   the way to set a token.
3. **Body**: ``application/json`` or none (415), so no HTML form can pose
   as an API client.

``/ws/prices`` applies rule 1 to its upgrade (``check_origin``).
"""

import hmac
import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from flask import Flask, Request, jsonify, request
from flask.typing import ResponseReturnValue

from app.adapters.http.services import services

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
TOKEN_HINT = "set http.admin_token (or MARKETFLOW_ADMIN_TOKEN) and send Authorization: Bearer <token>"


class AccessDenied(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]``, lowercased, default port dropped; None for anything that is not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS[scheme]) else f"{scheme}://{host}:{port}"


def _is_loopback_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _is_loopback_name(host: str) -> bool:
    try:
        name = urlsplit(f"http://{host}").hostname or ""
    except ValueError:
        return False
    return name == "localhost" or name.endswith(".localhost") or _is_loopback_address(name)


class AccessPolicy:
    def __init__(self, admin_token: str, allowed_origins: Iterable[str]) -> None:
        self._token = admin_token.encode()
        self._allowed = frozenset(filter(None, map(origin_of, allowed_origins)))

    @property
    def rule(self) -> str:
        """What the startup log says about control requests."""
        if self._token:
            return "control requests need Authorization: Bearer <http.admin_token>"
        return f"no admin token: control requests are accepted from loopback only ({TOKEN_HINT} to allow others)"

    def check_origin(self, req: Request) -> None:
        claimed = req.headers.get("Origin") or req.headers.get("Referer")
        if claimed is None:
            return
        origin = origin_of(claimed)
        if origin is None or (origin != origin_of(f"{req.scheme}://{req.host}") and origin not in self._allowed):
            raise AccessDenied(
                403,
                f"cross-site request refused: {claimed[:100]!r} is not this service's origin "
                "(list it in http.allowed_origins to allow it)",
            )

    def check_control(self, req: Request) -> None:
        """Rules 1 to 3 for a request that changes the service."""
        self.check_origin(req)
        if self._token:
            scheme, _, given = req.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self._token):
                raise AccessDenied(401, "this request changes the service: send Authorization: Bearer <admin token>")
        elif not (_is_loopback_address(req.remote_addr or "") and _is_loopback_name(req.host)):
            raise AccessDenied(
                403,
                "without an admin token, control requests are accepted only from loopback, addressed to "
                f"localhost, 127.0.0.1 or [::1]: {TOKEN_HINT}",
            )
        has_body = bool(req.content_length) or "chunked" in req.headers.get("Transfer-Encoding", "").lower()
        if (req.content_type or has_body) and req.mimetype != "application/json":
            raise AccessDenied(415, "send the body as application/json, or no body")


def denied(exc: AccessDenied) -> ResponseReturnValue:
    headers = {"WWW-Authenticate": 'Bearer realm="marketflow"'} if exc.status == 401 else {}
    return jsonify(error=str(exc)), exc.status, headers


def register_access(app: Flask) -> None:
    @app.before_request
    def guard_control_requests() -> ResponseReturnValue | None:
        if request.method in SAFE_METHODS:
            return None
        try:
            services().access.check_control(request)
        except AccessDenied as exc:
            return denied(exc)
        return None
