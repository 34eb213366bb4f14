"""The admin page's blueprint and look: where its templates and stylesheet are, the
headers every answer carries, the CSRF check on every POST, the refusal page.

Server-rendered (Jinja, autoescaped; flask-wtf forms), works without JavaScript.
Every link, form action and redirect is ``url_for``'s, so the pages follow the server's
``--static-prefix`` (the app factory registers the blueprints under it); the links back
to MLflow and the tracking URI shown for tokens add the same prefix.
Templates are ``templates/ldap_admin/*.html`` and the stylesheet ``static/``, at the top
of a source checkout or under ``<prefix>/share/mlflow-ldap-auth/`` in an installed
wheel. Only MLflow admins get in (``admin_guard`` runs first, answering 401 with a Basic
challenge or a 403 page). Every POST carries a CSRF token; GET never changes anything;
every response carries frame and content-security headers.

The pages themselves are in ``admin_mapping_pages``, ``admin_user_pages`` and
``admin_ui``, which puts them all on this blueprint.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from flask import Blueprint, Response, has_request_context, render_template, request
from flask_wtf.csrf import CSRFError, validate_csrf
from wtforms import ValidationError

from mlflow_ldap_auth.mlflow_compat import resource_types
from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE

URL_PREFIX = "/ldap-admin"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
        "connect-src 'self'; "
        "form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def asset_dir(name: str) -> Path:
    """``templates`` / ``static``: the source checkout's, else the installed wheel's."""
    candidates = [
        Path(__file__).resolve().parents[2] / name,
        Path(sysconfig.get_path("data")) / "share" / "mlflow-ldap-auth" / name,
        Path(sys.prefix) / "share" / "mlflow-ldap-auth" / name,
    ]
    for candidate in candidates:
        if (candidate / ("ldap_admin" if name == "templates" else "")).is_dir():
            return candidate
    raise RuntimeError(f"mlflow-ldap-auth: {name}/ not found in {[str(c) for c in candidates]}")


blueprint = Blueprint(
    "ldap_admin",
    __name__,
    url_prefix=URL_PREFIX,
    template_folder=str(asset_dir("templates")),
    static_folder=str(asset_dir("static")),
    static_url_path="/static",
)


@blueprint.app_context_processor
def mlflow_addresses() -> dict:
    """MLflow's home page and the tracking URI of this server, under its prefix.

    The tracking URI is the scheme and host this request reached the server by, as the
    server itself sees them: the ``Host`` the client sent, and the scheme after the
    server's own proxy settings (uvicorn and gunicorn take ``X-Forwarded-Proto`` from
    the addresses in ``--forwarded-allow-ips``, 127.0.0.1 by default). The plugin reads
    no ``X-Forwarded-*`` header itself.
    """
    prefix = static_prefix()
    return {
        "mlflow_home": prefix + "/",
        "tracking_uri": request.host_url.rstrip("/") + prefix if has_request_context() else None,
    }


@blueprint.app_context_processor
def workspace_default() -> dict:
    """The workspace a form or page means where it names none (MLflow's default)."""
    return {"default_workspace": DEFAULT_WORKSPACE}


def error_page(
    status: int,
    title: str,
    message: str,
    headers: dict | None = None,
    user: str | None = None,
) -> Response:
    """A refusal page in the admin page's look; ``user``: who the browser is logged in as."""
    body = render_template(
        "ldap_admin/error.html", title=title, message=message, status=status, user=user
    )
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(SECURITY_HEADERS)
    response.headers.update(headers or {})
    return response


@blueprint.app_template_filter("plural")
def plural(resource_type: str) -> str:
    """What a page calls all resources of a type: ``registered models``, ``skills``."""
    return resource_types.row(resource_type).plural


@blueprint.before_request
def check_csrf():
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError) as exc:
            return error_page(400, "Form expired or forged", f"The form was refused: {exc}")
    return None


@blueprint.after_request
def security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
