"""What 10,000 access tokens in use cost a worker's memory (target: <= 50 MB).

    .venv/bin/python benchmarks/bench_token_memory.py [--tokens 10000] [--users 10000] [--rounds 5]

One worker's ``TokenAuthenticator`` as ``wiring`` builds it (``max_size`` 10,000; the
``Revalidator``'s ``max_users`` twice the default ``cache_max_size``) on a SQLite file
(in ``/dev/shm`` where there is one, so the once-a-minute ``last_used`` writes cost no
disk flush) holding ``--tokens`` active tokens of ``--users`` people (rows written in
one transaction, each owner's check row fresh). Measures the process's resident memory
(``VmRSS``) after a warm-up, then after:

* every token used once (what a worker remembers of a token in use: its record and
  principal for ``RECORD_TTL_SECONDS``, its id for the minute of ``last_used``, and
  per owner revalidation's memory), and used again from memory (``peek``) with no
  growth;
* ``--rounds`` rounds of ``--tokens`` well-formed secrets nobody issued (a client or an
  attacker trying made-up tokens: each hash is remembered as unknown, at most
  ``max_size`` of them);
* as many rounds of as many *new* tokens, each used once: the memories are full,
  each new token pushes the oldest out, and the memory levels off.

The authenticator's and the revalidator's clocks stand still during the run, so no
memory empties by its time bound (5 s for a record) and the figures are those of the
size bounds: what a worker keeps at most, whatever the request rate. The numbers are
this machine's; run at nice 19.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_session_memory import MAX_USERS, TARGET_MB, rss_mb, write_check_rows
from bench_sessions import _Admission

from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.tokens.authenticator import TokenAuthenticator
from mlflow_ldap_auth.tokens.secret_format import new_secret, secret_hash
from mlflow_ldap_auth.tokens.store import TokenStore

MAX_SIZE = 10_000  # TokenAuthenticator's default, as wiring builds it


def tokens_in(engine, count: int, users: int, *, first: int = 0, checked: bool) -> list[str]:
    """``count`` active tokens (ids from ``first``) of ``users`` people ``user0``...,
    whose check rows are written now if not ``checked`` yet; the secrets. One transaction."""
    now = int(time.time())
    secrets = [new_secret() for _ in range(count)]
    with engine.begin() as connection:
        if not checked:
            write_check_rows(connection, users, now)
        connection.execute(
            tables.tokens.insert(),
            [
                {
                    "id": f"{first + i:032x}",
                    "owner": f"user{i % users}",
                    "name": f"token {first + i}",
                    "secret_hash": secret_hash(secret),
                    "created_at": now,
                    "expires_at": now + 86_400,
                }
                for i, secret in enumerate(secrets)
            ],
        )
    return secrets


def use_all(tokens: TokenAuthenticator, secrets: list[str]) -> None:
    for secret in secrets:
        tokens.authenticate(secret, None, "10.0.0.1")


def peek_all(tokens: TokenAuthenticator, secrets: list[str]) -> int:
    """How many of ``secrets`` memory alone answered."""
    return sum(tokens.peek(secret, None) is not None for secret in secrets)


def refuse_unknown(tokens: TokenAuthenticator, count: int) -> None:
    for _ in range(count):
        try:
            tokens.authenticate(new_secret(), None, "10.0.0.2")
        except InvalidCredentials:
            continue
        raise AssertionError("a token nobody issued was served")


def database_directory() -> str:
    shm = "/dev/shm"
    return tempfile.mkdtemp(prefix="bench-tokmem.", dir=shm if os.path.isdir(shm) else None)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5, help="of unknown, and of new, tokens")
    args = parser.parse_args()
    engine = tables.create_engine(f"sqlite:///{database_directory()}/auth.db")
    tables.migrate(engine)
    now = time.time()
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
    tokens = TokenAuthenticator(
        TokenStore(engine),
        revalidator,
        same_name=lambda typed, owner: typed == owner,
        clock=lambda: now,
    )
    started = time.monotonic()
    secrets = tokens_in(engine, args.tokens, args.users, checked=False)
    use_all(tokens, secrets[:200])
    before = rss_mb()
    use_all(tokens, secrets)
    used = rss_mb()
    answered = peek_all(tokens, secrets)
    peeked = rss_mb()
    unknown = []
    for _ in range(args.rounds):
        refuse_unknown(tokens, args.tokens)
        unknown.append(rss_mb())
    fresh = []
    for number in range(1, args.rounds + 1):
        more = tokens_in(engine, args.tokens, args.users, first=args.tokens * number, checked=True)
        use_all(tokens, more)
        fresh.append(rss_mb())
    print(
        f"{args.tokens} tokens of {args.users} people, max_size {MAX_SIZE}, "
        f"max_users {MAX_USERS}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{time.monotonic() - started:.0f} s"
    )
    rows = [
        ("RSS after a warm-up", before),
        ("every token used once", used),
        (f"used again from memory ({answered} of {len(secrets)} answered)", peeked),
        *((f"{args.tokens} unknown secrets, round {n}", rss) for n, rss in enumerate(unknown, 1)),
        *((f"{args.tokens} new tokens used, round {n}", rss) for n, rss in enumerate(fresh, 1)),
    ]
    for label, rss in rows:
        print(f"{label + ':':<52}{rss:7.1f} MB (+{rss - before:.1f} MB)")
    growth = max(used, peeked, *unknown, *fresh) - before
    verdict = "met" if growth <= TARGET_MB else "MISSED"
    print(f"growth {growth:.1f} MB (target <= {TARGET_MB} MB: {verdict})")
    engine.dispose()


if __name__ == "__main__":
    main()
