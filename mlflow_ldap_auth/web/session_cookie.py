"""The Flask session cookie (CSRF tokens, flash messages): ``SameSite=Lax``, ``Secure`` on HTTPS.

``Secure`` is decided per request: set when the request came over HTTPS, directly or
through a proxy that says so in ``X-Forwarded-Proto``. Trusting that header costs
nothing: at worst a client that lies makes its own cookie HTTPS-only.

Flask opens and saves this session on every request. It builds a new signing
serializer each time (itsdangerous tries a ``dumps`` of ``{}`` as it is built), even for
the many requests (API clients, tokens, scripts) that carry no cookie at all, and works
out every cookie attribute before it finds an empty session with nothing to save. Here
the serializer is built once per secret (it keeps no state between uses); without a
``Cookie`` header the session is the empty one Flask would make, and an empty,
unmodified session is saved as Flask saves it (nothing but ``Vary: Cookie`` when it was
read), without that work first.
"""

from __future__ import annotations

from collections.abc import Hashable

from flask import Flask, Request, Response, has_request_context, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer


class SessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        #: (the secret and its fallbacks, the serializer built for them)
        self._serializer: tuple[Hashable, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        secrets = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._serializer
        if built is None or built[0] != secrets:
            built = self._serializer = (secrets, super().get_signing_serializer(app))
        return built[1]

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
