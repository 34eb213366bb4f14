"""``/ldap-admin/activity``: the activity table in the admin page's look.

What it shows and promises: docs/operations.md#activity.

The records of ``GET /api/2.0/mlflow/ldap-auth/activity`` (the same ``ActivityStore``
search, the same page size), newest first: a GET filter form (user, event, result,
reason, since, until), one table row per record (time, event, user, result, reason,
source, details), "Older" / "Newest" links that keep the filters. Read-only (no form
posts anything), no JavaScript, every value autoescaped by Jinja; admins only
(``admin_guard``: the path is under ``/ldap-admin``).
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template, request, url_for

from mlflow_ldap_auth.errors import DomainError
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web.admin_ui import SECURITY_HEADERS, URL_PREFIX

blueprint = Blueprint("ldap_activity", __name__, url_prefix=URL_PREFIX + "/activity")

#: The filters of the form, in its order (``page_token`` travels in the links).
FORM_FILTERS = ("user", "event", "result", "reason", "since", "until")
RESULTS = ("success", "refused", "unavailable")
#: The events ``audit()`` is called with (the event select; the REST filter takes any).
EVENTS = (
    "login",
    "token_refused",
    "token_created",
    "token_revoked",
    "mapping_created",
    "mapping_deleted",
    "rename_refused",
    "user_provisioned",
    "user_adopted",
    "user_revalidated",
    "break_glass_password_changed",
)
#: Details not worth a column of their own on the page (still in the REST answer).
_HIDDEN_DETAILS = {"worker"}
_MAX_VALUE_CHARS = 160


@blueprint.after_request
def security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _mapping(value: dict) -> str:
    """A mapping (``before`` / ``after``) as a sentence: ``data-science: EDIT on experiment *``."""
    group = value.get("group_name") or value.get("group") or "?"
    if value.get("resource_type") == "admin":
        return f"{group}: MLflow admin"
    text = f"{group}: {value.get('permission')} on {value['resource_type']}"
    text += f" {value.get('resource_pattern', '*')}"
    workspace = value.get("workspace")
    return text + (
        f" in workspace {workspace}" if workspace and workspace != DEFAULT_WORKSPACE else ""
    )


def _shown(value) -> str:
    if isinstance(value, dict) and {"resource_type", "permission"} <= value.keys():
        text = _mapping(value)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(", ", ": "), default=str)
    elif value is None:
        text = "none"
    elif value is True or value is False:
        text = "yes" if value else "no"
    else:
        text = str(value)
    return text if len(text) <= _MAX_VALUE_CHARS else text[: _MAX_VALUE_CHARS - 1] + "…"


def _row(record: dict) -> dict:
    ts = record["ts"]  # 2026-12-03T09:02:11.123Z
    details = [
        (name, _shown(value))
        for name, value in record["details"].items()
        if name not in _HIDDEN_DETAILS
    ]
    return {
        **record,
        "day": ts[:10],
        "time": ts[11:19],
        "event_label": record["event"].replace("_", " "),
        "shown_details": details,
    }


def _link(filters: dict, **extra) -> str:
    given = {name: value for name, value in filters.items() if value}
    given.update({name: value for name, value in extra.items() if value})
    return url_for(".activity_page", **given)


@blueprint.get("")
def activity_page():
    filters = {name: request.args.get(name, "").strip() for name in FORM_FILTERS}
    token = request.args.get("page_token", "").strip()
    recorded = current_plugin().activity
    answer, error, status = None, None, 200
    if recorded is not None:
        try:
            answer = recorded.store.search(**filters, page_token=token or None)
        except DomainError as exc:
            error, status = exc.message, 400
    rows = [_row(record) for record in answer["records"]] if answer else []
    next_token = answer["next_page_token"] if answer else None
    page = render_template(
        "ldap_admin/activity.html",
        enabled=recorded is not None,
        retention_days=current_plugin().settings.ldap.audit_retention_days,
        filters=filters,
        filtered=any(filters.values()),
        paged=bool(token),
        rows=rows,
        error=error,
        results=RESULTS,
        events=EVENTS,
        older_url=_link(filters, page_token=next_token) if next_token else None,
        newest_url=_link(filters) if token else None,
        user_url=lambda user: _link({**filters, "user": user}),
        reason_url=lambda reason: _link({**filters, "reason": reason}),
        clear_url=url_for(".activity_page"),
    )
    return page, status
