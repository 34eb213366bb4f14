"""``ldap_auth_user_checks``: the last time the directory answered about each user, shared.

Every worker of every server on ``database_uri`` reads and writes the same rows, which
is how a fleet checks each active user once per interval: before asking the directory
a worker *claims* the user (a conditional update that only one worker can win while
the row is due and unclaimed); the others keep using the row until the winner writes
the result.

A check that gets no verdict although the directory answered (the entry cannot be
read: a referral, a limit, an error of the plugin's own store) is *recorded* as
``check_failed`` (``record_failures``), not given back as an outage is: the row keeps
the time of the last successful check, so every worker refuses the account once that
is older than the interval (``auth.revalidation``).

A fresh login records its one row with statements that each stand alone (the row's
update, and its insert when there was none), in autocommit (``db.autocommit``): one
round trip each on PostgreSQL instead of a transaction's five, on every first login.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.db import autocommit, tables
from mlflow_ldap_auth.ldap.account_state import OK

#: How long a claim keeps other workers from checking the same user (s).
CLAIM_SECONDS = 60
#: The status of a row whose user has not been checked yet.
UNCHECKED = "unchecked"
#: The status of a row whose last check failed although the directory answered.
CHECK_FAILED = reasons.CHECK_FAILED


@dataclass(frozen=True)
class CheckRecord:
    username: str
    #: Last time the directory answered about this user (epoch s; 0: never).
    checked_at: int
    #: ``ok`` or why the account is refused (``gone``, ``disabled``, ``locked``, ...),
    #: or ``check_failed`` (``checked_at`` is then the last successful check).
    status: str
    password_marker: str | None
    #: Until when a worker's claim to check the user holds (epoch s; 0: nobody's);
    #: not part of what the row says about the user.
    claimed_until: int = field(default=0, compare=False)


class UserChecks:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine
        self._alone = autocommit.of(engine)

    def get_many(self, usernames) -> dict[str, CheckRecord]:
        names = list(usernames)
        found: dict[str, CheckRecord] = {}
        table = tables.user_checks
        with self.engine.connect() as connection:
            for start in range(0, len(names), 500):
                rows = connection.execute(
                    sa.select(
                        table.c.username,
                        table.c.checked_at,
                        table.c.status,
                        table.c.password_marker,
                        table.c.claimed_until,
                    ).where(table.c.username.in_(names[start : start + 500]))
                )
                for row in rows:
                    found[row.username] = CheckRecord(
                        row.username,
                        row.checked_at,
                        row.status,
                        row.password_marker,
                        row.claimed_until,
                    )
        return found

    def get(self, username: str) -> CheckRecord | None:
        return self.get_many([username]).get(username)

    def record(self, username: str, status: str, password_marker: str | None, now: int) -> None:
        """The directory answered: store what it said and release any claim.

        The update and the insert each stand alone: the row ends the same whichever
        worker writes first, and however often this runs.
        """
        results = [(username, status, password_marker)]
        self._alone.write(lambda engine: _record(engine, results, now))

    def record_many(self, results: list[tuple[str, str, str | None]], now: int) -> None:
        """Several answers, one transaction; (username, status, password marker) each."""
        if results:
            _record(self.engine, results, now)

    def record_failures(self, usernames: list[str], retry_at: int) -> None:
        """Checks that got no verdict although the directory answered (not an outage).

        A usable or never checked row becomes ``check_failed``; ``checked_at`` (the last
        successful check) and the password marker stay. A refused or already failed
        row stays as it is. The claims become nobody's until ``retry_at``: the row stays
        due, and the fleet (not only this worker) retries it after that pause.
        """
        if not usernames:
            return
        table = tables.user_checks
        names = list(usernames)
        with self.engine.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.username.in_(names), table.c.status.in_((OK, UNCHECKED)))
                .values(status=CHECK_FAILED)
            )
            connection.execute(
                table.update()
                .where(table.c.username.in_(names))
                .values(claimed_until=retry_at, claimed_by=None)
            )

    def claim_many(self, usernames: list[str], now: int, due_before: int) -> list[str]:
        """Take the right to check those of ``usernames`` that are due and not taken.

        One conditional update for all of them (a row is due when its last check is
        at or before ``due_before``, free when its claim has run out), then a read of
        which rows carry this claim's mark; users without a row get one, claimed.
        """
        if not usernames:
            return []
        table = tables.user_checks
        mark = secrets.token_hex(8)
        claimed: list[str] = []
        for start in range(0, len(usernames), 500):
            names = usernames[start : start + 500]
            with self.engine.begin() as connection:
                connection.execute(
                    table.update()
                    .where(
                        table.c.username.in_(names),
                        table.c.checked_at <= due_before,
                        table.c.claimed_until < now,
                    )
                    .values(claimed_until=now + CLAIM_SECONDS, claimed_by=mark)
                )
                rows = connection.execute(
                    sa.select(table.c.username, table.c.claimed_by).where(
                        table.c.username.in_(names)
                    )
                ).all()
            present = {row.username for row in rows}
            claimed += [row.username for row in rows if row.claimed_by == mark]
            for username in names:
                if username not in present and self._insert_claimed(username, now, mark):
                    claimed.append(username)
        return claimed

    def _insert_claimed(self, username: str, now: int, mark: str) -> bool:
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    tables.user_checks.insert().values(
                        username=username,
                        checked_at=0,
                        status=UNCHECKED,
                        password_marker=None,
                        claimed_until=now + CLAIM_SECONDS,
                        claimed_by=mark,
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def claim(self, username: str, now: int, due_before: int) -> bool:
        """``claim_many`` for one user."""
        return bool(self.claim_many([username], now, due_before))

    def release(self, username: str) -> None:
        """Give a claim back without a result (the directory did not answer)."""
        self.release_many([username])

    def release_many(self, usernames: list[str]) -> None:
        table = tables.user_checks
        with self.engine.begin() as connection:
            connection.execute(
                table.update()
                .where(table.c.username.in_(list(usernames)))
                .values(claimed_until=0, claimed_by=None)
            )


def _record(engine: sa.engine.Engine, results: list[tuple[str, str, str | None]], now: int) -> None:
    """``record_many`` in one transaction of ``engine`` (in autocommit: each statement)."""
    table = tables.user_checks
    for attempt in range(3):
        try:
            with engine.begin() as connection:
                for username, status, marker in results:
                    values = {
                        "checked_at": now,
                        "status": status,
                        "password_marker": marker,
                        "claimed_until": 0,
                    }
                    updated = connection.execute(
                        table.update()
                        .where(table.c.username == username)
                        .values(claimed_by=None, **values)
                    ).rowcount
                    if not updated:
                        connection.execute(table.insert().values(username=username, **values))
            return
        except sa.exc.IntegrityError:
            # Another worker inserted one of the rows first: all again, as updates.
            if attempt == 2:
                raise
