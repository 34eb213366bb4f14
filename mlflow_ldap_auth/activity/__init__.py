"""The activity table: audit records kept in ``database_uri`` and read back.

What it promises: docs/operations.md#activity.

``recorder.ActivityRecorder`` is a sink of ``auth.audit``: it queues each record in
memory and a thread of the worker writes them in batches, so a login never waits on
the database. ``store.ActivityStore`` answers the REST route, the admin page and the
client (newest first, filters, page tokens). ``Activity`` holds the two for ``Plugin``;
it is None when ``audit_retention_days = 0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from mlflow_ldap_auth.activity.recorder import ActivityRecorder
from mlflow_ldap_auth.activity.store import ActivityStore
from mlflow_ldap_auth.auth import audit

__all__ = ["Activity", "ActivityRecorder", "ActivityStore", "start_activity"]


@dataclass(frozen=True)
class Activity:
    recorder: ActivityRecorder
    store: ActivityStore

    def stats(self) -> dict:
        """The recorder's counts (the status page)."""
        return self.recorder.stats()

    def stop(self) -> None:
        """Stop recording (the sink goes, the queue is written)."""
        self.recorder.stop()


def start_activity(engine: sa.engine.Engine, retention_days: int) -> Activity | None:
    """Record every audit record of this process from now on; None when retention is 0."""
    if retention_days <= 0:
        return None
    recorder = ActivityRecorder(engine, retention_days)
    audit.add_sink(recorder.record)
    recorder.start()
    return Activity(recorder, ActivityStore(engine))
