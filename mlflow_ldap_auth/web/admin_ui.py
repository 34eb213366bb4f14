"""The admin page at ``/ldap-admin``: mappings, add/delete, test a user, status.

Server-rendered (Jinja, autoescaped; flask-wtf forms), works without JavaScript.
Templates are ``templates/ldap_admin/*.html`` and the stylesheet ``static/``, at the top
of a source checkout or under ``<prefix>/share/mlflow-ldap-auth/`` in an installed
wheel. Only MLflow admins get in (``rest_api.require_admin`` runs first, answering 401
with a Basic challenge or a 403 page). Every POST carries a CSRF token; GET never
changes anything; every response carries frame and content-security headers.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError, validate_csrf
from mlflow.exceptions import MlflowException
from wtforms import ValidationError

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE
from mlflow_ldap_auth.errors import AuthError
from mlflow_ldap_auth.plugin import Plugin, current_plugin
from mlflow_ldap_auth.web.forms import ConfirmForm, MappingForm, form_rules
from mlflow_ldap_auth.web.rest_api import actor, explain_user, status_report

URL_PREFIX = "/ldap-admin"
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; "
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


def _service() -> Plugin:
    return current_plugin()


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


def _grouped(mappings) -> list[dict]:
    groups: dict[str, dict] = {}
    for mapping in mappings:
        entry = groups.setdefault(
            mapping.group_uuid,
            {
                "dn": mapping.group,
                "name": mapping.group_name,
                "uuid": mapping.group_uuid,
                "mappings": [],
            },
        )
        entry["mappings"].append(mapping)
    return sorted(groups.values(), key=lambda g: (g["name"] or g["dn"]).lower())


@blueprint.get("/")
def mappings_page():
    service = _service()
    try:
        service.mappings.refresh_group_dns()
    except AuthError:
        flash("The directory is unavailable: group names may be out of date.", "warning")
    return render_template("ldap_admin/mappings.html", groups=_grouped(service.mappings.list()))


@blueprint.route("/mappings/new", methods=["GET", "POST"])
def add_mapping():
    service = _service()
    form = MappingForm()
    query = request.args.get("q", "").strip()
    found, search_error = [], None
    if query:
        try:
            found = service.directory.search_groups(query)
        except AuthError as exc:
            search_error = f"Directory search failed: {exc.reason}"
    if request.method == "GET" and request.args.get("group"):
        form.group.data = request.args["group"]
    if request.method == "POST" and form.validate():
        try:
            mapping = service.mappings.create(
                group=form.group.data,
                resource_type=form.resource_type.data,
                permission=form.permission.data,
                resource_pattern=form.resource_pattern.data,
                workspace=form.workspace.data or "default",
                actor=actor(),
            )
        except MlflowException as exc:
            field = {
                "RESOURCE_DOES_NOT_EXIST": form.group,
                "RESOURCE_ALREADY_EXISTS": form.resource_pattern,
            }.get(exc.error_code)
            if field is None:
                field = form.workspace if "workspace" in exc.message else form.group
            field.errors = [*field.errors, exc.message]
        except AuthError as exc:
            form.group.errors = [*form.group.errors, f"Directory unavailable: {exc.reason}"]
        else:
            what = (
                "MLflow admin"
                if mapping.resource_type == ADMIN_RESOURCE_TYPE
                else f"{mapping.permission} on {mapping.resource_type} {mapping.resource_pattern}"
            )
            flash(f"Added: members of {mapping.group} get {what}.", "success")
            return redirect(url_for(".mappings_page"))
    status = 400 if request.method == "POST" else 200
    page = render_template(
        "ldap_admin/mapping_form.html",
        form=form,
        query=query,
        found=found,
        search_error=search_error,
        rules=form_rules(),
    )
    return page, status


@blueprint.route("/mappings/<mapping_id>/delete", methods=["GET", "POST"])
def delete_mapping(mapping_id: str):
    service = _service()
    mapping = next((m for m in service.mappings.list() if m.id == mapping_id), None)
    if mapping is None:
        return error_page(404, "No such mapping", f"There is no mapping {mapping_id}.")
    form = ConfirmForm()
    if request.method == "POST":
        service.mappings.delete(mapping_id, actor=actor())
        flash(f"Deleted the mapping of {mapping.group}.", "success")
        return redirect(url_for(".mappings_page"))
    return render_template("ldap_admin/confirm_delete.html", mapping=mapping, form=form)


def nesting_paths(explained: dict) -> dict[str, list[str]]:
    """For each nested group: the chain of groups through which the user is in it."""
    child_of = {}
    for edge in explained["nesting"]:
        child_of.setdefault(edge["group"], edge["via"])
    direct = set(explained["groups"]["direct"])
    paths = {}
    for group in explained["groups"]["nested"]:
        chain, current, seen = [group], group, {group}
        while current not in direct and current in child_of and child_of[current] not in seen:
            current = child_of[current]
            chain.append(current)
            seen.add(current)
        paths[group] = chain
    return paths


@blueprint.get("/users")
def test_user():
    username = request.args.get("username", "").strip()
    explained, error = None, None
    if username:
        try:
            explained = explain_user(_service(), username)
        except MlflowException as exc:
            error = (
                f"No user {username!r} in the directory."
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST"
                else exc.message
            )
    paths = nesting_paths(explained) if explained else {}
    return render_template(
        "ldap_admin/user.html", username=username, user=explained, error=error, paths=paths
    )


@blueprint.get("/status")
def status_page():
    return render_template(
        "ldap_admin/status.html", status=status_report(_service()), form=ConfirmForm()
    )


@blueprint.post("/cache/flush")
def flush_cache():
    _service().flush_caches()
    flash("This worker's caches were emptied.", "success")
    return redirect(url_for(".status_page"))
