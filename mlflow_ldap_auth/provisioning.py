"""Directory users in MLflow's user store: created at first login, admin flag kept in sync.

A directory user's row carries a random password nobody knows: ldap-auth never checks a
local password for anyone but the break-glass admin (``[mlflow] admin_username``), so the
row exists only to hang MLflow's grants, roles and ownership on.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who a request runs as, once authenticated."""

    username: str
    is_admin: bool
    dn: str | None = None  # None for the local break-glass admin


def provision_user(store, username: str, is_admin: bool | None) -> bool:
    """Make sure ``username`` exists; set its admin flag when ``is_admin`` is not None.

    Returns True when the store was written to. Safe under concurrent first logins:
    a lost creation race is read back instead of failing.
    """
    try:
        user = store.get_user(username)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        try:
            store.create_user(username, secrets.token_urlsafe(32), is_admin=bool(is_admin))
            _logger.info("Provisioned directory user %r (admin=%s)", username, bool(is_admin))
            return True
        except MlflowException as create_exc:
            if create_exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            user = store.get_user(username)
    if is_admin is not None and user.is_admin != is_admin:
        store.update_user(username, is_admin=is_admin)
        _logger.info("Admin flag of %r set to %s from admin_groups", username, is_admin)
        return True
    return False
