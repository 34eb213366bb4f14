"""Reading the activity table: newest first, filtered, in pages (docs/operations.md#activity).

``ActivityStore.search`` answers the REST route, the admin page and the client alike:
``{"records": [{"ts", "event", "user", "source", "result", "reason", "details"}],
"next_page_token"}``. ``ts`` is ISO 8601 UTC with milliseconds (``...T09:02:11.123Z``),
``details`` the record's other fields as an object.

Filters (each optional; an empty string is no filter): ``user`` (exact, any case),
``result``, ``reason``, ``event`` (exact), ``since`` (inclusive) and ``until``
(exclusive), ISO 8601 times (``2026-12-03``, ``2026-12-03T09:00``, ``...Z``,
``...+01:00``; without an offset: UTC). ``max_results``: 1 to ``MAX_PAGE_SIZE``,
default ``DEFAULT_PAGE_SIZE``. Pages are cut by (time, id), not by offset, so paging
through a table that is being written neither repeats nor skips a record that was
there when the first page was read; ``page_token`` is opaque (URL-safe base64).
A bad value of any of them is an ``InvalidRequest`` (MLflow's ``INVALID_PARAMETER_VALUE``, 400).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.db.paging import page_size
from mlflow_ldap_auth.errors import InvalidRequest

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
FILTERS = ("user", "result", "reason", "event", "since", "until", "page_token", "max_results")
_TOKEN = re.compile(r"(\d{1,19}):(\d{1,19})")
_BIGINT_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def iso_ms(ts_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 UTC: ``2026-12-03T09:02:11.123Z``."""
    seconds, millis = divmod(int(ts_ms), 1000)
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"


def parse_time(name: str, text: str) -> int:
    """An ISO 8601 date or time (UTC unless it says otherwise) as epoch milliseconds."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{name} must be an ISO 8601 date or time such as 2026-12-03T09:00:00Z, got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // _MS


def page_token(ts_ms: int, row_id: int) -> str:
    return base64.urlsafe_b64encode(f"{ts_ms}:{row_id}".encode()).decode().rstrip("=")


def parse_page_token(token: str) -> tuple[int, int]:
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    match = _TOKEN.fullmatch(text)
    # Both numbers are BIGINT columns: a larger one would be a database error (500).
    if not match or max(int(match.group(1)), int(match.group(2))) > _BIGINT_MAX:
        raise InvalidRequest(f"page_token is not one this server gave out: {token!r}")
    return int(match.group(1)), int(match.group(2))


def _text(name: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{name} must be text")
    return value.strip() or None


def _details(text: str) -> dict:
    try:
        details = json.loads(text)
    except ValueError:
        return {"unparsed": text}
    return details if isinstance(details, dict) else {"value": details}


class ActivityStore:
    def __init__(self, engine: sa.engine.Engine) -> None:
        self.engine = engine

    def search(
        self,
        *,
        user: str | None = None,
        result: str | None = None,
        reason: str | None = None,
        event: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page_token: str | None = None,
        max_results: int | str | None = None,
    ) -> dict:
        """One page of records, newest first (see the module docstring)."""
        table = tables.audit
        size = page_size(max_results, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        conditions = []
        user = _text("user", user)
        if user is not None:
            conditions.append(sa.func.lower(table.c.username) == user.lower())
        exact = (
            ("result", result, table.c.result),
            ("reason", reason, table.c.reason),
            ("event", event, table.c.event),
        )
        for name, given, column in exact:
            value = _text(name, given)
            if value is not None:
                conditions.append(column == value)
        since = _text("since", since)
        if since is not None:
            conditions.append(table.c.ts_ms >= parse_time("since", since))
        until = _text("until", until)
        if until is not None:
            conditions.append(table.c.ts_ms < parse_time("until", until))
        token = _text("page_token", page_token)
        if token is not None:
            ts_ms, row_id = parse_page_token(token)
            conditions.append(
                sa.or_(table.c.ts_ms < ts_ms, sa.and_(table.c.ts_ms == ts_ms, table.c.id < row_id))
            )
        query = (
            sa.select(table)
            .where(*conditions)
            .order_by(table.c.ts_ms.desc(), table.c.id.desc())
            .limit(size + 1)
        )
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        more, rows = len(rows) > size, rows[:size]
        return {
            "records": [self._record(row) for row in rows],
            "next_page_token": self.page_token_after(rows[-1]) if more else None,
        }

    @staticmethod
    def page_token_after(row) -> str:
        return page_token(row.ts_ms, row.id)

    @staticmethod
    def _record(row) -> dict:
        return {
            "ts": iso_ms(row.ts_ms),
            "event": row.event,
            "user": row.username,
            "source": row.source,
            "result": row.result,
            "reason": row.reason,
            "details": _details(row.details),
        }
