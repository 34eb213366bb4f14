"""Events and reasons of browser sessions (docs/reference/audit.md#sessions): one
``session_ended`` line per session, written by the worker that ends it;
``session_refused`` for a request whose session secret is not served."""

from __future__ import annotations

from mlflow_ldap_auth.reasons import tokens
from mlflow_ldap_auth.reasons.registry import _also, _event, _reason

SESSION_ENDED = _event(
    "session_ended",
    "success",
    "a session ended: signed out, ended by its owner or an admin, or found idle, expired "
    "or refused by revalidation by the first request after (once per session)",
)
SESSION_REFUSED = _event(
    "session_refused",
    "refused unavailable",
    "a request with a session secret was not served, and did not end the session itself",
)

LOGOUT = _reason("logout", "session_ended/success", "its owner signed out")
ENDED_BY_USER = _reason(
    "ended_by_user", "session_ended/success", "its owner ended it from another session or client"
)
ENDED_BY_ADMIN = _reason(
    "ended_by_admin",
    "session_ended/success",
    "an admin (or the operator at the command line) ended it",
)
IDLE = _reason(
    "idle",
    "session_ended/success",
    "no request for `session_idle_seconds` (measured to the minute: `last_seen` is "
    "written at most once a minute)",
)
EXPIRED = _also(
    tokens.EXPIRED, "session_ended/success", "older than `session_max_seconds` (its `expires`)"
)
OWNER_PASSWORD_CHANGED = _reason(
    "owner_password_changed",
    "session_ended/success",
    "the owner's password changed since the sign-in (AD `pwdLastSet`, ppolicy "
    "`pwdChangedTime`); tokens keep working",
)
# The owner refusals of revalidation end a session as they refuse a token.
for _owner_reason in (
    tokens.OWNER_GONE,
    tokens.OWNER_DISABLED,
    tokens.OWNER_LOCKED,
    tokens.OWNER_EXPIRED,
    tokens.OWNER_NOT_ALLOWED,
    tokens.OWNER_CHECK_FAILED,
    tokens.OWNER_LOCAL_ADMIN_NAME,
):
    _also(_owner_reason, "session_ended/success")
UNKNOWN_SESSION = _reason(
    "unknown_session",
    "session_refused/refused",
    "no such session: not a session secret, never made, or deleted after it ended",
)
ENDED_SESSION = _reason(
    "session_ended",
    "session_refused/refused",
    "the session had ended (its `session_ended` line says why); the same secret is "
    "refused on every worker and server",
)
CROSS_SITE = _reason(
    "cross_site",
    "session_refused/refused",
    "a `POST`, `PUT`, `PATCH` or `DELETE` that only the session cookie authenticated, "
    "sent by another site (`sent_by`: its `Origin` or `Sec-Fetch-Site`); 403, nothing "
    "changed, the session stays",
)
_also(tokens.OUTAGE_GRACE_OVER, "session_refused/unavailable")
_also(tokens.REVALIDATION_UNAVAILABLE, "session_refused/unavailable")
