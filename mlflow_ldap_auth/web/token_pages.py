"""``/ldap-admin/tokens``: every logged-in directory user's own access tokens and sign-in
sessions (docs/tokens.md, docs/tokens.md#sessions).

Create (the secret is shown once, on the answer to the POST, with a copy button and
the two ways to use it; the page is ``no-store``), list, revoke behind a confirmation.
Admins see and revoke everyone's tokens (``?user=NAME`` narrows the list). The list
comes in pages of ``PAGE_SIZE``, newest first (``?page_token=`` from the "Older »"
link), so everyone's tokens never make one huge page. Same look, headers and CSRF
protection (flask-wtf forms) as the admin page; works without JavaScript (the copy
button is an extra).

Below the tokens, the live sessions of the same person (admins: of ``?user=NAME``, or
everyone's), paged the same way (``?sessions_page_token=``): signed in, last seen, from
where, the session this browser is signed in with marked (its cookie's secret looked up
by hash, never shown). "End" is a POST form on each row; "End all…" (or "End all other
sessions…", keeping this browser's) goes through a confirmation.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from mlflow_ldap_auth.auth.login import DIRECTORY_USER_METHODS
from mlflow_ldap_auth.errors import DomainError, NotFound
from mlflow_ldap_auth.plugin import current_plugin
from mlflow_ldap_auth.tokens.secret_format import PREFIX
from mlflow_ldap_auth.tokens.service import CreationRateExceeded
from mlflow_ldap_auth.web.admin_ui import SECURITY_HEADERS, URL_PREFIX, error_page
from mlflow_ldap_auth.web.authn import current_principal
from mlflow_ldap_auth.web.credentials import SESSION_COOKIE
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
        sessions = _sessions(principal, is_admin, shown_user)
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
        can_create=principal.method in DIRECTORY_USER_METHODS,
        max_days=service.max_days,
        prefix=PREFIX,
        revoke_form=ConfirmForm(),
        now=time.time(),
        **sessions,
    )
    return page, status, headers or {}


def _sessions(principal, is_admin: bool, shown_user: str | None) -> dict:
    """What the sessions section shows: one page of them, whose they are, this browser's."""
    service = current_plugin().session_service
    page_token = request.args.get("sessions_page_token", "").strip() or None
    records, next_page_token = service.page(
        principal,
        user=shown_user if is_admin else None,
        everyone=is_admin and shown_user is None,
        page_token=page_token,
        max_results=PAGE_SIZE,
    )
    # Whose sessions "End all" ends: the one person the list shows (none: everyone's).
    if not is_admin or shown_user is None:
        owner = None if is_admin else principal.username
    else:
        owner = shown_user
    return {
        "sessions": records,
        "sessions_next_page_token": next_page_token,
        "sessions_paged": page_token is not None,
        "sessions_owner": owner,
        "current_session": service.current_id(request.cookies.get(SESSION_COOKIE)),
        "end_form": ConfirmForm(),
    }


def _back_to_list():
    """The list again, showing the person it showed (an admin's ``?user=``)."""
    return redirect(url_for(".tokens_page", user=request.args.get("user") or None))


@blueprint.post("/sessions/<session_id>/end")
def end_session(session_id: str):
    principal = current_principal()
    if not ConfirmForm().validate():
        return error_page(400, "Form expired or forged", "The form was refused; try again.")
    try:
        record = current_plugin().session_service.end(principal, session_id, request.remote_addr)
    except NotFound:
        return error_page(404, "No such session", f"There is no session {session_id}.")
    signed_in = record.to_json()["created"]
    flash(f"Ended the session of {record.owner} signed in at {signed_in}.", "success")
    return _back_to_list()


@blueprint.route("/sessions/end-all", methods=["GET", "POST"])
def end_all_sessions():
    principal = current_principal()
    service = current_plugin().session_service
    owner = request.args.get("user", "").strip() or principal.username
    keep = None
    if request.args.get("others"):
        keep = service.current_id(request.cookies.get(SESSION_COOKIE))
    form = ConfirmForm()
    try:
        live = service.list(principal, user=owner)
        if request.method == "POST":
            if not form.validate():
                return error_page(400, "Form expired or forged", "The form was refused; try again.")
            ended = service.end_all(principal, owner, request.remote_addr, keep=keep)
            flash(f"Ended {len(ended)} session(s) of {owner}.", "success")
            return _back_to_list()
    except DomainError as exc:
        return error_page(exc.http_status, "Not yours to end", exc.message)
    return render_template(
        "ldap_admin/confirm_end_sessions.html",
        form=form,
        owner=owner,
        sessions=[record for record in live if record.id != keep],
        keep=keep,
        user=principal.username,
        is_admin=_is_admin(principal.username),
    )


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
