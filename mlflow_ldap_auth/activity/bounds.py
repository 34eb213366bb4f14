"""The activity table's bounds: retention and the cap, deleted in chunks.

Rows older than ``audit_retention_days`` are deleted when the recorder's thread starts
and then every ``PURGE_INTERVAL_SECONDS``; and the table keeps at most ``MAX_ROWS`` rows,
checked at each purge and after every ``MAX_ROWS // 10`` rows this worker wrote, so a
password-spraying flood cannot grow it without bound (``activity.recorder`` decides
when). Beyond the cap, rows go by kind,
the oldest of a kind first, and a kind only when the ones before it cannot make room:
refusals (anyone can cause them), then routine records (successful logins, a user's
own token creations and revocations, revalidations), and change records last
(``CHANGE_EVENTS``: mapping changes, provisioning and adoption, break-glass password
changes, tokens revoked by an admin or the operator). So one user's churn, or a
flood of refusals, never pushes the admins' change records out of the table.
Deletes go in chunks of ``DELETE_CHUNK`` rows, one transaction each, so logins that
write on SQLite are not held up for long. Every worker does this on its own; deleting
what another one deleted already is harmless.

``ActivityBounds`` is the part of ``ActivityRecorder`` that deletes; the cut is between
writing rows and deleting them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import sqlalchemy as sa

from mlflow_ldap_auth.db import tables

#: The logger of the module this code was cut from: its log lines keep their name.
_logger = logging.getLogger("mlflow_ldap_auth.activity.recorder")

_DAY_MS = 86_400_000

#: Events that change who may do what: the cap deletes them last.
CHANGE_EVENTS = (
    "mapping_created",
    "mapping_deleted",
    "user_provisioned",
    "user_adopted",
    "break_glass_password_changed",
)
#: ``token_revoked`` reasons of a revocation by someone other than the owner.
CHANGE_REVOCATIONS = ("revoked_by_admin", "revoked_by_operator")


class ActivityBounds:
    """Retention and the cap of the activity table, for ``ActivityRecorder``."""

    engine: sa.engine.Engine
    retention_days: int
    max_rows: int
    delete_chunk: int
    purged: int
    _clock: Callable[[], float]
    _written_since_cap: int

    def purge(self) -> int:
        """Delete the rows older than the retention, then enforce the cap; rows deleted."""
        cutoff = round(self._clock() * 1000) - self.retention_days * _DAY_MS
        deleted = self._delete(tables.audit.c.ts_ms < cutoff)
        deleted += self.enforce_cap()
        if deleted:
            _logger.info("Activity table: deleted %d old rows", deleted)
        return deleted

    def enforce_cap(self) -> int:
        """Delete rows beyond ``max_rows``, by kind (see the module docstring); rows deleted.

        Anyone can send refused logins, and any user can create and revoke their own
        tokens: neither must push the records of changes out of the table. The oldest
        refusals go first, then the oldest routine records, and change records only
        when the table holds nothing else to delete.
        """
        self._written_since_cap = 0
        table = tables.audit
        with self.engine.connect() as connection:
            total = connection.execute(sa.select(sa.func.count()).select_from(table)).scalar()
        excess = (total or 0) - self.max_rows
        if excess <= 0:
            return 0
        changes = sa.or_(
            table.c.event.in_(CHANGE_EVENTS),
            sa.and_(table.c.event == "token_revoked", table.c.reason.in_(CHANGE_REVOCATIONS)),
        )
        refusals = sa.and_(table.c.result != "success", sa.not_(changes))
        routine = sa.and_(table.c.result == "success", sa.not_(changes))
        deleted = 0
        for kind in (refusals, routine, changes):
            if deleted >= excess:
                break
            deleted += self._delete_oldest(kind, excess - deleted)
        return deleted

    def _delete_oldest(self, condition, count: int) -> int:
        """Delete the ``count`` oldest rows matching ``condition``."""
        table = tables.audit
        with self.engine.connect() as connection:
            boundary = connection.execute(
                sa.select(table.c.id)
                .where(condition)
                .order_by(table.c.id)
                .offset(count - 1)
                .limit(1)
            ).scalar()
        if boundary is None:
            return self._delete(condition)  # fewer than ``count`` match: all of them
        return self._delete(sa.and_(condition, table.c.id <= boundary))

    def _delete(self, condition) -> int:
        """Delete the rows matching ``condition``, oldest first, in chunks."""
        table = tables.audit
        deleted = 0
        while True:
            with self.engine.connect() as connection:
                boundary = connection.execute(
                    sa.select(table.c.id)
                    .where(condition)
                    .order_by(table.c.id)
                    .offset(self.delete_chunk - 1)
                    .limit(1)
                ).scalar()
            chunk = condition if boundary is None else sa.and_(condition, table.c.id <= boundary)
            with self.engine.begin() as connection:
                count = connection.execute(sa.delete(table).where(chunk)).rowcount
            deleted += max(count, 0)
            self.purged += max(count, 0)
            if boundary is None:
                return deleted
