"""Reasons of ``user_revalidated`` lines: what a check of an active user found."""

from __future__ import annotations

from mlflow_ldap_auth.reasons.registry import _EVICTED, _event, _reason  # noqa: F401

GONE = _reason(
    "gone",
    "user_revalidated/refused",
    "the entry is gone: " + _EVICTED,
)
DISABLED = _reason(
    "disabled",
    "user_revalidated/refused",
    "the entry is disabled: " + _EVICTED,
)
LOCKED = _reason(
    "locked",
    "user_revalidated/refused",
    "the entry is locked: " + _EVICTED,
)
PASSWORD_CHANGED = _reason(
    "password_changed",
    "user_revalidated/success",
    "the password changed (AD `pwdLastSet`, ppolicy `pwdChangedTime`): cached passwords evicted",
)
GROUPS_CHANGED = _reason(
    "groups_changed", "user_revalidated/success", "the admin flag or the group roles changed"
)
USABLE_AGAIN = _reason(
    "usable_again",
    "user_revalidated/success",
    "an account that was refused is usable again (e.g. unlocked)",
)
CHECK_FAILED = _reason(
    "check_failed",
    "user_revalidated/error",
    "the check failed while the directory answers (logged once, when it first fails)",
)
