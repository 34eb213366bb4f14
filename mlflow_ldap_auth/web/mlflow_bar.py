"""The bar in MLflow's own pages: who is signed in, *Access tokens*, *LDAP admin*.

MLflow's UI is one HTML page (``mlflow_compat.ui_index``); an ``after_request`` hook
adds one tag to it, before ``</head>``::

    <script src="<prefix>/ldap-admin/static/mlflow-bar.js"
            data-me="<prefix>/api/2.0/mlflow/ldap-auth/me" defer></script>

The script (``static/mlflow-bar.js``, with ``mlflow-bar.css``; public, as the admin
page's stylesheet: ``admin_guard``) asks ``whoami_api`` who the browser is signed in as
and draws the bar; when that fails it draws nothing. No inline script, so a
content-security policy a proxy puts on MLflow's pages needs only ``script-src 'self'``.

Only that page's full answer changes: a 200, ``text/html``, not encoded, to a GET.
The new body gets its ``Content-Length`` and an ``ETag`` of its own (MLflow's, with
the tag's digest added), and is made conditional on it again, so a browser that holds
this page revalidates to a 304 as before. Everything else passes untouched: MLflow's
other answers, a 304 or 206 MLflow computed from its own ``ETag`` (a browser only
sends that one for a copy it got without the bar), a HEAD (MLflow's headers for the
file), and a page with no ``</head>``.
"""

from __future__ import annotations

import hashlib
from html import escape

from flask import Flask, Response, request

from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.mlflow_compat.ui_index import is_ui_page
from mlflow_ldap_auth.web.admin_guard import STATIC_PREFIX
from mlflow_ldap_auth.web.whoami_api import ME_PATH

SCRIPT_FILE = "mlflow-bar.js"
_HEAD_END = b"</head>"


def script_tag(prefix: str) -> bytes:
    """The tag added to MLflow's page on a server with ``--static-prefix`` ``prefix``."""
    src = escape(prefix + STATIC_PREFIX + SCRIPT_FILE)
    me = escape(prefix + ME_PATH)
    return f'<script src="{src}" data-me="{me}" defer></script>'.encode()


def with_tag(html: bytes, tag: bytes) -> bytes | None:
    """``html`` with ``tag`` just before its first ``</head>``; None if it has none."""
    at = html.lower().find(_HEAD_END)
    if at < 0:
        return None
    return html[:at] + tag + html[at:]


def tagged_etag(etag: str, tag: bytes) -> str:
    """The ``ETag`` of MLflow's page ``etag`` with ``tag`` added: changes with either."""
    return f"{etag}-bar-{hashlib.sha256(tag).hexdigest()[:16]}"


def add_bar(response: Response, tag: bytes) -> Response:
    """``response`` with ``tag`` in it, if it is the full answer of MLflow's page."""
    if (
        request.method != "GET"
        or not is_ui_page(request.endpoint, request.blueprint)
        or response.status_code != 200
        or response.mimetype != "text/html"
        or "Content-Encoding" in response.headers
    ):
        return response
    streamed = response.response
    response.direct_passthrough = False  # read the file MLflow streams, and close it now
    try:
        html = with_tag(response.get_data(), tag)
    finally:
        close = getattr(streamed, "close", None)
        if close is not None:
            close()
    if html is None:
        return response
    response.set_data(html)  # and its Content-Length
    etag, weak = response.get_etag()
    if etag:
        response.set_etag(tagged_etag(etag, tag), weak=bool(weak))
    response.make_conditional(request)
    return response


def install(app: Flask) -> None:
    tag = script_tag(static_prefix())
    app.after_request(lambda response: add_bar(response, tag))
