"""The admin page at ``/ldap-admin``: mappings, add/delete, test a user, who has access,
status.

This module is the whole page: the blueprint and its look (``admin_base``) with every
page on it, by concern: the mappings (``admin_mapping_pages``), the questions about
people (``admin_user_pages``), and this worker's status here. The app factory registers
``blueprint``; the token and activity pages take the look from here too.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for

from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.web import admin_mapping_pages, admin_user_pages
from mlflow_ldap_auth.web.admin_base import SECURITY_HEADERS, URL_PREFIX, blueprint, error_page
from mlflow_ldap_auth.web.admin_reports import status_report
from mlflow_ldap_auth.web.forms import ConfirmForm

__all__ = [
    "SECURITY_HEADERS",
    "URL_PREFIX",
    "admin_mapping_pages",
    "admin_user_pages",
    "blueprint",
    "error_page",
]


@blueprint.get("/status")
def status_page():
    return render_template(
        "ldap_admin/status.html", status=status_report(current_plugin()), form=ConfirmForm()
    )


@blueprint.post("/cache/flush")
def flush_cache():
    current_plugin().flush_caches()
    flash("This worker's caches were emptied.", "success")
    return redirect(url_for(".status_page"))
