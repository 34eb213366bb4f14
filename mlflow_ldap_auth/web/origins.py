"""Which site sent a request: its ``Origin`` against the server's own.

The plugin's own paths refuse any request whose ``Origin`` is not the server's
(``admin_guard``): MLflow's default CORS policy lets any ``http://localhost:*`` page
send credentialed requests. Here, below ``authn``, so that the request's check can ask
the same question.

The server's own origin is the request's ``Host`` and scheme as the server sees them
(uvicorn and gunicorn apply ``X-Forwarded-Proto`` from the proxies they trust; the
plugin reads no ``X-Forwarded-*`` header itself, so an ``X-Forwarded-Host`` is ignored).
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(netloc: str, scheme: str) -> tuple[str, int | None] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), None if port == _DEFAULT_PORTS.get(scheme) else port


def is_same_origin(origin: str, host: str | None, scheme: str) -> bool:
    """Whether ``Origin`` names the server the request was sent to (its ``Host``).

    Compared as (host, port), with a scheme's default port written or not; the scheme
    itself is not compared, so a server behind a TLS-terminating proxy (the browser says
    ``https://``, the request arrives as plain HTTP) still recognizes its own pages.
    ``null`` (sandboxed frames, file pages) and anything unparsable are foreign.
    """
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc or not host:
        return False
    theirs = _host_port(parts.netloc, parts.scheme)
    ours = _host_port(host, scheme)
    if theirs is None or ours is None:
        return False
    if theirs[0] != ours[0]:
        return False
    return theirs[1] == ours[1] or {theirs[1], ours[1]} <= {None, 80, 443}
