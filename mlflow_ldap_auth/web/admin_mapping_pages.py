"""The admin page's mappings: the list, adding one (find the group and the resource, see
who gains what, then save) and deleting one (see who loses what, then delete).

What the pages promise: docs/admin-page.md.
"""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from mlflow.exceptions import MlflowException
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE
from mlflow_ldap_auth.errors import AuthError, DomainError
from mlflow_ldap_auth.mlflow_compat import resource_types, rules
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE
from mlflow_ldap_auth.plugin import Plugin, current_plugin
from mlflow_ldap_auth.web.admin_base import blueprint, error_page
from mlflow_ldap_auth.web.admin_reports import actor, resource_labels
from mlflow_ldap_auth.web.forms import ConfirmForm, MappingForm, form_rules, search_choices


def _service() -> Plugin:
    return current_plugin()


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
        labels=resource_labels(
            service, ((m.resource_type, m.resource_pattern, m.workspace) for m in mappings)
        ),
        wildcard_only={m.resource_type: _wildcard_only(m.resource_type) for m in mappings},
    )


def _wildcard_only(resource_type: str) -> bool:
    """Whether a mapping of this type names no single resource (no "who has access")."""
    row = resource_types.available().get(resource_type)
    return row is None or not row.per_resource


def _mapping_error(form: MappingForm, exc: DomainError | MlflowException) -> None:
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
    names = service.names
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
            resources = service.names.search(
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
        except (DomainError, MlflowException) as exc:
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
        search_choices=search_choices(),
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
    found = _service().names.search(
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
    return service.names.label(mapping.resource_type, mapping.resource_pattern, mapping.workspace)
