"""Audit records into the activity table, off the request path.

``ActivityRecorder.record`` is an ``auth.audit`` sink: it turns the record into a row and
appends it to an in-memory queue of at most ``MAX_QUEUE`` rows (when the database falls
behind, the oldest queued rows are dropped and counted in ``dropped``), so a login
never waits on the database. A daemon thread of the worker writes the queue every
``FLUSH_INTERVAL_SECONDS``, or as soon as ``BATCH_SIZE`` rows are waiting, in batches of
at most ``BATCH_SIZE`` rows, one transaction each (``engine.begin()``: on SQLite the
plugin's writes of one process take turns). What is queued at process exit is written
by an ``atexit`` hook; ``flush()`` writes it now (tests).

Which records: every record ``audit()`` makes (logins, ``token_refused``, mapping and
token changes, provisioning, adoption, revalidation, break-glass password changes).
A row holds ``ts`` (epoch ms, UTC), ``event``, ``user``, ``source``, ``result`` and
``reason`` in columns and the other fields as a JSON object in ``details``; a field
whose name contains ``password`` or ``secret`` is never stored (the callers pass none;
this makes sure).

Bounds: rows older than ``audit_retention_days`` and rows beyond ``MAX_ROWS`` are
deleted by kind, change records last (``activity.bounds``, which ``ActivityRecorder``
extends).

A batch the database refuses is logged (at most once a minute) and counted in
``failed``; its rows are not retried (the JSON audit lines still have them).
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

import sqlalchemy as sa

from mlflow_ldap_auth.activity.bounds import ActivityBounds
from mlflow_ldap_auth.auth import audit
from mlflow_ldap_auth.db import tables

_logger = logging.getLogger(__name__)

MAX_QUEUE = 10_000
BATCH_SIZE = 200
FLUSH_INTERVAL_SECONDS = 0.5
MAX_ROWS = 1_000_000
PURGE_INTERVAL_SECONDS = 3600
DELETE_CHUNK = 10_000
#: A ``details`` longer than this is replaced by ``{"truncated": true}``.
MAX_DETAILS_CHARS = 8000
_WARN_EVERY_SECONDS = 60

#: The fields that have their own column; everything else goes to ``details``.
COLUMN_FIELDS = ("ts", "event", "user", "source", "result", "reason")
_LIMITS = {"event": 64, "username": 255, "source": 64, "result": 32, "reason": 64}


def _short(value, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text[:limit]


def _is_secret_name(name: str) -> bool:
    folded = name.lower()
    return "password" in folded or "secret" in folded


def to_row(record: dict) -> dict:
    """The ``ldap_auth_audit`` row of one audit record."""
    details = {
        key: value
        for key, value in record.items()
        if key not in COLUMN_FIELDS and not _is_secret_name(str(key))
    }
    text = json.dumps(details, default=str)
    if len(text) > MAX_DETAILS_CHARS:
        text = json.dumps({"truncated": True, "worker": record.get("worker")}, default=str)
    ts = record.get("ts")
    return {
        "ts_ms": round(float(ts if ts is not None else time.time()) * 1000),
        "event": _short(record.get("event"), _LIMITS["event"]) or "unknown",
        "username": _short(record.get("user"), _LIMITS["username"]),
        "source": _short(record.get("source"), _LIMITS["source"]),
        "result": _short(record.get("result"), _LIMITS["result"]) or "",
        "reason": _short(record.get("reason"), _LIMITS["reason"]) or "",
        "details": text,
    }


class ActivityRecorder(ActivityBounds):
    """The queue, the writer thread and the table's bounds (see the module docstring)."""

    def __init__(
        self,
        engine: sa.engine.Engine,
        retention_days: int,
        *,
        max_queue: int = MAX_QUEUE,
        batch_size: int = BATCH_SIZE,
        interval: float = FLUSH_INTERVAL_SECONDS,
        max_rows: int = MAX_ROWS,
        purge_interval: float = PURGE_INTERVAL_SECONDS,
        delete_chunk: int = DELETE_CHUNK,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.retention_days = retention_days
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.interval = interval
        self.max_rows = max_rows
        self.purge_interval = purge_interval
        self.delete_chunk = delete_chunk
        self._clock = clock
        self._queue: deque[dict] = deque()
        self._ready = threading.Condition()
        self._writing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_purge = 0.0
        self._written_since_cap = 0
        self._last_warning = {"dropped": 0.0, "failed": 0.0}
        #: Counters (this process): rows dropped from a full queue, written, in how
        #: many transactions, lost to a database error, deleted by retention and cap.
        self.dropped = 0
        self.written = 0
        self.batches = 0
        self.failed = 0
        self.purged = 0

    # -- the sink (request threads) ---------------------------------------
    def record(self, record: dict) -> None:
        row = to_row(record)
        with self._ready:
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self.dropped += 1
                self._warn("dropped", "Activity queue full: %d rows dropped so far (oldest first)")
            self._queue.append(row)
            if len(self._queue) >= self.batch_size:
                self._ready.notify()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def stats(self) -> dict:
        return {
            "queued": self.queued,
            "dropped": self.dropped,
            "written": self.written,
            "batches": self.batches,
            "failed": self.failed,
            "purged": self.purged,
        }

    # -- the writer --------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="mlflow-ldap-auth-activity", daemon=True
        )
        self._thread.start()
        atexit.register(self.stop)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop recording and write what is queued (also the ``atexit`` hook).

        The recorder leaves the audit sinks first, so nothing audited later is queued
        where no thread will write it; an exit never waits more than about
        ``2 * timeout`` for a writer stuck on the database.
        """
        audit.remove_sink(self.record)
        self._stop.set()
        with self._ready:
            self._ready.notify_all()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            atexit.unregister(self.stop)
        self.flush(timeout)

    def flush(self, timeout: float = -1) -> None:
        """Write every queued row now, in this thread (batches of ``batch_size``);
        ``timeout``: how long to wait for a write in progress (-1: as long as it takes)."""
        if not self._writing.acquire(timeout=timeout):
            _logger.warning("Activity table: %d rows not written at exit", len(self._queue))
            return
        try:
            while True:
                with self._ready:
                    count = min(len(self._queue), self.batch_size)
                    batch = [self._queue.popleft() for _ in range(count)]
                if not batch:
                    break
                self._write(batch)
            if self._written_since_cap >= max(self.max_rows // 10, 1):
                self._guarded(self.enforce_cap)
        finally:
            self._writing.release()

    def _write(self, batch: list[dict]) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(tables.audit), batch)
        except sa.exc.SQLAlchemyError as exc:
            self.failed += len(batch)
            self._warn("failed", "Activity rows not written (%d lost so far): %s", exc)
            return
        self.written += len(batch)
        self.batches += 1
        self._written_since_cap += len(batch)

    def _run(self) -> None:
        while True:
            if self._clock() >= self._next_purge:
                self._next_purge = self._clock() + self.purge_interval
                self._guarded(self.purge)
            with self._ready:
                if not self._stop.is_set() and len(self._queue) < self.batch_size:
                    self._ready.wait(self.interval)
            self._guarded(self.flush)
            if self._stop.is_set():
                return

    def _guarded(self, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception:
            _logger.exception("Activity table: %s failed", getattr(step, "__name__", step))

    def _warn(self, kind: str, message: str, *args) -> None:
        now = time.monotonic()
        if now - self._last_warning[kind] >= _WARN_EVERY_SECONDS:
            self._last_warning[kind] = now
            count = self.dropped if kind == "dropped" else self.failed
            _logger.warning(message, count, *args)
