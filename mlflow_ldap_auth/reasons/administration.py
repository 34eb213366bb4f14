"""Reasons of the administration events: mappings, provisioning, adoption, renames."""

from __future__ import annotations

from mlflow_ldap_auth.reasons.registry import _event, _reason  # noqa: F401

API = _reason(
    "api",
    "mapping_created/success mapping_deleted/success break_glass_password_changed/success",
    "a change an admin made (REST API, admin pages, command line): `user` is the admin; "
    "`before`, `after` (the mapping)",
    {"break_glass_password_changed/success": "`user` is the break-glass admin"},
)
ADMIN_REQUEST = _reason(
    "admin_request",
    "user_provisioned/success",
    "an admin's request provisioned the user (`by` = the admin)",
)
EXISTING_MLFLOW_USER = _reason(
    "existing_mlflow_user", "user_adopted/success", "with `previous_admin`"
)
MAPPED_NAME = _reason(
    "mapped_name",
    "rename_refused/refused",
    "`user` asked; `name`, `new_name`, `mappings` (the ids of the mappings that hold them)",
)
