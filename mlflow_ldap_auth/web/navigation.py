"""Where a browser without credentials goes: the sign-in page (docs/signing-in.md).

A person who opens MLflow (or ``/ldap-admin``) in a browser without credentials gets a
``303`` to ``<prefix>/ldap-auth/login?next=<the path and query asked for>`` instead of
the ``401`` Basic challenge, which would pop up the browser's password prompt. Only a
*navigation* goes there: ``GET``, an ``Accept`` that names ``text/html``, and nothing
that says the request was made by a script (``Sec-Fetch-Mode`` other than
``navigate``, ``X-Requested-With``). API clients and MLflow's own ``fetch`` calls keep
the ``401`` exactly as before, and ``[ldap] login_page = false`` keeps it for browsers
too.

The decisions are pure functions (``is_browser_navigation``, ``safe_next``,
``sign_in_location``; ``tests/unit/test_navigation.py``). ``answer_without_credentials``
applies them to the current request: the one call for every place that answers a
request without (usable) credentials, e.g. a navigation whose session cookie is over.
Its name and signature are kept stable.

``next`` is only ever a path on this server: ``/`` then anything but a second ``/`` or
a ``\\`` (browsers read ``/\\host`` as ``//host``), no control character (browsers drop
tabs and newlines, so ``/\\t/host`` would become ``//host``), no scheme. Anything else
goes to MLflow's home (``<prefix>/``).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from flask import Response, request
from werkzeug.datastructures import Headers

from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.plugin import current_plugin

#: The sign-in page, under the server's ``--static-prefix``.
SIGN_IN_PATH = "/ldap-auth/login"
#: The sign-out form's target, under the prefix.
SIGN_OUT_PATH = "/ldap-auth/logout"
#: Longest ``next`` kept (a longer one goes to the home page).
MAX_NEXT_LENGTH = 2048


def is_browser_navigation(method: str, headers: Mapping[str, str] | Headers) -> bool:
    """Whether a request is a person's browser opening a page (not a script's call)."""
    if method.upper() != "GET":
        return False
    accept = (headers.get("Accept") or "").lower()
    if "text/html" not in accept:
        return False
    fetch_mode = (headers.get("Sec-Fetch-Mode") or "").lower()
    if fetch_mode and fetch_mode != "navigate":
        return False
    return not headers.get("X-Requested-With")


def safe_next(target: str | None, prefix: str) -> str:
    """``target`` if it is a path on this server, else MLflow's home (``prefix + "/"``)."""
    home = prefix + "/"
    if not target or len(target) > MAX_NEXT_LENGTH:
        return home
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return home
    try:
        parts = urlsplit(target)
    except ValueError:
        return home
    if parts.scheme or parts.netloc:
        return home
    return target


def sign_in_location(prefix: str, asked_for: str) -> str:
    """The sign-in page's address, sending the person back to ``asked_for`` after."""
    return prefix + SIGN_IN_PATH + "?next=" + quote(safe_next(asked_for, prefix), safe="/")


def asked_for(path: str, query: bytes) -> str:
    """The path and query of a request, as ``next`` names them."""
    return path + ("?" + query.decode("latin-1") if query else "")


def answer_without_credentials() -> Response | None:
    """The ``303`` to the sign-in page if the current request is a browser navigation
    and ``login_page`` is on; None otherwise (the caller answers as before: ``401``)."""
    if not is_browser_navigation(request.method, request.headers):
        return None
    if not current_plugin().settings.ldap.login_page:
        return None
    prefix = static_prefix()
    location = sign_in_location(prefix, asked_for(request.path, request.query_string))
    return Response(status=303, headers={"Location": location})
