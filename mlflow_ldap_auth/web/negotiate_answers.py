"""Kerberos on the wire (docs/reference/answers.md#kerberos-single-sign-on).

With ``kerberos_keytab`` set:

- a browser navigation without credentials (or with a session that is over) gets
  ``401`` with ``WWW-Authenticate: Negotiate`` *and* the sign-in page as its body: a
  browser holding a ticket for this host retries at once with ``Authorization:
  Negotiate``, any other shows the form (``without_credentials``). With ``login_page =
  false`` there is no page: the ``401`` of an API request, with both challenges;
- a navigation whose ticket is refused gets the sign-in page with the refusal (401,
  403 outside ``allowed_groups``, 503 when the directory is down), no challenge: a
  browser would only send the same ticket again (``refused``);
- an accepted ticket: the answer carries the mutual-authentication token
  (``WWW-Authenticate: Negotiate <AP-REP>``), and a navigation also gets a session, as
  the sign-in page gives one (``signin_form.open_session``), on the page it asked for,
  unless the answer is an error (``after_request``). MLflow's FastAPI routes get the
  token from ``preauth``, which computes their answers off the event loop.

The request check (``authn``) leaves the ``SignedIn`` of an accepted ticket on
``flask.g`` (``SIGNED_IN``) for ``after_request`` and ``preauth``.
"""

from __future__ import annotations

import base64

from flask import Flask, Response, g, request

from mlflow_ldap_auth.errors import AuthError, DirectoryUnavailable, NotAllowed
from mlflow_ldap_auth.kerberos.negotiate import SignedIn
from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web.http_answers import NEGOTIATE_CHALLENGE, RETRY_AFTER_SECONDS
from mlflow_ldap_auth.web.navigation import (
    answer_without_credentials,
    asked_for,
    is_browser_navigation,
    safe_next,
)
from mlflow_ldap_auth.web.signin_form import (
    NOT_ALLOWED,
    TICKET_REFUSED,
    UNAVAILABLE,
    SignInForm,
    open_session,
    page,
)

#: ``flask.g``'s attribute holding the ``SignedIn`` of the request's accepted ticket.
SIGNED_IN = "mlflow_ldap_auth_negotiate"


def _page_applies() -> bool:
    """A navigation, on a server with Kerberos and the sign-in page."""
    plugin = current_plugin()
    return (
        plugin.negotiate is not None
        and plugin.settings.ldap.login_page
        and is_browser_navigation(request.method, request.headers)
    )


def _sign_in_page(status: int, message: str | None, headers) -> Response:
    form = SignInForm(formdata=None)
    prefix = static_prefix()
    form.next.data = safe_next(asked_for(request.path, request.query_string), prefix)
    body, status, headers = page(form, status, message, headers)
    response = Response(body, status=status, headers=headers, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def without_credentials() -> Response | None:
    """The answer to a request without usable credentials: with Kerberos, a navigation's
    ``401 Negotiate`` with the sign-in page; otherwise ``navigation``'s (the ``303``),
    or None (the caller answers its ``401``)."""
    if _page_applies():
        return _sign_in_page(401, None, [("WWW-Authenticate", NEGOTIATE_CHALLENGE)])
    return answer_without_credentials()


def refused(error: AuthError) -> Response | None:
    """A navigation's refused ticket: the sign-in page saying so; None otherwise."""
    if not _page_applies():
        return None
    if isinstance(error, DirectoryUnavailable):
        return _sign_in_page(503, UNAVAILABLE, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(error, NotAllowed):
        return _sign_in_page(403, NOT_ALLOWED, {})
    return _sign_in_page(401, TICKET_REFUSED, {})


def reply_header(signed_in: SignedIn) -> str | None:
    """``WWW-Authenticate``'s value carrying the mutual-authentication token, if any."""
    if not signed_in.mutual_token:
        return None
    return NEGOTIATE_CHALLENGE + " " + base64.b64encode(signed_in.mutual_token).decode("ascii")


def after_request(response: Response) -> Response:
    signed_in: SignedIn | None = g.pop(SIGNED_IN, None)
    if signed_in is None:
        return response
    header = reply_header(signed_in)
    if header is not None:
        response.headers.add("WWW-Authenticate", header)
    if _page_applies() and response.status_code < 400:
        open_session(response, signed_in.principal.username, request.remote_addr or None)
    return response


def install(app: Flask) -> None:
    app.after_request(after_request)
