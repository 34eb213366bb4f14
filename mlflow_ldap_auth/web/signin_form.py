"""The sign-in page's form, its rendering and the session cookie it sets.

Shared by the page itself (``signin_pages``: ``GET``/``POST /ldap-auth/login``) and by
Kerberos's answers (``negotiate_answers``: the page as the body of a navigation's
``401 Negotiate`` challenge, and the session a navigation signed in by its ticket
gets). Cut from ``signin_pages`` because that module sits behind ``admin_guard``, which
the request check (``authn``) is imported by: this one imports nothing of the request
check.
"""

from __future__ import annotations

from flask import current_app, render_template, request
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import HiddenField, PasswordField, StringField

from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web.credentials import SESSION_COOKIE

REFUSED = "Wrong username or password, or too many attempts: try again."
NOT_ALLOWED = "Your directory account is not allowed to use this MLflow server."
UNAVAILABLE = "The directory is unavailable; try again shortly."
TICKET_REFUSED = (
    "Your Kerberos ticket was not accepted here: sign in with your directory username and password."
)


class SignInForm(FlaskForm):
    username = StringField("Username")
    password = PasswordField("Password")
    next = HiddenField()


def page(form: SignInForm, status: int = 200, message: str | None = None, headers=None):
    """The sign-in page's (body, status, headers)."""
    body = render_template(
        "ldap_admin/signin.html",
        form=form,
        message=message,
        signed_out=request.args.get("signed_out") == "1",
    )
    return body, status, headers or {}


def cookie_is_secure() -> bool:
    """``Secure`` exactly when the Flask session cookie is (``session_cookie``)."""
    return bool(current_app.session_interface.get_cookie_secure(current_app))


def open_session(response: Response, username: str, source: str | None) -> None:
    """A new session for ``username`` on ``response``: the ``mlflow_ldap_session``
    cookie (``HttpOnly``, ``SameSite=Lax``, ``Path=/``, ``Secure`` on HTTPS). A session
    cookie the browser sent before is ended, never kept."""
    plugin = current_plugin()
    sessions = plugin.sessions
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        sessions.sign_out(previous, source)
    marker = plugin.revalidator.password_marker(username)
    _, secret = sessions.sign_in(username, source, marker)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=sessions.max_seconds,
        path="/",
        secure=cookie_is_secure(),
        httponly=True,
        samesite="Lax",
    )
