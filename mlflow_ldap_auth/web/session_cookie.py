"""The Flask session cookie (CSRF tokens, flash messages): ``SameSite=Lax``, ``Secure`` on HTTPS.

``Secure`` is decided per request: set when the request came over HTTPS, directly or
through a proxy that says so in ``X-Forwarded-Proto``. Trusting that header costs
nothing: at worst a client that lies makes its own cookie HTTPS-only.
"""

from __future__ import annotations

from flask import Flask, has_request_context, request
from flask.sessions import SecureCookieSessionInterface


class SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        if super().get_cookie_secure(app):
            return True
        if not has_request_context():
            return False
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        return request.is_secure or forwarded == "https"


def install(app: Flask) -> None:
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.session_interface = SessionInterface()
