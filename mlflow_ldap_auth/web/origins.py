"""Which site sent a request: its ``Origin`` and ``Sec-Fetch-Site`` against the server's own.

Two rules use it. The plugin's own paths refuse any request whose ``Origin`` is not
the server's (``admin_guard``): MLflow's default CORS policy lets any
``http://localhost:*`` page send credentialed requests. And a state-changing request
that only the session cookie authenticates is refused when another site sent it
(``cross_site``; docs/security.md#cross-site-requests): a browser adds the cookie to a
form another site posts to this server (``SameSite=Lax`` stops that only for other
*sites*, not for another host of the same domain) and to any request such a page makes.

The server's own origin is the request's ``Host`` and scheme as the server sees them
(uvicorn and gunicorn apply ``X-Forwarded-Proto`` from the proxies they trust; the
plugin reads no ``X-Forwarded-*`` header itself, so an ``X-Forwarded-Host`` is ignored).

``Sec-Fetch-Site``: ``same-origin`` and ``none`` (the person typed the address, or a
bookmark) pass; ``cross-site`` and ``same-site`` are refused: a same-site request comes
from another origin (another host of the domain), which the ``Origin`` rule refuses
anyway, so the two headers never disagree. A request with neither header (not a
browser, or a browser too old to send them on this request) is not a cross-site one.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
STATE_CHANGING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: ``Sec-Fetch-Site`` values of a request the server's own pages (or the person) made.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})
#: What ``cross_site`` quotes of a header (audit lines stay short).
_QUOTED = 200


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


def is_state_changing(method: str) -> bool:
    return method.upper() in STATE_CHANGING_METHODS


def cross_site(method: str, headers, host: str | None, scheme: str) -> str | None:
    """For a state-changing request another site sent: the header that says so, as it
    came (shortened), for the audit line; None for any other request."""
    if not is_state_changing(method):
        return None
    origin = headers.get("Origin")
    if origin is not None and not is_same_origin(origin, host, scheme):
        return f"Origin: {origin[:_QUOTED]}"
    fetch_site = headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site.strip().lower() not in OWN_FETCH_SITES:
        return f"Sec-Fetch-Site: {fetch_site[:_QUOTED]}"
    return None
