"""What a warm session check costs a request, beside a warm token and a warm password.

    .venv/bin/python benchmarks/bench_sessions.py [--database sqlite|postgres] [--checks 20000]
        [--profile]

One worker's ``SessionAuthenticator``, ``TokenAuthenticator`` and ``LoginService`` on
one database (a SQLite file, or a throwaway PostgreSQL with ``--database postgres``),
with a real ``Revalidator`` whose owner row is fresh (a fake directory, asked once for
the password's first login), after a warm-up: the session check reads its row on every
request (a sign-out anywhere is refused by the next request:
docs/reference/audit.md#sessions), the token check answers from the worker's memory
for ``RECORD_TTL_SECONDS``, the password check (``LoginService.login``, the whole warm
path of a Basic login) from the credential cache. The three run interleaved in rounds,
so the machine's other load falls on all of them alike.

Prints per check the median and 99th percentile in microseconds (wall time: on
PostgreSQL it includes the round trip's wait) and the CPU time of this process per
check (what a server's worker spends: the figure ``bench_auth.py`` sums), and the
session's ratios against the other two. ``--profile`` prints cProfile's view of the
session check instead. Run it at nice 19 on a quiet machine; the numbers are this
machine's, not a bound of the product.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from types import SimpleNamespace

from mlflow_ldap_auth.auth.admission import Admitted
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.login import LoginService
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


PASSWORD = "alice-password"
ROUNDS = 10


class _Admission:
    provisioner = None

    def admit(self, user, source):
        return Admitted(is_admin=False, changed=False)


class _Directory:
    """Answers the password's one cold login; warm checks never reach it."""

    def authenticate(self, login, password, guard=None):
        return ALICE


class _Timings:
    def __init__(self) -> None:
        self.samples: list[float] = []
        self.cpu_ns = 0

    def run(self, check, count: int) -> None:
        cpu_before = time.process_time_ns()
        for _ in range(count):
            start = time.perf_counter_ns()
            check()
            self.samples.append((time.perf_counter_ns() - start) / 1000)
        self.cpu_ns += time.process_time_ns() - cpu_before

    def summary(self) -> tuple[float, float, float]:
        """Median and p99 wall time, and CPU time, per check (µs)."""
        samples = sorted(self.samples)
        return (
            statistics.median(samples),
            samples[int(len(samples) * 0.99)],
            self.cpu_ns / len(samples) / 1000,
        )


def _interleaved(checks: dict, count: int) -> dict[str, tuple[float, float, float]]:
    for check in checks.values():
        for _ in range(200):
            check()
    timings = {name: _Timings() for name in checks}
    for _ in range(ROUNDS):
        for name, check in checks.items():
            timings[name].run(check, count // ROUNDS)
    return {name: timing.summary() for name, timing in timings.items()}


def _profile(check, count: int) -> None:
    for _ in range(200):
        check()
    profile = cProfile.Profile()
    profile.runcall(lambda: [check() for _ in range(count)])
    pstats.Stats(profile).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true", help="cProfile the session check")
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
        logins = LoginService(
            SimpleNamespace(mlflow=SimpleNamespace(admin_username="admin")),  # type: ignore[arg-type]
            _Directory(),  # type: ignore[arg-type]
            store=None,
            sync=None,  # type: ignore[arg-type]
            accounts=None,  # type: ignore[arg-type]
            cache=CredentialCache(3600, 100, 30, remember_refusal=lambda e: True),
            revalidator=revalidator,
            admission=_Admission(),  # type: ignore[arg-type]
        )
        checks = {
            "session": lambda: sessions.authenticate(session_secret, None),
            "token": lambda: tokens.authenticate(token_secret, None, None),
            "password": lambda: logins.login("alice", PASSWORD, None),
        }
        if args.profile:
            _profile(checks["session"], args.checks)
            return
        results = _interleaved(checks, args.checks)
        print(
            f"database: {args.database}, {args.checks} warm checks each, "
            f"{ROUNDS} interleaved rounds, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        )
        for name, (median, p99, cpu) in results.items():
            print(
                f"{name + ' check:':16} median {median:5.0f} us, p99 {p99:5.0f} us, "
                f"CPU {cpu:5.1f} us"
            )
        session = results["session"]
        for other in ("token", "password"):
            print(
                f"session vs {other}: {session[0] / results[other][0]:.1f}x median, "
                f"{session[2] / results[other][2]:.1f}x CPU"
            )
    finally:
        if postgres is not None:
            postgres.stop()


if __name__ == "__main__":
    main()
