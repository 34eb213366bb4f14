"""Audit ``event`` values: what happened (a login, a token revoked, a mapping created, ...)."""

from __future__ import annotations

from mlflow_ldap_auth.reasons.registry import _event, _reason  # noqa: F401

LOGIN = _event(
    "login",
    "success refused unavailable",
    "a fresh credential check, and every refusal (cached successes are not repeated; a "
    "request without any credentials is no login)",
)
TOKEN_CREATED = _event(
    "token_created", "success refused", "a token was created, or a creation refused by a limit"
)
TOKEN_REVOKED = _event("token_revoked", "success", "a token was revoked")
TOKEN_REFUSED = _event(
    "token_refused", "refused unavailable", "a request with a token was not served"
)
USER_REVALIDATED = _event(
    "user_revalidated", "success refused error", "a re-check of an active user changed something"
)
USER_PROVISIONED = _event(
    "user_provisioned", "success refused", "an admin's request named a user who never logged in"
)
USER_ADOPTED = _event(
    "user_adopted",
    "success",
    "a directory user logged in over a row the plugin did not make (a basic-auth account)",
)
MAPPING_CREATED = _event(
    "mapping_created", "success", "an admin created a group mapping (with `after`)"
)
MAPPING_DELETED = _event(
    "mapping_deleted", "success", "an admin deleted a group mapping (with `before`)"
)
BREAK_GLASS_PASSWORD_CHANGED = _event(
    "break_glass_password_changed", "success", "the break-glass admin changed its password"
)
RENAME_REFUSED = _event(
    "rename_refused",
    "refused",
    "a rename of a model or prompt that group mappings name was refused "
    "([Renaming](../group-mappings.md#renaming-a-model-or-prompt-that-mappings-name)); "
    "the activity page's event filter offers it",
)
