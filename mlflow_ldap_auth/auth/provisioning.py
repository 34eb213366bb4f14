"""Directory users in MLflow's user store: created at first login, adopted, admin flag in sync.

A directory user's row carries no password (``mlflow_tables.NO_LOCAL_PASSWORD``, which
no password matches): ldap-auth never checks a local password for anyone but the
break-glass admin (``[mlflow] admin_username``), so the row exists only to hang MLflow's
grants, roles and ownership on. The row, the plugin's record of it and the user's
managed role assignments are written in one transaction, without the scrypt hash
MLflow's ``create_user`` would spend (~0.1 s of CPU per first login, the bulk of a login
storm's cost). A name the plugin does not know is most likely a first login: its rows
are written straight away, without reading MLflow's row first, and only a write that
finds the name taken (a concurrent first login, a row made elsewhere) reads what is
there. On PostgreSQL each read and transaction is several round trips, and in a login
storm those are what a login waits for (docs/performance.md#login-storm-on-postgresql).

A row with the user's name that this plugin did not make (``accounts``: e.g. left by
MLflow's basic-auth) is *adopted* at the user's first login: its per-user grants stay,
its admin flag is replaced by what the directory says (``admin_groups`` / admin
mappings, else false), one ``user_adopted`` audit line records it. Every worker and
server agrees on who adopts: the plugin's record of the name is a row insert in the
shared database, written with the new admin flag in one transaction
(``AccountStore.adopt``), so concurrent adoptions take turns and the winner's audit line
has the flag the row had.

The break-glass admin's row is never a directory user's: a directory entry whose
canonical name is ``[mlflow] admin_username`` (in any spelling, ``names.name_key``) is
refused here (``NotAllowed``, reason ``local_admin_name``), whichever path asks, so no
login form, admin request or revalidation can adopt it and clear its admin flag.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass

from mlflow.exceptions import MlflowException

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.accounts import AccountStore
from mlflow_ldap_auth.auth.audit import audit
from mlflow_ldap_auth.auth.names import refuse_break_glass_name

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who a request runs as, once authenticated."""

    username: str
    is_admin: bool
    dn: str | None = None  # None for the local break-glass admin and for tokens
    #: How the request proved who it is: ``password`` (directory bind or cached),
    #: ``local_admin`` (break-glass) or ``token`` (an access token).
    method: str = "password"
    #: The access token's id when ``method == "token"``.
    token_id: str | None = None


@dataclass(frozen=True)
class Provisioned:
    """A directory user's MLflow row after provisioning."""

    user_id: int
    is_admin: bool
    #: The admin flag before; None when the row did not exist.
    admin_before: bool | None
    #: The managed roles asked for were assigned with the new row (nothing else was).
    roles_assigned: bool = False

    @property
    def changed(self) -> bool:
        return self.admin_before != self.is_admin


class Provisioner:
    def __init__(
        self,
        store,
        accounts: AccountStore,
        *,
        break_glass_name: str,
        after_write: Callable[[], None] = lambda: None,
    ) -> None:
        self.store = store  # MLflow's auth store
        self.accounts = accounts
        #: ``[mlflow] admin_username``: never provisioned, adopted or re-flagged here.
        self.break_glass_name = break_glass_name
        #: Called after a write past the store (it empties the permission cache).
        self.after_write = after_write

    def provision(
        self,
        username: str,
        is_admin: bool | None,
        source: str | None,
        roles: Collection[int] = (),
    ) -> Provisioned:
        """Make sure ``username`` exists and is the plugin's; set the admin flag if decided.
        ``roles``: the managed roles to assign if the row is made now (``roles_assigned``).

        Safe under concurrent first logins (a lost creation or claim race is read back
        instead of failing). A first login reads only the plugin's record; MLflow's row is
        read when the name is known (or taken), once. ``NotAllowed`` (nothing written) for
        the break-glass admin's name.
        """
        refuse_break_glass_name(username, self.break_glass_name)
        if not self.accounts.is_known(username):
            created = self.accounts.create_directory_user(username, bool(is_admin), roles)
            if created is not None:
                self.after_write()
                _logger.info(
                    "Provisioned directory user %r (admin=%s, managed roles: %s)",
                    username,
                    bool(is_admin),
                    sorted(roles) if created.roles_assigned or not roles else "none yet",
                )
                return Provisioned(created.user_id, bool(is_admin), None, created.roles_assigned)
            # The name is taken: a concurrent first login made both rows (then it is known
            # now), or MLflow has a row this plugin did not make (adopted).
            if not self.accounts.is_known(username):
                before = self._adopt(username, is_admin, source)
                if before is not None:
                    return self._flag(username, is_admin, self._existing(username), before)
        existing = self._existing(username)
        return self._flag(
            username, is_admin, existing, None if existing is None else existing.is_admin
        )

    def _flag(self, username: str, is_admin: bool | None, user, before: bool | None) -> Provisioned:
        """The plugin's ``username`` in MLflow's ``user`` row (made again if None: an admin
        deleted it), the admin flag set if decided; ``before``: the flag as first read."""
        user = user if user is not None else self._ensure_user(username, is_admin)
        if is_admin is not None and user.is_admin != is_admin:
            self.store.update_user(username, is_admin=is_admin)
            _logger.info("Admin flag of %r set to %s from the directory", username, is_admin)
            return Provisioned(user.id, is_admin, before)
        return Provisioned(user.id, user.is_admin, before)

    def _adopt(self, username: str, is_admin: bool | None, source: str | None) -> bool | None:
        """Adopt MLflow's row of ``username``: the flag it had, None if another login
        recorded the name first (or the row is gone).

        The record and the directory's admin flag are written in one transaction
        (``AccountStore.adopt``), and only the login that wrote them audits, with the
        flag as the row had it. A login that lost goes on as for a known name once the
        winner committed, so none is answered with the inherited flag, and the audit
        record says what the row was before any of them (earlier, every racer set the
        flag before it tried to record the name, and the one that recorded it could
        have read a racer's flag).
        """
        before = self.accounts.adopt(username, bool(is_admin))
        if before is None:
            return None
        self.after_write()
        audit(
            reasons.USER_ADOPTED,
            user=username,
            source=source,
            result="success",
            reason=reasons.EXISTING_MLFLOW_USER,
            previous_admin=before,
            admin=bool(is_admin),
        )
        return before

    def _existing(self, username: str):
        try:
            return self.store.get_user(username)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            return None

    def _ensure_user(self, username: str, is_admin: bool | None):
        existing = self._existing(username)
        if existing is not None:
            return existing
        # The plugin's record exists but MLflow's row does not (an admin deleted the user
        # through MLflow): a new row, as at a first login.
        if self.accounts.create_user_row(username, bool(is_admin)):
            self.after_write()
            _logger.info("Provisioned directory user %r (admin=%s)", username, bool(is_admin))
        return self.store.get_user(username)
