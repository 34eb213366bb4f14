"""Reasons of ``login`` lines: how a login succeeded, or why it was refused."""

from __future__ import annotations

from mlflow_ldap_auth.reasons.registry import _EVICTED, _event, _reason  # noqa: F401

DIRECTORY_BIND = _reason(
    "directory_bind", "login/success", "the directory accepted the password (a fresh bind)"
)
KERBEROS_TICKET = _reason(
    "kerberos_ticket",
    "login/success",
    "a Kerberos ticket (`Authorization: Negotiate`) of a directory user "
    "([Kerberos](../kerberos.md#how-a-request-is-signed-in))",
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
    "foreign_realm",
    "login/refused",
    "`user@other.realm`, or a Kerberos ticket of another realm: someone else's realm, not searched",
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
# ``Authorization: Negotiate`` (docs/kerberos.md#how-a-request-is-signed-in).
MALFORMED_NEGOTIATE = _reason(
    "malformed_negotiate",
    "login/refused",
    "a Negotiate token that is no Kerberos ticket for this service: bad base64, over 64 KiB, "
    "not SPNEGO or Kerberos, corrupt, or one that needs more than one round trip",
)
NTLM_NOT_SUPPORTED = _reason(
    "ntlm_not_supported", "login/refused", "a Negotiate token that offers NTLM, not Kerberos"
)
WRONG_SERVICE = _reason(
    "wrong_service",
    "login/refused",
    "a Kerberos ticket for another service principal than this server's keytab holds",
)
REPLAY = _reason(
    "replay", "login/refused", "a Kerberos authenticator this server has already accepted"
)
CLOCK_SKEW = _reason(
    "clock_skew",
    "login/refused",
    "a Kerberos authenticator whose time is further from the server's than the allowed skew "
    "(`clockskew` in krb5.conf, 5 minutes by default)",
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
