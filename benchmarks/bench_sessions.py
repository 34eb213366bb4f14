"""What a warm session check costs a request, beside a warm token check.

    .venv/bin/python benchmarks/bench_sessions.py [--database sqlite|postgres] [--checks 20000]

One worker's ``SessionAuthenticator`` and ``TokenAuthenticator`` on one database (a
SQLite file, or a throwaway PostgreSQL with ``--database postgres``), each with a real
``Revalidator`` whose owner row is fresh (a fake directory that is never asked), after
a warm-up: the session check reads its row on every request (a sign-out anywhere is
refused by the next request: docs/reference/audit.md#sessions), the token check answers
from the worker's memory for ``RECORD_TTL_SECONDS``. Prints the median and 99th
percentile per check in microseconds. Run it at nice 19 on a quiet machine; the
numbers are this machine's, not a bound of the product.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from mlflow_ldap_auth.auth.admission import Admitted
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.ldap.account_state import AccountState
from mlflow_ldap_auth.ldap.entries import DirectoryUser
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.store import SessionStore
from mlflow_ldap_auth.tokens.authenticator import TokenAuthenticator
from mlflow_ldap_auth.tokens.secret_format import new_secret, secret_hash
from mlflow_ldap_auth.tokens.store import CreationLimits, TokenStore

ALICE = DirectoryUser("uid=alice", "alice", account=AccountState("ok", "1"))


class _Admission:
    def admit(self, user, source):
        return Admitted(is_admin=False, changed=False)


def _timed(check, count: int) -> tuple[float, float]:
    for _ in range(200):
        check()
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        check()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--checks", type=int, default=20_000)
    args = parser.parse_args()
    postgres = None
    if args.database == "postgres":
        from postgres import PostgresInstance

        postgres = PostgresInstance().start()
        uri = postgres.create_database("bench_sessions")
    else:
        uri = f"sqlite:///{tempfile.mkdtemp(prefix='bench-sessions.')}/auth.db"
    try:
        engine = tables.create_engine(uri)
        tables.migrate(engine)
        revalidator = Revalidator(
            interval_seconds=300,
            grace_seconds=3600,
            lookup=lambda name: ALICE,
            checks=UserChecks(engine),
            admission=_Admission(),
            cache=CredentialCache(3600, 100, 30, remember_refusal=lambda e: True),
            is_directory_user=lambda p: p.method == "password",
        )
        revalidator.record_login(ALICE)
        sessions = SessionAuthenticator(
            SessionStore(engine), revalidator, idle_seconds=28_800, max_seconds=604_800
        )
        _, session_secret = sessions.sign_in("alice", "127.0.0.1", "1")
        tokens = TokenAuthenticator(TokenStore(engine), revalidator, same_name=str.__eq__)
        token_secret = new_secret()
        now = int(time.time())
        TokenStore(engine).add_within(
            "alice", "bench", secret_hash(token_secret), now, now + 86_400, CreationLimits(10)
        )
        session = _timed(lambda: sessions.authenticate(session_secret, None), args.checks)
        token = _timed(lambda: tokens.authenticate(token_secret, None, None), args.checks)
        print(f"database: {args.database}, {args.checks} warm checks each")
        print(f"session check: median {session[0]:.0f} us, p99 {session[1]:.0f} us")
        print(f"token check:   median {token[0]:.0f} us, p99 {token[1]:.0f} us")
    finally:
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
