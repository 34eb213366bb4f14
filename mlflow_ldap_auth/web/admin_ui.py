"""The admin page at ``/ldap-admin``: mappings, add/delete, test a user, status.

Server-rendered (Jinja, autoescaped; flask-wtf forms), works without JavaScript.
Every link, form action and redirect is ``url_for``'s, so the pages follow the server's
``--static-prefix`` (the app factory registers the blueprints under it); the links back
to MLflow and the tracking URI shown for tokens add the same prefix.
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
    has_request_context,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError, validate_csrf
from mlflow.exceptions import MlflowException
from mlflow.server.handlers import catch_mlflow_exception
from wtforms import ValidationError

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE
from mlflow_ldap_auth.errors import AuthError
from mlflow_ldap_auth.mlflow_compat import resource_types, rules
from mlflow_ldap_auth.mlflow_compat.server_process import static_prefix
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE
from mlflow_ldap_auth.plugin import Plugin, current_plugin
from mlflow_ldap_auth.web.forms import (
    ACCESS_TYPE_CHOICES,
    SEARCH_CHOICES,
    ConfirmForm,
    MappingForm,
    form_rules,
)
from mlflow_ldap_auth.web.rest_api import actor, explain_user, status_report

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


def _service() -> Plugin:
    return current_plugin()


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
    mappings = service.mappings.list()
    return render_template(
        "ldap_admin/mappings.html",
        groups=_grouped(mappings),
        labels=_labels(
            service, ((m.resource_type, m.resource_pattern, m.workspace) for m in mappings)
        ),
        wildcard_only={m.resource_type: _wildcard_only(m.resource_type) for m in mappings},
    )


def _labels(service: Plugin, keys) -> dict:
    """(type, pattern, workspace) -> the resource's name, for listings (one batched read)."""
    keys = [key for key in keys if key[0] != ADMIN_RESOURCE_TYPE]
    return service.access.names.labels(keys) if keys else {}


def _wildcard_only(resource_type: str) -> bool:
    """Whether a mapping of this type names no single resource (no "who has access")."""
    row = resource_types.available().get(resource_type)
    return row is None or not row.per_resource


def _mapping_error(form: MappingForm, exc: MlflowException) -> None:
    """Show MLflow's refusal of a mapping next to the field it is about."""
    field = {
        "RESOURCE_DOES_NOT_EXIST": form.group,
        "RESOURCE_ALREADY_EXISTS": form.resource_pattern,
    }.get(exc.error_code)
    if field is None and "resource_pattern" in exc.message:
        field = form.resource_pattern  # e.g. an experiment pattern that is no id
    if field is None:
        field = form.workspace if "workspace" in exc.message else form.group
    field.errors = [*field.errors, exc.message]


def _grant_text(mapping) -> str:
    if mapping.resource_type == ADMIN_RESOURCE_TYPE:
        return "MLflow admin"
    return f"{mapping.permission} on {mapping.resource_type} {mapping.resource_pattern}"


def _resolved_pattern(service: Plugin, form: MappingForm) -> None:
    """The pattern in MLflow's spelling (a skill's key), and a resource typed by name
    where grants name it by id (an experiment, a gateway object) turned into its id; a
    key of the wrong shape, or a name that names nothing, is refused next to the
    pattern. Names of types keyed by name are kept as typed: MLflow lets a grant name a
    model or skill before it is created."""
    pattern = (form.resource_pattern.data or "").strip()
    resource_type = form.resource_type.data
    if pattern == "*" or resource_type == ADMIN_RESOURCE_TYPE:
        return
    row = resource_types.row(resource_type)
    names = service.access.names
    try:
        pattern = names.normalise(resource_type, pattern)
        if row.keyed_by == resource_types.BY_ID and row.find is not None:
            if row.id_shape is None or not row.id_shape.fullmatch(pattern):
                workspace = (form.workspace.data or "").strip() or DEFAULT_WORKSPACE
                pattern = names.resolve(resource_type, pattern, workspace)
    except MlflowException as exc:
        raise PatternRefused(exc.message) from None
    form.resource_pattern.data = pattern


class PatternRefused(Exception):
    """What the admin typed as the pattern names no resource."""


