"""``/ldap-admin/tokens``: every logged-in directory user's own access tokens (docs/tokens.md).

Create (the secret is shown once, on the answer to the POST, with a copy button and
the two ways to use it; the page is ``no-store``), list, revoke behind a confirmation.
Admins see and revoke everyone's tokens (``?user=NAME`` narrows the list). The list
comes in pages of ``PAGE_SIZE``, newest first (``?page_token=`` from the "Older »"
link), so everyone's tokens never make one huge page. Same look, headers and CSRF
protection (flask-wtf forms) as the admin page; works without JavaScript (the copy
button is an extra).
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from mlflow_ldap_auth.errors import DomainError
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.tokens.secret_format import PREFIX
from mlflow_ldap_auth.tokens.service import CreationRateExceeded
from mlflow_ldap_auth.web.admin_ui import SECURITY_HEADERS, URL_PREFIX, error_page
from mlflow_ldap_auth.web.authn import current_principal
from mlflow_ldap_auth.web.forms import ConfirmForm, TokenForm

blueprint = Blueprint("ldap_tokens", __name__, url_prefix=URL_PREFIX + "/tokens")
PAGE_SIZE = 50


@blueprint.after_request
def security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def _is_admin(username: str) -> bool:
    return current_plugin().store.get_user(username).is_admin


def _listing(principal, form: TokenForm, status: int = 200, headers=None):
    service = current_plugin().token_service
    is_admin = _is_admin(principal.username)
    shown_user = request.args.get("user", "").strip() or None
    page_token = request.args.get("page_token", "").strip() or None
    try:
        records, next_page_token = service.page(
            principal,
            user=shown_user if is_admin else None,
            everyone=is_admin and shown_user is None,
            page_token=page_token,
            max_results=PAGE_SIZE,
        )
    except DomainError as exc:
        return error_page(400, "No such page", exc.message)
    page = render_template(
        "ldap_admin/tokens.html",
        form=form,
        tokens=records,
        next_page_token=next_page_token,
        paged=page_token is not None,
        user=principal.username,
        is_admin=is_admin,
        shown_user=shown_user,
        can_create=principal.method == "password",
        max_days=service.max_days,
        prefix=PREFIX,
        revoke_form=ConfirmForm(),
        now=time.time(),
    )
    return page, status, headers or {}


@blueprint.get("/")
def tokens_page():
    principal = current_principal()
    max_days = current_plugin().token_service.max_days
    form = TokenForm(max_days)
    # The form's default (90 days) must not exceed a shorter token_max_days.
    form.expires_in_days.data = min(form.expires_in_days.data, max_days)
    return _listing(principal, form)


@blueprint.post("/")
def create_token():
    principal = current_principal()
    service = current_plugin().token_service
    form = TokenForm(service.max_days)
    if not form.validate():
        return _listing(principal, form, 400)
    try:
        record, secret = service.create(
            principal, form.name.data, form.expires_in_days.data, request.remote_addr
        )
    except CreationRateExceeded as exc:
        form.name.errors = [*form.name.errors, exc.message]
        return _listing(principal, form, 429, {"Retry-After": str(exc.retry_after)})
    except DomainError as exc:
        form.name.errors = [*form.name.errors, exc.message]
        return _listing(principal, form, 400)
    return render_template(
        "ldap_admin/token_created.html",
        token=record,
        secret=secret,
        user=principal.username,
        is_admin=_is_admin(principal.username),
    )


@blueprint.route("/<token_id>/revoke", methods=["GET", "POST"])
def revoke_token(token_id: str):
    principal = current_principal()
    record = current_plugin().token_service.visible(principal, token_id)
    if record is None:
        return error_page(404, "No such token", f"There is no token {token_id}.")
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate():
            return error_page(400, "Form expired or forged", "The form was refused; try again.")
        current_plugin().token_service.revoke(principal, token_id, request.remote_addr)
        flash(f"Revoked the token {record.name!r} of {record.owner}.", "success")
        return redirect(url_for(".tokens_page"))
    return render_template(
        "ldap_admin/confirm_revoke.html",
        token=record,
        form=form,
        user=principal.username,
        is_admin=_is_admin(principal.username),
        now=time.time(),
    )
