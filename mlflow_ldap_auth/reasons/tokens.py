"""Reasons of the token events, and of a token refused because of its owner's state."""

from __future__ import annotations

from mlflow_ldap_auth.reasons.registry import _EVICTED, _event, _reason  # noqa: F401

CREATED = _reason("created", "token_created/success", "with `token_id`, `name`, `expires`")
RATE_LIMITED = _reason(
    "rate_limited", "token_created/refused", "over 20 creations a minute or 200 a day"
)
ACTIVE_LIMIT = _reason("active_limit", "token_created/refused", "100 active tokens already")
REVOKED_BY_OWNER = _reason("revoked_by_owner", "token_revoked/success", "its owner revoked it")
REVOKED_BY_ADMIN = _reason("revoked_by_admin", "token_revoked/success", "an admin revoked it")
REVOKED_BY_OPERATOR = _reason(
    "revoked_by_operator",
    "token_revoked/success",
    "the operator revoked it (`python -m mlflow_ldap_auth tokens revoke`)",
)
MALFORMED_TOKEN = _reason(
    "malformed_token",
    "token_refused/refused",
    "not a well-formed secret (checked without a database look-up)",
)
UNKNOWN_TOKEN = _reason(
    "unknown_token",
    "token_refused/refused",
    "no such token (also one deleted 30 days after it ended)",
)
WRONG_OWNER = _reason("wrong_owner", "token_refused/refused", "sent with another user's name")
REVOKED = _reason("revoked", "token_refused/refused", "the token was revoked")
EXPIRED = _reason(
    "expired",
    "token_refused/refused user_revalidated/refused",
    "the token expired",
    {"user_revalidated/refused": "the entry is expired: " + _EVICTED},
)
#: A token of an owner whose row says a refusal is refused as this + the row's status.
OWNER_PREFIX = "owner_"
OWNER_GONE = _reason("owner_gone", "token_refused/refused", "the owner's entry is gone")
OWNER_DISABLED = _reason(
    "owner_disabled", "token_refused/refused", "the owner's last check found the entry disabled"
)
OWNER_LOCKED = _reason(
    "owner_locked", "token_refused/refused", "the owner's last check found the entry locked"
)
OWNER_EXPIRED = _reason(
    "owner_expired", "token_refused/refused", "the owner's last check found the entry expired"
)
OWNER_NOT_ALLOWED = _reason(
    "owner_not_allowed",
    "token_refused/refused",
    "the owner's last check found the entry outside `allowed_groups`",
)
OWNER_CHECK_FAILED = _reason(
    "owner_check_failed",
    "token_refused/refused",
    "the owner's entry cannot be read while the directory answers, for longer than "
    "`revalidate_interval_seconds`",
)
OWNER_LOCAL_ADMIN_NAME = _reason(
    "owner_local_admin_name", "token_refused/refused", "the owner's name is the break-glass admin's"
)
OUTAGE_GRACE_OVER = _reason(
    "outage_grace_over",
    "token_refused/unavailable",
    "the directory is down and the owner's last check is older than "
    "`token_outage_grace_seconds` (answered 503)",
)
REVALIDATION_UNAVAILABLE = _reason(
    "revalidation_unavailable",
    "token_refused/unavailable",
    "the directory is down and the owner was never checked (answered 503)",
)
