"""The activity table's recorder and reader on a real (temporary) SQLite database.

Batching, the bounded queue, sinks that fail, retention and the row cap
(``activity.recorder``); filters, order and page tokens (``activity.store``).
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
import sqlalchemy as sa

from mlflow_ldap_auth.activity import start_activity
from mlflow_ldap_auth.activity.recorder import ActivityRecorder, to_row
from mlflow_ldap_auth.activity.store import ActivityStore, iso_ms, page_token, parse_time
from mlflow_ldap_auth.auth import audit as audit_module
from mlflow_ldap_auth.auth.audit import add_sink, audit, remove_sink
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import DomainError

DAY = 86_400
NOW = 1_796_000_000.0  # 2026-11-30T00:53:20Z


class Clock:
    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def engine(tmp_path):
    engine = tables.create_engine(f"sqlite:///{tmp_path}/auth.db")
    tables.migrate(engine)
    yield engine
    engine.dispose()


def record(n=0, ts=NOW, **fields):
    base = {
        "ts": ts,
        "event": "login",
        "user": f"user{n}",
        "source": "10.1.2.3",
        "result": "refused",
        "reason": "bad_password",
        "worker": 4242,
    }
    base.update(fields)
    return base


def rows(engine):
    with engine.connect() as connection:
        return connection.execute(sa.select(tables.audit).order_by(tables.audit.c.id)).all()


def count_commits(engine):
    commits = []
    sa.event.listen(engine, "commit", lambda _connection: commits.append(1))
    return commits


# -- audit sinks ---------------------------------------------------------------


def test_audit_calls_each_sink_after_logging_and_a_failing_sink_never_raises(caplog):
    seen = []

    def broken(_record):
        raise RuntimeError("sink is broken")

    add_sink(broken)
    add_sink(seen.append)
    add_sink(seen.append)  # once, however often added
    try:
        with caplog.at_level(logging.INFO, logger="mlflow_ldap_auth"):
            audit("login", user="alice", source="10.0.0.1", result="success", reason="ok", dn="x")
    finally:
        remove_sink(broken)
        remove_sink(seen.append)
    assert len(seen) == 1
    assert seen[0]["event"] == "login" and seen[0]["dn"] == "x" and "worker" in seen[0]
    messages = [r.getMessage() for r in caplog.records]
    assert any('"event": "login"' in m for m in messages)  # the JSON line, unchanged
    assert any("Audit sink" in m and "failed" in m for m in messages)
    assert audit_module._sinks == ()


def test_sinks_get_records_while_the_audit_logger_is_quiet():
    seen = []
    logger = logging.getLogger("mlflow_ldap_auth.audit")
    level = logger.level
    logger.setLevel(logging.WARNING)
    add_sink(seen.append)
    try:
        audit("token_created", user="bob", source=None, result="success", reason="created")
    finally:
        remove_sink(seen.append)
        logger.setLevel(level)
    assert [r["event"] for r in seen] == ["token_created"]


# -- rows ----------------------------------------------------------------------


def test_a_row_keeps_the_columns_and_the_rest_as_json_without_secrets():
    row = to_row(record(dn="uid=a,dc=x", groups=3, password="hunter2", bind_secret="s"))
    assert row["ts_ms"] == int(NOW * 1000)
    assert (row["event"], row["username"], row["source"]) == ("login", "user0", "10.1.2.3")
    assert (row["result"], row["reason"]) == ("refused", "bad_password")
    assert "hunter2" not in row["details"] and "bind_secret" not in row["details"]
    assert '"dn": "uid=a,dc=x"' in row["details"] and '"groups": 3' in row["details"]
    long = to_row(record(user="x" * 5000, blob="y" * 20000))
    assert len(long["username"]) == 255 and long["details"].startswith('{"truncated": true')


# -- batching and the queue ----------------------------------------------------


def test_flush_writes_the_queue_in_batches_one_transaction_each(engine):
    recorder = ActivityRecorder(engine, 30, batch_size=200)
    commits = count_commits(engine)
    for n in range(450):
        recorder.record(record(n))
    assert rows(engine) == [] and recorder.queued == 450  # nothing written by a login
    recorder.flush()
    assert (recorder.written, recorder.batches, len(commits)) == (450, 3, 3)
    assert len(rows(engine)) == 450 and recorder.queued == 0


def test_the_thread_writes_a_burst_in_a_few_batches(engine):
    recorder = ActivityRecorder(engine, 30, batch_size=200, interval=0.2)
    commits = count_commits(engine)
    recorder.start()
    try:
        started = time.monotonic()
        for n in range(1000):
            recorder.record(record(n))
        recording = time.monotonic() - started
        deadline = time.monotonic() + 10
        while recorder.written < 1000 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        recorder.stop()
    assert recorder.written == 1000 and len(rows(engine)) == 1000
    assert recording < 1.0  # the sink never waited on the database
    assert 5 <= recorder.batches <= 15, recorder.batches
    # The start-up purge reads and deletes once; the rest are the batches.
    assert len(commits) <= recorder.batches + 2


def test_the_thread_writes_a_lone_record_within_the_interval(engine):
    recorder = ActivityRecorder(engine, 30, interval=0.1)
    recorder.start()
    try:
        recorder.record(record())
        deadline = time.monotonic() + 5
        while not rows(engine) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(rows(engine)) == 1
    finally:
        recorder.stop()


def test_a_full_queue_drops_the_oldest_and_counts_them(engine, caplog):
    recorder = ActivityRecorder(engine, 30, max_queue=5)
    with caplog.at_level(logging.WARNING, logger="mlflow_ldap_auth"):
        for n in range(8):
            recorder.record(record(n))
    assert (recorder.queued, recorder.dropped) == (5, 3)
    assert any("queue full" in r.getMessage() for r in caplog.records)
    recorder.flush()
    assert [r.username for r in rows(engine)] == [f"user{n}" for n in range(3, 8)]
    assert recorder.stats() == {
        "queued": 0,
        "dropped": 3,
        "written": 5,
        "batches": 1,
        "failed": 0,
        "purged": 0,
    }


def test_a_database_error_is_counted_and_never_raised(tmp_path, caplog):
    engine = tables.create_engine(f"sqlite:///{tmp_path}/no-tables.db")  # never migrated
    recorder = ActivityRecorder(engine, 30)
    recorder.record(record())
    with caplog.at_level(logging.WARNING, logger="mlflow_ldap_auth"):
        recorder.flush()
    assert (recorder.failed, recorder.written) == (1, 0)
    assert any("not written" in r.getMessage() for r in caplog.records)
    engine.dispose()


def test_stop_writes_what_is_queued(engine):
    recorder = ActivityRecorder(engine, 30, interval=60)
    recorder.start()
    recorder.record(record(1))
    recorder.record(record(2))
    recorder.stop()
    assert [r.username for r in rows(engine)] == ["user1", "user2"]
    assert not any(t.name == "mlflow-ldap-auth-activity" for t in threading.enumerate())


def test_start_activity_is_a_sink_until_stopped_and_off_at_zero_days(engine):
    assert start_activity(engine, 0) is None
    activity = start_activity(engine, 30)
    try:
        audit("mapping_created", user="carol", source=None, result="success", reason="api")
        activity.recorder.flush()
    finally:
        activity.stop()
    assert activity.recorder.record not in audit_module._sinks
    [row] = rows(engine)
    assert (row.event, row.username, row.source) == ("mapping_created", "carol", None)


# -- retention and the cap -----------------------------------------------------


def test_purge_deletes_rows_older_than_the_retention(engine):
    clock = Clock()
    recorder = ActivityRecorder(engine, 30, clock=clock, delete_chunk=7)
    for n in range(20):
        recorder.record(record(n, ts=NOW - 31 * DAY + n))  # past the retention
    for n in range(20, 25):
        recorder.record(record(n, ts=NOW - 29 * DAY))
    recorder.flush()
    assert recorder.purge() == 20
    assert [r.username for r in rows(engine)] == [f"user{n}" for n in range(20, 25)]
    clock.now += 2 * DAY
    assert recorder.purge() == 5 and rows(engine) == []
    assert recorder.purged == 25


def test_the_thread_purges_at_start(engine):
    old = ActivityRecorder(engine, 30)
    old.record(record(1, ts=time.time() - 40 * DAY))
    old.record(record(2))
    old.flush()
    recorder = ActivityRecorder(engine, 30, interval=0.05)
    recorder.start()
    try:
        deadline = time.monotonic() + 5
        while len(rows(engine)) > 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        recorder.stop()
    assert [r.username for r in rows(engine)] == ["user2"]


def test_the_cap_keeps_the_newest_rows(engine):
    recorder = ActivityRecorder(engine, 30, max_rows=1000, delete_chunk=3)
    for n in range(25):
        recorder.record(record(n))
    recorder.flush()
    recorder.max_rows = 10
    assert recorder.enforce_cap() == 15
    assert [r.username for r in rows(engine)] == [f"user{n}" for n in range(15, 25)]
    assert recorder.enforce_cap() == 0


def test_the_cap_is_kept_while_writing_a_flood(engine):
    recorder = ActivityRecorder(engine, 30, max_rows=100, batch_size=50, delete_chunk=40)
    for n in range(1000):
        recorder.record(record(n))
        if n % 50 == 49:
            recorder.flush()  # what the thread does
    count = len(rows(engine))
    assert 100 <= count <= 100 + 100 // 10 + 50, count
    assert rows(engine)[-1].username == "user999"


# -- reading -------------------------------------------------------------------


def fill(engine, records):
    recorder = ActivityRecorder(engine, 30)
    for r in records:
        recorder.record(r)
    recorder.flush()
    return ActivityStore(engine)


def test_records_come_out_newest_first_in_the_spec_shape(engine):
    store = fill(
        engine,
        [
            record(1, ts=NOW, result="success", reason="directory_bind", dn="uid=user1"),
            record(2, ts=NOW + 1.5, event="token_created", source=None, token_id="t1"),
        ],
    )
    answer = store.search()
    assert answer["next_page_token"] is None
    first, second = answer["records"]
    assert first == {
        "ts": iso_ms(int((NOW + 1.5) * 1000)),
        "event": "token_created",
        "user": "user2",
        "source": None,
        "result": "refused",
        "reason": "bad_password",
        "details": {"worker": 4242, "token_id": "t1"},
    }
    assert second["details"]["dn"] == "uid=user1" and second["result"] == "success"
    assert first["ts"] == "2026-11-30T00:53:21.500Z"


def test_filters(engine):
    store = fill(
        engine,
        [
            record(0, user="Alice", ts=NOW - 3600),
            record(1, user="alice", ts=NOW, result="success", reason="directory_bind"),
            record(2, user="bob", ts=NOW + 60, reason="throttled"),
            record(3, user="bob", ts=NOW + 120, event="token_refused", reason="revoked"),
            record(4, user=None, ts=NOW + 180, event="mapping_created", reason="api"),
        ],
    )

    def users(**filters):
        return [r["user"] for r in store.search(**filters)["records"]]

    assert users(user="ALICE") == ["alice", "Alice"]
    assert users(user=" bob ") == ["bob", "bob"]
    assert users(result="success") == ["alice"]
    assert users(reason="throttled") == ["bob"]
    assert users(event="token_refused") == ["bob"]
    assert users(event="mapping_created") == [None]
    assert users(user="bob", reason="revoked") == ["bob"]
    since = iso_ms(int(NOW * 1000))
    assert users(since=since) == [None, "bob", "bob", "alice"]  # inclusive
    assert users(until=since) == ["Alice"]  # exclusive
    assert users(since="2026-11-29T23:00:00+00:00", until="2026-11-30T00:53") == ["Alice"]
    assert users(user="", result="", since="") == [None, "bob", "bob", "alice", "Alice"]
    assert users(user="nobody") == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"since": "yesterday"}, "since must be an ISO 8601"),
        ({"until": "2026-13-01"}, "until must be an ISO 8601"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"page_token": page_token(1, 2)[:-2] + "!!"}, "page_token"),
        # Well formed, but past what a BIGINT column holds (was a database error, 500).
        ({"page_token": page_token(9_999_999_999_999_999_999, 1)}, "page_token"),
        ({"max_results": 0}, "max_results"),
        ({"max_results": "501"}, "max_results"),
        ({"max_results": "ten"}, "max_results"),
    ],
)
def test_bad_filters_are_invalid_parameter_values(engine, filters, message):
    store = ActivityStore(engine)
    with pytest.raises(DomainError, match=message) as info:
        store.search(**filters)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_times_in_several_spellings():
    assert parse_time("since", "1970-01-02") == DAY * 1000
    assert parse_time("since", "1970-01-01T00:00:01Z") == 1000
    assert parse_time("since", "1970-01-01T01:00:00+01:00") == 0
    assert parse_time("since", "1970-01-01 00:00:00.250") == 250


def test_paging_through_equal_times_neither_repeats_nor_skips(engine):
    # 137 records, many with the same millisecond: the id breaks the ties.
    store = fill(engine, [record(n, ts=NOW + n // 4) for n in range(137)])
    seen, token, pages = [], None, 0
    while True:
        answer = store.search(max_results=10, page_token=token)
        seen += [r["user"] for r in answer["records"]]
        pages += 1
        token = answer["next_page_token"]
        if token is None:
            break
        assert isinstance(token, str) and "=" not in token
    assert pages == 14 and len(seen) == 137 and len(set(seen)) == 137
    expected = sorted(range(137), key=lambda n: (n // 4, n), reverse=True)
    assert seen == [f"user{n}" for n in expected]
    assert len(store.search()["records"]) == 50  # the default page
    assert len(store.search(max_results="500")["records"]) == 137


def test_a_page_token_keeps_its_place_while_new_records_arrive(engine):
    store = fill(engine, [record(n, ts=NOW + n) for n in range(6)])
    first = store.search(max_results=3)
    fill(engine, [record(99, ts=NOW + 100)])
    second = store.search(max_results=3, page_token=first["next_page_token"])
    assert [r["user"] for r in second["records"]] == ["user2", "user1", "user0"]
    assert second["next_page_token"] is None


def test_a_flood_of_refusals_does_not_push_successes_and_changes_out(engine):
    recorder = ActivityRecorder(engine, 30, max_rows=20, delete_chunk=7)
    recorder.record(record(0, result="success", reason="directory_bind"))
    recorder.record(record(1, event="mapping_created", result="success", reason="api"))
    for n in range(100):
        recorder.record(record(100 + n))  # refused logins
    recorder.flush()  # enforces the cap too (every max_rows / 10 rows written)
    recorder.enforce_cap()
    kept = rows(engine)
    assert len(kept) == 20
    assert {"user0", "user1"} <= {r.username for r in kept}
    assert [r.username for r in kept if r.result == "refused"] == [
        f"user{n}" for n in range(182, 200)
    ]
    # Only when refusals cannot make room do routine rows go, oldest first; the
    # change record stays.
    for n in range(30):
        recorder.record(record(300 + n, result="success", reason="directory_bind"))
    recorder.flush()
    recorder.enforce_cap()
    kept = rows(engine)
    assert len(kept) == 20 and all(r.result == "success" for r in kept)
    assert [r.username for r in kept] == ["user1"] + [f"user{n}" for n in range(311, 330)]


CHANGES = [
    {"event": "mapping_created", "reason": "api"},
    {"event": "mapping_deleted", "reason": "page"},
    {"event": "user_provisioned", "reason": "admin_request"},
    {"event": "user_adopted", "reason": "existing_mlflow_user"},
    {"event": "break_glass_password_changed", "reason": "changed"},
    {"event": "token_revoked", "reason": "revoked_by_admin"},
    {"event": "token_revoked", "reason": "revoked_by_operator"},
]


def test_one_users_token_churn_never_pushes_change_records_out(engine):
    recorder = ActivityRecorder(engine, 30, max_rows=50, batch_size=100, delete_chunk=7)
    for n, change in enumerate(CHANGES):
        recorder.record(record(n, ts=NOW + n, result="success", user="carol", **change))
    for n in range(300):  # create, revoke, and be refused, in a loop
        ts = NOW + 100 + n
        recorder.record(record(n, ts=ts, event="token_created", user="mallory", result="success"))
        recorder.record(
            record(
                n,
                ts=ts,
                event="token_revoked",
                user="mallory",
                result="success",
                reason="revoked_by_owner",
            )
        )
        recorder.record(
            record(n, ts=ts, event="token_created", user="mallory", reason="rate_limited")
        )
        if n % 20 == 19:
            recorder.flush()  # what the thread does, cap included
    recorder.flush()
    recorder.enforce_cap()
    kept = rows(engine)
    assert len(kept) == 50
    assert [(r.event, r.reason) for r in kept[: len(CHANGES)]] == [
        (c["event"], c["reason"]) for c in CHANGES
    ]
    churn = kept[len(CHANGES) :]
    assert all(r.result == "success" for r in churn)  # refusals went first
    assert churn[-1].ts_ms == round((NOW + 399) * 1000)  # the newest routine rows stay
    # Only a table of change records alone gives up its oldest ones.
    recorder.max_rows = 3
    recorder.enforce_cap()
    assert [(r.event, r.reason) for r in rows(engine)] == [
        (c["event"], c["reason"]) for c in CHANGES[-3:]
    ]
