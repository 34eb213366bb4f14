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

This package imports nothing else of the package: every layer may use it. One module
per family of events; the names are all re-exported here.
"""

# isort: skip_file
# The modules register their names as they are imported, in this order: the order of
# the Audit events page's rows.
from __future__ import annotations

from mlflow_ldap_auth.reasons.registry import *  # noqa: F403
from mlflow_ldap_auth.reasons.registry import EVENTS, REASONS, Event, Reason  # noqa: F401
from mlflow_ldap_auth.reasons.events import *  # noqa: F403
from mlflow_ldap_auth.reasons.events import (
    BREAK_GLASS_PASSWORD_CHANGED,
    LOGIN,
    MAPPING_CREATED,
    MAPPING_DELETED,
    RENAME_REFUSED,
    TOKEN_CREATED,
    TOKEN_REFUSED,
    TOKEN_REVOKED,
    USER_ADOPTED,
    USER_PROVISIONED,
    USER_REVALIDATED,
)
from mlflow_ldap_auth.reasons.logins import *  # noqa: F403
from mlflow_ldap_auth.reasons.logins import AD_CODE_PREFIX
from mlflow_ldap_auth.reasons.tokens import *  # noqa: F403
from mlflow_ldap_auth.reasons.revalidation import *  # noqa: F403
from mlflow_ldap_auth.reasons.administration import *  # noqa: F403
from mlflow_ldap_auth.reasons.sessions import *  # noqa: F403
from mlflow_ldap_auth.reasons.sessions import SESSION_ENDED, SESSION_REFUSED

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
    "sessions": (SESSION_ENDED, SESSION_REFUSED),
}


def is_reason(value: str) -> bool:
    """Whether ``value`` is a reason the plugin writes."""
    return value in REASONS or (
        value.startswith(AD_CODE_PREFIX) and value[len(AD_CODE_PREFIX) :].isalnum()
    )
