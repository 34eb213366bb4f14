"""``ldap_auth_user_checks``: the last time the directory answered about each user, shared.

Every worker of every server on ``database_uri`` reads and writes the same rows, which
is how a fleet checks each active user once per interval: before asking the directory
a worker *claims* the user (a conditional update that only one worker can win while
the row is due and unclaimed); the others keep using the row until the winner writes
the result.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from mlflow_ldap_auth.db import tables

#: How long a claim keeps other workers from checking the same user (s).
CLAIM_SECONDS = 60
#: The status of a row whose user has not been checked yet.
UNCHECKED = "unchecked"


@dataclass(frozen=True)
class CheckRecord:
    username: str
    #: Last time the directory answered about this user (epoch s; 0: never).
    checked_at: int
    #: ``ok`` or why the account is refused (``gone``, ``disabled``, ``locked``, ...).
    status: str
    password_marker: str | None


class UserChecks:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

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
                    ).where(table.c.username.in_(names[start : start + 500]))
                )
                for row in rows:
                    found[row.username] = CheckRecord(
                        row.username, row.checked_at, row.status, row.password_marker
                    )
        return found

    def get(self, username: str) -> CheckRecord | None:
        return self.get_many([username]).get(username)

    def record(self, username: str, status: str, password_marker: str | None, now: int) -> None:
        """The directory answered: store what it said and release any claim."""
        table = tables.user_checks
        values = {
            "checked_at": now,
            "status": status,
            "password_marker": password_marker,
            "claimed_until": 0,
        }
        for _ in range(3):
            with self.engine.begin() as connection:
                updated = connection.execute(
                    table.update().where(table.c.username == username).values(**values)
                ).rowcount
            if updated:
                return
            try:
                with self.engine.begin() as connection:
                    connection.execute(table.insert().values(username=username, **values))
                return
            except sa.exc.IntegrityError:
                continue  # another worker inserted it first: update it

    def claim(self, username: str, now: int, due_before: int) -> bool:
        """Take the right to check ``username`` now; False if it is not due or taken."""
        table = tables.user_checks
        with self.engine.begin() as connection:
            claimed = connection.execute(
                table.update()
                .where(
                    table.c.username == username,
                    table.c.checked_at <= due_before,
                    table.c.claimed_until < now,
                )
                .values(claimed_until=now + CLAIM_SECONDS)
            ).rowcount
        if claimed:
            return True
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    table.insert().values(
                        username=username,
                        checked_at=0,
                        status=UNCHECKED,
                        password_marker=None,
                        claimed_until=now + CLAIM_SECONDS,
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def release(self, username: str) -> None:
        """Give a claim back without a result (the directory did not answer)."""
        table = tables.user_checks
        with self.engine.begin() as connection:
            connection.execute(
                table.update().where(table.c.username == username).values(claimed_until=0)
            )