@blueprint.route("/mappings/new", methods=["GET", "POST"])
def add_mapping():
    """Find the group, say what its members get, see who gains what, then save."""
    service = _service()
    form = MappingForm()
    query = request.args.get("q", "").strip()
    found, search_error = [], None
    if query:
        try:
            found = service.directory.search_groups(query)
        except AuthError as exc:
            search_error = f"Directory search failed: {exc.reason}"
    resource_query = request.args.get("rq", "").strip()
    resources, resource_error = [], None
    if resource_query:
        try:
            resources = service.access.names.search(
                request.args.get("rtype", "experiment"),
                resource_query,
                workspace=request.args.get("workspace", "").strip() or DEFAULT_WORKSPACE,
            )
        except MlflowException as exc:
            resource_error = exc.message
    if request.method == "GET":
        for name in ("group", "resource_type", "resource_pattern", "workspace"):
            if request.args.get(name):
                getattr(form, name).data = request.args[name]
    confirmed = request.form.get("confirm") == "yes"
    editing = request.form.get("edit") is not None
    if request.method == "POST" and not editing and form.validate():
        try:
            _resolved_pattern(service, form)
            existing = service.mappings.list()
            draft = service.mappings.draft(
                group=form.group.data,
                resource_type=form.resource_type.data,
                permission=form.permission.data,
                resource_pattern=form.resource_pattern.data,
                workspace=form.workspace.data or DEFAULT_WORKSPACE,
                existing=existing,
            )
            if not confirmed:
                previews = service.access.preview(existing, [*existing, draft], [draft])
                return render_template(
                    "ldap_admin/mapping_preview.html",
                    form=form,
                    mapping=draft,
                    previews=previews,
                    label=_label_of(service, draft),
                    action="add",
                )
            mapping = service.mappings.save(draft, actor=actor())
        except PatternRefused as exc:
            form.resource_pattern.errors = [*form.resource_pattern.errors, str(exc)]
        except MlflowException as exc:
            _mapping_error(form, exc)
        except AuthError as exc:
            form.group.errors = [*form.group.errors, f"Directory unavailable: {exc.reason}"]
        else:
            flash(f"Added: members of {mapping.group} get {_grant_text(mapping)}.", "success")
            return redirect(url_for(".mappings_page"))
    status = 400 if request.method == "POST" and not editing else 200
    page = render_template(
        "ldap_admin/mapping_form.html",
        form=form,
        query=query,
        found=found,
        search_error=search_error,
        resource_query=resource_query,
        resource_type_searched=request.args.get("rtype", "experiment"),
        search_choices=SEARCH_CHOICES,
        resources=resources,
        resource_error=resource_error,
        workspaces=rules.workspaces_enabled(),
        rules=form_rules(),
    )
    return page, status


@blueprint.get("/resources.json")
@catch_mlflow_exception
def search_resources():
    """The add form's live search (its script); the same search as the no-script form."""
    found = _service().access.names.search(
        request.args.get("rtype", "experiment"),
        request.args.get("rq", "").strip(),
        workspace=request.args.get("workspace", "").strip() or DEFAULT_WORKSPACE,
    )
    return jsonify(
        {
            "resources": [
                {"resource_type": r.resource_type, "pattern": r.pattern, "name": r.name}
                for r in found
            ]
        }
    )


@blueprint.route("/mappings/<mapping_id>/delete", methods=["GET", "POST"])
def delete_mapping(mapping_id: str):
    """Who loses what if this mapping goes, then delete it on confirmation."""
    service = _service()
    existing = service.mappings.list()
    mapping = next((m for m in existing if m.id == mapping_id), None)
    if mapping is None:
        return error_page(404, "No such mapping", f"There is no mapping {mapping_id}.")
    form = ConfirmForm()
    if request.method == "POST":
        service.mappings.delete(mapping_id, actor=actor())
        flash(f"Deleted the mapping of {mapping.group}.", "success")
        return redirect(url_for(".mappings_page"))
    previews, preview_error = [], None
    try:
        remaining = [m for m in existing if m.id != mapping_id]
        previews = service.access.preview(existing, remaining, [mapping])
    except AuthError as exc:
        preview_error = (
            f"The directory is unavailable, so who loses what is not known: {exc.reason}"
        )
    return render_template(
        "ldap_admin/confirm_delete.html",
        mapping=mapping,
        form=form,
        previews=previews,
        preview_error=preview_error,
        label=_label_of(service, mapping),
    )


def _label_of(service: Plugin, mapping):
    if mapping.resource_type == ADMIN_RESOURCE_TYPE:
        return None
    return service.access.names.label(
        mapping.resource_type, mapping.resource_pattern, mapping.workspace
    )


def nesting_paths(explained: dict) -> dict[str, list[str]]:
    """For each nested group: the chain of groups through which the user is in it."""
    child_of: dict[str, str] = {}
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
    granted = explained["permissions"] if explained else []
    labels = _labels(
        _service(), ((p["resource_type"], p["resource_pattern"], p["workspace"]) for p in granted)
    )
    return render_template(
        "ldap_admin/user.html",
        username=username,
        user=explained,
        error=error,
        paths=paths,
        labels=labels,
    )


@blueprint.get("/access")
def access_page():
    """Who has access to one resource, and why (the same answer as the REST API)."""
    resource_type = request.args.get("resource_type", "experiment").strip() or "experiment"
    resource = request.args.get("resource", "").strip()
    workspace = request.args.get("workspace", "").strip() or None
    answer, error, status = None, None, 200
    if resource:
        try:
            answer = _service().access.answer(resource_type, resource, workspace)
        except MlflowException as exc:
            error, status = exc.message, exc.get_http_status_code()
        except AuthError as exc:
            error, status = f"The directory is unavailable: {exc.reason}", 503
    page = render_template(
        "ldap_admin/access.html",
        resource_type=resource_type,
        resource=resource,
        types=ACCESS_TYPE_CHOICES,
        workspace=workspace,
        workspaces=rules.workspaces_enabled(),
        answer=answer,
        error=error,
    )
    return page, status


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
