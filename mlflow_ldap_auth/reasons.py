"""Every audit ``event`` and ``reason`` value, once, with its one-line meaning.

A reason is a label of the login metric (``metrics.py``) and a filter of the activity
table, and the Audit events page (``docs/reference/audit.md``) documents each: so the
values are named here and nowhere else. Code emits ``reasons.BAD_PASSWORD``, not
``"bad_password"``; the values are plain strings, so audit lines and metric labels are
the same words as ever. ``reasons_docs`` writes the page's tables from ``EVENTS`` and
``REASONS``; ``tests/unit/test_reasons.py`` fails when the page drifts or when code
writes a reason as a literal.

Reasons built from another value (``owner_`` + a revalidation status, ``ad_code_`` +
an unknown Active Directory sub-code) are listed here as the values they can take
(``OWNER_GONE``, ... for ``OWNER_PREFIX``) or as their prefix (``AD_CODE_PREFIX``).

This module imports nothing of the package: every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """An audit ``event``: the results it has, and when it is written."""

    name: str
    results: tuple[str, ...]
    meaning: str


@dataclass(frozen=True)
class Reason:
    """An audit ``reason``: where it appears (``event/result`` pairs) and what it means.

    ``meaning`` is its one line; ``elsewhere`` says what it means under another
    ``event/result`` where that differs."""

    value: str
    uses: tuple[str, ...]
    meaning: str
    elsewhere: tuple[tuple[str, str], ...] = ()

    def meaning_in(self, use: str) -> str:
        return dict(self.elsewhere).get(use, self.meaning)


EVENTS: dict[str, Event] = {}
REASONS: dict[str, Reason] = {}


def _event(name: str, results: str, meaning: str) -> str:
    EVENTS[name] = Event(name, tuple(results.split()), meaning)
    return name


def _reason(value: str, uses: str, meaning: str, elsewhere: dict[str, str] | None = None) -> str:
    REASONS[value] = Reason(value, tuple(uses.split()), meaning, tuple((elsewhere or {}).items()))
    return value


# -- events ------------------------------------------------------------------------------

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

_EVICTED = "tokens answer 401, cached passwords are evicted"

# -- logins ------------------------------------------------------------------------------

DIRECTORY_BIND = _reason(
    "directory_bind", "login/success", "the directory accepted the password (a fresh bind)"
)
LOCAL_ADMIN = _reason(
    "local_admin", "login/success", "the break-glass admin, checked against MLflow's user store"
)
BAD_PASSWORD = _reason(
    "bad_password", "login/refused", "the directory refused the bind (also AD's `52e`)"
)
UNKNOWN_USER = _reason(
    "unknown_user",
    "login/refused",
    "no entry matches the name (costs what a wrong password costs; the client cannot tell)",
)
AMBIGUOUS_USER = _reason(
    "ambiguous_user", "login/refused", "the user search found more than one entry"
)
NO_USERNAME_ATTRIBUTE = _reason(
    "no_username_attribute", "login/refused", "the entry has no `username_attribute`"
)
# Active Directory's sub-codes of a refused bind (``ldap.binding.AD_BIND_REASONS``).
_AD = (
    "Active Directory's sub-code {} of the refused bind "
    "([Refused binds](../active-directory.md#refused-binds))"
)
USER_NOT_FOUND = _reason("user_not_found", "login/refused", _AD.format("`525`"))
LOGON_HOURS = _reason("logon_hours", "login/refused", _AD.format("`530`"))
WORKSTATION_RESTRICTED = _reason("workstation_restricted", "login/refused", _AD.format("`531`"))
PASSWORD_EXPIRED = _reason("password_expired", "login/refused", _AD.format("`532`"))
ACCOUNT_DISABLED = _reason("account_disabled", "login/refused", _AD.format("`533`"))
TOO_MANY_SIDS = _reason("too_many_sids", "login/refused", _AD.format("`568`"))
ACCOUNT_EXPIRED = _reason("account_expired", "login/refused", _AD.format("`701`"))
MUST_CHANGE_PASSWORD = _reason("must_change_password", "login/refused", _AD.format("`773`"))
ACCOUNT_LOCKED = _reason("account_locked", "login/refused", _AD.format("`775`"))
#: ``ad_code_`` + an Active Directory sub-code not named above (e.g. ``ad_code_52f``).
AD_CODE_PREFIX = "ad_code_"
THROTTLED = _reason(
    "throttled",
    "login/refused",
    "the spraying guard: no bind was sent ([Password spraying](../security.md#password-spraying))",
)
NOT_ALLOWED = _reason(
    "not_allowed",
    "login/refused user_revalidated/refused",
    "not a member of `allowed_groups` (answered 403)",
    {"user_revalidated/refused": "the entry is no longer in `allowed_groups`: " + _EVICTED},
)
FOREIGN_DOMAIN = _reason(
    "foreign_domain", "login/refused", "`OTHER\\user`: someone else's domain, not searched"
)
FOREIGN_REALM = _reason(
    "foreign_realm", "login/refused", "`user@other.realm`: someone else's realm, not searched"
)
EMPTY_PASSWORD = _reason("empty_password", "login/refused", "refused before any LDAP traffic")
EMPTY_USERNAME = _reason("empty_username", "login/refused", "refused before any LDAP traffic")
USERNAME_TOO_LONG = _reason("username_too_long", "login/refused", "refused before any LDAP traffic")
UNUSABLE_PASSWORD = _reason(
    "unusable_password",
    "login/refused",
    "a password LDAP cannot carry, refused before any LDAP traffic",
)
MALFORMED_HEADER = _reason(
    "malformed_header",
    "login/refused",
    "a broken `Authorization` header (bad base64, no colon, not UTF-8, over 8 KiB, not Basic)",
)
MALFORMED_USERNAME = _reason(
    "malformed_username", "login/refused", "control or invisible format characters in the name"
)
NOT_A_TOKEN = _reason(
    "not_a_token", "login/refused", "a Bearer credential that is not an access token"
)
LEGACY_DEFAULT_PASSWORD = _reason(
    "legacy_default_password",
    "login/refused",
    "the break-glass admin with MLflow's public default password",
)
NO_USER = _reason("no_user", "login/refused", "the break-glass admin is not in MLflow's user store")
LOCAL_ADMIN_NAME = _reason(
    "local_admin_name",
    "login/refused user_revalidated/refused user_provisioned/refused",
    "a directory entry whose name is the break-glass admin's",
    {
        "user_provisioned/refused": "the name resolves to the break-glass admin "
        "(`by` = the admin who asked)",
        "user_revalidated/refused": "the entry's name is the break-glass admin's: " + _EVICTED,
    },
)
INVALID_CREDENTIALS = _reason(
    "invalid_credentials", "login/refused", "any other refused credential"
)
NO_CREDENTIALS = _reason(
    "no_credentials",
    "",
    "no credentials at all: answered 401 and never audited (a request without any "
    "credentials is no login)",
)
#: ``AuthError``'s own reason, for an error raised without a more precise one.
ERROR = _reason("error", "login/refused", "a refusal without a more precise reason")
CIRCUIT_OPEN = _reason(
    "circuit_open",
    "login/unavailable",
    "every server failed within the last seconds: answered 503 at once",
)
BIND_ERROR = _reason(
    "bind_error", "login/unavailable", "the directory did not answer the bind (answered 503)"
)
SEARCH_ERROR = _reason(
    "search_error",
    "login/unavailable",
    "a directory server refused a search (a referral, a limit, an access error; answered 503)",
)
SERVICE_BIND_REFUSED = _reason(
    "service_bind_refused",
    "login/unavailable",
    "the directory refused the service account (answered 503)",
)
DIRECTORY_UNAVAILABLE = _reason(
    "directory_unavailable", "login/unavailable", "the directory did not answer (answered 503)"
)
ATTEMPT_STORE_ERROR = _reason(
    "attempt_store_error",
    "login/unavailable",
    "the spraying guard could not count the attempt in `database_uri`",
)

# -- tokens ------------------------------------------------------------------------------

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

# -- revalidation ------------------------------------------------------------------------

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

# -- administration ----------------------------------------------------------------------

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

#: The page's sections, each with the events whose reasons it lists.
SECTIONS: dict[str, tuple[str, ...]] = {
    "logins": (LOGIN,),
    "tokens": (TOKEN_CREATED, TOKEN_REVOKED, TOKEN_REFUSED),
    "revalidation": (USER_REVALIDATED,),
    "administration": (
        MAPPING_CREATED,
        MAPPING_DELETED,
        USER_PROVISIONED,
        USER_ADOPTED,
        BREAK_GLASS_PASSWORD_CHANGED,
        RENAME_REFUSED,
    ),
}


def is_reason(value: str) -> bool:
    """Whether ``value`` is a reason the plugin writes."""
    return value in REASONS or (
        value.startswith(AD_CODE_PREFIX) and value[len(AD_CODE_PREFIX) :].isalnum()
    )
