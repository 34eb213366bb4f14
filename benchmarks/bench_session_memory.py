"""What 10,000 active browser sessions cost a worker's memory (target: <= 50 MB).

    .venv/bin/python benchmarks/bench_session_memory.py [--sessions 10000] [--users 10000]

One worker's ``SessionAuthenticator`` as ``wiring`` builds it (``max_size`` 10,000; the
``Revalidator``'s ``max_users`` twice the default ``cache_max_size``) on a SQLite file
holding ``--sessions`` live sessions of ``--users`` people (rows written in one
transaction, each owner's check row fresh). Measures the process's resident memory (``VmRSS``)
after a warm-up, after every session was checked once (what a worker keeps of live
sessions: nothing per session, the read is the row's; per owner, revalidation's
memory), and after each of three rounds in which every session is ended elsewhere (one
``UPDATE``) and refused here once, then as many new ones are made: the memory of ended
hashes (one ``SessionRecord`` each, at most ``max_size``) fills, then stays. The
authenticator's and the revalidator's clocks stand still during the run, so no memory
empties by its time bound and the figures are those of the size bounds. The numbers
are this machine's; run at nice 19.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sessions import _Admission

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.ldap.account_state import OK
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.secret_format import new_secret, secret_hash
from mlflow_ldap_auth.sessions.store import SessionStore

MAX_SIZE = 10_000
MAX_USERS = 2 * 10_000  # wiring: max(cache_max_size, 1000) * 2, cache_max_size 10,000
TARGET_MB = 50


def rss_mb() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def write_check_rows(connection, users: int, now: int) -> None:
    """A fresh check row for each of ``users`` people ``user0``... (all in good standing)."""
    connection.execute(
        tables.user_checks.insert(),
        [
            {"username": f"user{i}", "checked_at": now, "status": OK, "password_marker": "1"}
            for i in range(users)
        ],
    )


def sessions_in(engine, count: int, users: int, *, first: int = 0, checked: bool) -> list[str]:
    """``count`` live sessions (ids from ``first``) of ``users`` people ``user0``...,
    whose check rows are written now if not ``checked`` yet; the secrets. One transaction."""
    now = int(time.time())
    secrets = [new_secret() for _ in range(count)]
    with engine.begin() as connection:
        if not checked:
            write_check_rows(connection, users, now)
        connection.execute(
            tables.sessions.insert(),
            [
                {
                    "id": f"{first + i:032x}",
                    "owner": f"user{i % users}",
                    "secret_hash": secret_hash(secret),
                    "created_at": now,
                    "last_seen_at": now,
                    "expires_at": now + 86_400,
                    "password_marker": "1",
                    "source": "10.0.0.1",
                }
                for i, secret in enumerate(secrets)
            ],
        )
    return secrets


def end_all_and_refuse(engine, sessions: SessionAuthenticator, secrets: list[str]) -> None:
    """Every session ended elsewhere (one ``UPDATE``), then refused here once each."""
    with engine.begin() as connection:
        connection.execute(
            tables.sessions.update()
            .where(tables.sessions.c.ended_at.is_(None))
            .values(ended_at=int(time.time()), ended_reason=reasons.ENDED_BY_ADMIN)
        )
    for secret in secrets:
        try:
            sessions.authenticate(secret, None)
        except InvalidCredentials as refused:
            assert refused.reason == reasons.ENDED_SESSION
        else:
            raise AssertionError("an ended session was served")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000)
    args = parser.parse_args()
    engine = tables.create_engine(f"sqlite:///{tempfile.mkdtemp(prefix='bench-mem.')}/auth.db")
    tables.migrate(engine)
    now = time.time()  # the clocks stand still: the size bounds are measured
    revalidator = Revalidator(
        interval_seconds=300,
        grace_seconds=3600,
        lookup=lambda name: None,
        checks=UserChecks(engine),
        admission=_Admission(),
        cache=CredentialCache(3600, 100, 30, remember_refusal=lambda e: True),
        is_directory_user=lambda p: p.method == "password",
        max_users=MAX_USERS,
        clock=lambda: now,
    )
    sessions = SessionAuthenticator(
        SessionStore(engine),
        revalidator,
        idle_seconds=28_800,
        max_seconds=604_800,
        max_size=MAX_SIZE,
        clock=lambda: now,
    )
    secrets = sessions_in(engine, args.sessions, args.users, checked=False)
    for secret in secrets[:200]:
        sessions.authenticate(secret, None)
    before = rss_mb()
    for secret in secrets:
        sessions.authenticate(secret, None)
    live = rss_mb()
    ended = []
    for _ in range(3):  # later rounds: the memory of ended sessions stays bounded
        end_all_and_refuse(engine, sessions, secrets)
        ended.append(rss_mb())
        first = args.sessions * len(ended)
        secrets = sessions_in(engine, args.sessions, args.users, first=first, checked=True)
    print(
        f"{args.sessions} sessions of {args.users} people, max_size {MAX_SIZE}, "
        f"max_users {MAX_USERS}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(f"RSS after a warm-up:                    {before:7.1f} MB")
    print(f"every session checked once:             {live:7.1f} MB (+{live - before:.1f} MB)")
    for number, rss in enumerate(ended, 1):
        print(
            f"ended elsewhere and refused, round {number}:   {rss:7.1f} MB (+{rss - before:.1f} MB)"
        )
    growth = max(live, *ended) - before
    verdict = "met" if growth <= TARGET_MB else "MISSED"
    print(f"growth {growth:.1f} MB (target <= {TARGET_MB} MB: {verdict})")
    engine.dispose()


if __name__ == "__main__":
    main()
