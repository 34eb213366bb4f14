"""The Flask session cookie (CSRF tokens, flash messages): ``SameSite=Lax``, ``Secure`` on HTTPS.

``Secure`` is decided per request: set when the request came over HTTPS, directly or
through a proxy that says so in ``X-Forwarded-Proto``. Trusting that header costs
nothing: at worst a client that lies makes its own cookie HTTPS-only.

Flask opens and saves this session on every request, and most requests (API clients,
tokens, scripts) carry no cookie at all: Flask builds the signing serializer and parses
the cookies before it finds none, and works out every cookie attribute before it finds
an empty session with nothing to save. Without a ``Cookie`` header the session is the
empty one Flask would make, and an empty, unmodified session is saved as Flask saves
it (nothing but ``Vary: Cookie`` when it was read), without that work first.
"""

from __future__ import annotations

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin


class SessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and "HTTP_COOKIE" not in request.environ:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)

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
