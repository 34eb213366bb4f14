"""The admin page's questions about people: what the directory and the mappings say about
one user (test a user), and who has access to one resource and why.

Both give the REST API's answer (``admin_reports``, ``WhoHasAccess.answer``) as a page.
"""

from __future__ import annotations

from flask import render_template, request
from mlflow.exceptions import MlflowException

from mlflow_ldap_auth.errors import AuthError, DomainError
from mlflow_ldap_auth.mlflow_compat import rules
from mlflow_ldap_auth.plugin import Plugin, current_plugin
from mlflow_ldap_auth.web.admin_base import blueprint
from mlflow_ldap_auth.web.admin_reports import explain_user, resource_labels
from mlflow_ldap_auth.web.forms import access_type_choices


def _service() -> Plugin:
    return current_plugin()


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
        except (DomainError, MlflowException) as exc:
            error = (
                f"No user {username!r} in the directory."
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST"
                else exc.message
            )
    paths = nesting_paths(explained) if explained else {}
    granted = explained["permissions"] if explained else []
    labels = resource_labels(
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
        except DomainError as exc:
            error, status = exc.message, exc.http_status
        except MlflowException as exc:
            error, status = exc.message, exc.get_http_status_code()
        except AuthError as exc:
            error, status = f"The directory is unavailable: {exc.reason}", 503
    page = render_template(
        "ldap_admin/access.html",
        resource_type=resource_type,
        resource=resource,
        types=access_type_choices(),
        workspace=workspace,
        workspaces=rules.workspaces_enabled(),
        answer=answer,
        error=error,
    )
    return page, status
