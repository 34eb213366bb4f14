"""What revalidation of active users costs the directory, for a fleet of two servers.

    .venv/bin/python benchmarks/bench_revalidation.py [--users 1000] [--interval 10]
        [--intervals 4] [--servers 2] [--workers 2] [--period 5] [--clients 6]
        [--database sqlite|postgres] [--idle]

Starts a seeded slapd and adds ``--users`` people (``uid=benchNNNN``, one ldapadd),
some in the seeded groups: every 2nd in ``mlflow-users``, every 10th in
``data-science`` too, and every 10th (others) in ``ml-platform`` (nested in
``data-science``). Then ``--servers`` x ``mlflow server --app-name ldap-auth --workers
W`` sharing one ``database_uri`` (a SQLite file, or a throwaway PostgreSQL with
``--database postgres``; each server its own tracking store),
``revalidate_interval_seconds = --interval`` and ``cache_ttl_seconds = 3600``. Every
user creates one access token (Basic with the password, spread over the servers), then
keep-alive clients send, for every user, ``GET
/api/2.0/mlflow/experiments/search?max_results=1`` with the user's token to every
server about every ``--period`` seconds (each connection takes another slice of the
users each round, so every worker sees every user). ``--idle`` sends no requests (the
users stay active through the passwords cached when their tokens were made): what
revalidation alone costs.

After a warm-up of one interval, for ``--intervals`` intervals, slapd's stats log is
read: searches (user searches under ou=people, group searches under ou=groups, other),
binds (service account separately), and which users each user search named (a batched
search names several: checks per user per interval). ``ldap_auth_user_checks`` is
sampled every second for the age of each user's last check. What a check costs is also
measured directly in this process: ``Directory.lookup`` for one user of each membership
kind and ``Directory.lookup_many`` for a batch, with its ``operations`` counter.

The verdict is only given when the fleet kept up: no user's last check older than the
interval (plus a tick) and every user's token used on every server within each
interval. Otherwise the numbers describe an overloaded fleet ("NOT JUDGEABLE").
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "openldap"))

from bench_servers import Server, cpu_seconds, start_server, stop_server, wait_healthy  # noqa: E402

from slapd_instance import (  # noqa: E402
    GROUPS_DN,
    PEOPLE_DN,
    ROOT_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SlapdInstance,
)

ADMIN_PASSWORD = "bench-admin-password-1"
TOKENS_PATH = "/api/2.0/mlflow/ldap-auth/tokens"
SEARCH_PATH = "/api/2.0/mlflow/experiments/search?max_results=1"
USERS_GROUP = f"cn=mlflow-users,{GROUPS_DN}"
DATA_SCIENCE = f"cn=data-science,{GROUPS_DN}"
ML_PLATFORM = f"cn=ml-platform,{GROUPS_DN}"  # a member of data-science (nested)
ADMINS_GROUP = f"cn=mlflow-admins,{GROUPS_DN}"

SRCH = re.compile(r' SRCH base="([^"]*)" scope=\d+ deref=\d+ filter="(.*)"$')
BIND = re.compile(r' BIND dn="([^"]*)" method=128')
BENCH_UID = re.compile(r"uid=(bench\d+)\)", re.IGNORECASE)


def uid(index: int) -> str:
    return f"bench{index:04d}"


def password(index: int) -> str:
    return f"bench-password-{index:04d}"


def groups_of(index: int) -> tuple[str, ...]:
    groups = []
    if index % 2 == 0:
        groups.append(USERS_GROUP)
    if index % 10 == 0:
        groups.append(DATA_SCIENCE)
    if index % 10 == 5:
        groups.append(ML_PLATFORM)
    return tuple(groups)


def kind_of(index: int) -> str:
    groups = groups_of(index)
    if ML_PLATFORM in groups:
        return "ml-platform (nested in data-science)"
    if DATA_SCIENCE in groups:
        return "mlflow-users + data-science"
    if groups:
        return "mlflow-users only"
    return "no group"


def add_users(slapd: SlapdInstance, count: int) -> None:
    """All people in one ldapadd, then one ldapmodify adding the members of each group."""
    people = []
    members: dict[str, list[str]] = collections.defaultdict(list)
    for index in range(count):
        dn = f"uid={uid(index)},{PEOPLE_DN}"
        people.append(
            f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid(index)}\ncn: Bench {index}\n"
            f"sn: Bench\nuserPassword: {password(index)}\n"
        )
        for group in groups_of(index):
            members[group].append(dn)
    slapd.ldif("ldapadd", "\n".join(people))
    changes = [
        f"dn: {group}\nchangetype: modify\nadd: member\n" + "".join(f"member: {dn}\n" for dn in dns)
        for group, dns in members.items()
    ]
    slapd.ldif("ldapmodify", "\n".join(changes))


def write_config(directory: Path, slapd: SlapdInstance, interval: int, database_uri: str) -> Path:
    path = directory / "ldap_auth.ini"
    path.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = {database_uri}\nadmin_username = admin\n"
        f"admin_password = {ADMIN_PASSWORD}\n\n"
        f"[ldap]\nserver_uri = {slapd.ldap_uri}\nbind_dn = {SERVICE_DN}\n"
        f"bind_password = {SERVICE_PASSWORD}\nuser_search_base = {PEOPLE_DN}\n"
        f"group_search_base = {GROUPS_DN}\nadmin_groups = {ADMINS_GROUP}\n"
        f"revalidate_interval_seconds = {interval}\ncache_ttl_seconds = 3600\n"
    )
    return path


# -- slapd's log -------------------------------------------------------------------
class SlapdLog:
    """Reads slapd's ``-d stats`` log incrementally and classifies the operations."""

    def __init__(self, slapd: SlapdInstance) -> None:
        self._file = slapd.log_file.open("rb")
        self._partial = b""

    def skip(self) -> None:
        self.read()

    def read(self) -> list[str]:
        data = self._partial + self._file.read()
        lines = data.split(b"\n")
        self._partial = lines.pop()
        return [line.decode("utf-8", "replace") for line in lines]


@dataclass
class Operations:
    user_searches: int = 0
    group_searches: int = 0
    other_searches: collections.Counter = field(default_factory=collections.Counter)
    service_binds: int = 0
    root_binds: int = 0
    other_binds: collections.Counter = field(default_factory=collections.Counter)
    per_user: collections.Counter = field(default_factory=collections.Counter)

    @property
    def searches(self) -> int:
        return self.user_searches + self.group_searches + sum(self.other_searches.values())

    @property
    def user_binds(self) -> int:
        return sum(self.other_binds.values())

    def add(self, lines: list[str]) -> None:
        for line in lines:
            match = SRCH.search(line)
            if match:
                base, search_filter = match.group(1).lower(), match.group(2)
                if base == PEOPLE_DN.lower():
                    self.user_searches += 1
                    # One search may name several users (revalidation batches them).
                    for name in BENCH_UID.findall(search_filter) or [search_filter]:
                        self.per_user[name.lower()] += 1
                elif base == GROUPS_DN.lower():
                    self.group_searches += 1
                else:
                    self.other_searches[f"base={base} filter={search_filter}"] += 1
                continue
            match = BIND.search(line)
            if match:
                dn = match.group(1).lower()
                if dn == SERVICE_DN.lower():
                    self.service_binds += 1
                elif dn == ROOT_DN.lower():
                    self.root_binds += 1
                else:
                    self.other_binds[dn or "(anonymous)"] += 1

    def merge(self, other: Operations) -> None:
        self.user_searches += other.user_searches
        self.group_searches += other.group_searches
        self.other_searches.update(other.other_searches)
        self.service_binds += other.service_binds
        self.root_binds += other.root_binds
        self.other_binds.update(other.other_binds)
        self.per_user.update(other.per_user)


def slapd_barrier(slapd: SlapdInstance, log: SlapdLog, ops: Operations) -> None:
    """Wait until slapd logged everything it received so far (a marker compare)."""
    marker = f"cn=barrier-{os.urandom(6).hex()},{GROUPS_DN}"
    subprocess.run(
        ["ldapcompare", "-x", "-H", slapd.ldap_uri, marker, "cn:x"],
        capture_output=True,
        timeout=30,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = log.read()
        ops.add(lines)
        if any(f'CMP dn="{marker}"' in line for line in lines):
            return
        time.sleep(0.05)


# -- tokens ------------------------------------------------------------------------
def create_token(server: Server, index: int) -> tuple[int, str | None, str | None]:
    """(index, secret or None, error text or None)."""
    try:
        response = requests.post(
            server.url + TOKENS_PATH,
            json={"name": "bench", "expires_in_days": 1},
            auth=(uid(index), password(index)),
            timeout=120,
        )
    except requests.RequestException as exc:
        return index, None, f"{server.name} {uid(index)}: {exc!r}"
    if response.status_code != 200:
        return index, None, f"{server.name} {uid(index)}: {response.status_code} {response.text}"
    return index, response.json()["secret"], None


# -- load ------------------------------------------------------------------------
class KeepAlive:
    """HTTP/1.1 keep-alive GETs with TCP_NODELAY and TCP_QUICKACK (uvicorn #3149)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.connects = 0

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buffer = b""

    def _connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        if not chunk:
            raise ConnectionResetError("closed by the server")
        self.buffer += chunk

    def _until(self, separator: bytes) -> bytes:
        while separator not in self.buffer:
            self._recv()
        head, _, self.buffer = self.buffer.partition(separator)
        return head

    def _exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            self._recv()
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def _response(self) -> tuple[int, bytes, bool]:
        head = self._until(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            key, _, value = line.partition(b":")
            headers[key.strip().lower()] = value.strip().lower()
        if b"chunked" in headers.get(b"transfer-encoding", b""):
            body = b""
            while True:
                size = int(self._until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    while self._until(b"\r\n"):
                        pass  # trailers
                    break
                body += self._exactly(size)
                self._exactly(2)
        else:
            body = self._exactly(int(headers.get(b"content-length", b"0")))
        return status, body, headers.get(b"connection") == b"close"

    def get(self, path: str, authorization: str) -> tuple[int, bytes]:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: {authorization}\r\nConnection: keep-alive\r\n\r\n"
        ).encode()
        for attempt in (1, 2):
            fresh = self.sock is None
            if fresh:
                self._connect()
            try:
                self.sock.sendall(request)
                status, body, close = self._response()
            except OSError:
                self.close()
                if fresh or attempt == 2:
                    raise
                continue  # the server closed an idle keep-alive connection: once more
            if close:
                self.close()
            return status, body
        raise AssertionError("unreachable")


class Load:
    """Per server, ``clients`` keep-alive connections; round k, connection t sends the
    users of slice (t + k) % clients, then waits for the next round (every ``period``)."""

    def __init__(self, servers: list[Server], secrets: dict[int, str], clients: int, period: float):
        self.clients = clients
        self.period = period
        users = sorted(secrets)
        self.slices = [
            [(uid(i), "Bearer " + secrets[i]) for i in users[t::clients]] for t in range(clients)
        ]
        self.keys = [(server.name, uid(i)) for server in servers for i in users]
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.errors: collections.Counter = collections.Counter()
        self.round_seconds: list[float] = []
        self.seen: dict[tuple[str, str], float] = {}
        self.max_gap = 0.0
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(server, t), daemon=True)
            for server in servers
            for t in range(clients)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            if thread.ident is not None:  # started
                thread.join(300)

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return self.ok, self.failed

    def start_window(self) -> None:
        """From now on: the longest time a (server, user) pair went without a request."""
        now = time.monotonic()
        with self.lock:
            self.seen = dict.fromkeys(self.keys, now)
            self.max_gap = 0.0
            self.round_seconds.clear()

    def end_window(self) -> float:
        now = time.monotonic()
        with self.lock:
            open_gaps = max((now - last for last in self.seen.values()), default=0.0)
            self.max_gap = max(self.max_gap, open_gaps)
            self.seen = {}
            return self.max_gap

    def _run(self, server: Server, index: int) -> None:
        connection = KeepAlive(server.port)
        started = time.monotonic()
        round_number = 0
        while not self.stop.is_set():
            round_started = time.monotonic()
            for user, authorization in self.slices[(index + round_number) % self.clients]:
                if self.stop.is_set():
                    break
                try:
                    status, body = connection.get(SEARCH_PATH, authorization)
                except Exception as exc:  # a benchmark reports, it does not crash
                    status, body = None, repr(exc).encode()
                    connection.close()
                now = time.monotonic()
                with self.lock:
                    if status == 200:
                        self.ok += 1
                    else:
                        self.failed += 1
                        self.errors[f"{server.name} {user}: {status} {body[:300]!r}"] += 1
                    key = (server.name, user)
                    last = self.seen.get(key)
                    if last is not None:
                        self.max_gap = max(self.max_gap, now - last)
                        self.seen[key] = now
            else:
                with self.lock:
                    self.round_seconds.append(time.monotonic() - round_started)
            round_number += 1
            next_round = started + round_number * self.period
            self.stop.wait(max(0.0, next_round - time.monotonic()))
        connection.close()


# -- the check table -------------------------------------------------------------
class CheckAges:
    """Samples ``ldap_auth_user_checks`` every second: how old the bench users' last
    checks are (the oldest, and how many are older than the interval)."""

    def __init__(self, database_uri: str, interval: int) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(database_uri)
        self.query = sa.text(
            "SELECT checked_at, status FROM ldap_auth_user_checks WHERE username LIKE 'bench%'"
        )
        self.interval = interval
        self.samples: list[tuple[float, int, int, int]] = []  # oldest, overdue, not ok, rows
        self.errors: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> tuple[float, int, int, int]:
        with self.engine.connect() as connection:
            rows = connection.execute(self.query).fetchall()
        now = time.time()
        ages = [now - checked for checked, _ in rows]
        return (
            max(ages, default=float("nan")),
            sum(age > self.interval for age in ages),
            sum(status != "ok" for _, status in rows),
            len(rows),
        )

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self.samples.append(self.sample())
            except Exception as exc:  # a benchmark reports, it does not crash
                self.errors.append(repr(exc))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.engine.dispose()


# -- one check, measured in this process -----------------------------------------
def searches_per_check(config: Path, users: int) -> dict[str, dict]:
    from mlflow_ldap_auth.config import load_settings
    from mlflow_ldap_auth.ldap.directory import Directory

    settings = load_settings(str(config), environ={})
    directory = Directory(settings.ldap)
    directory.lookup(uid(1))  # opens (binds) the pooled service connection first
    results = {}
    for kind, index in {kind_of(i): i for i in range(min(20, users))}.items():
        before = directory.operations.snapshot()
        user = directory.lookup(uid(index))
        after = directory.operations.snapshot()
        results[kind] = {
            "user": uid(index),
            "searches": after["searches"] - before["searches"],
            "binds": after["binds"] - before["binds"],
            "found": user is not None,
        }
    if hasattr(directory, "lookup_many"):
        batch = [uid(i) for i in range(min(50, users))]
        before = directory.operations.snapshot()
        found = directory.lookup_many(batch)
        after = directory.operations.snapshot()
        results[f"batch of {len(batch)} (lookup_many)"] = {
            "user": f"{batch[0]}..{batch[-1]}",
            "searches": after["searches"] - before["searches"],
            "binds": after["binds"] - before["binds"],
            "found": all(found.values()),
        }
    directory.close()
    return results


def plugin_schedule(interval: int) -> tuple[float | None, float | None]:
    """(tick, due age) the plugin's Revalidator uses for ``interval`` (None: unknown)."""
    from mlflow_ldap_auth.auth import revalidation

    try:
        revalidator = revalidation.Revalidator(
            interval_seconds=interval,
            grace_seconds=0,
            lookup=None,
            checks=None,
            admission=None,
            cache=None,
            is_directory_user=None,
        )
    except TypeError:
        return None, None
    due = getattr(revalidator, "due_age", None)
    if due is None and hasattr(revalidation, "DUE_FRACTION"):
        due = revalidation.DUE_FRACTION * interval
    return revalidator.tick_seconds, due


def log_problems(server: Server) -> tuple[collections.Counter, list[str]]:
    """Counts of error kinds in the server's log, and its first error lines."""
    counts: collections.Counter = collections.Counter()
    first: list[str] = []
    for line in server.log().splitlines():
        if "Traceback" in line:
            counts["tracebacks"] += 1
        if "database is locked" in line and line.startswith("sqlite3."):
            counts["sqlite3.OperationalError: database is locked"] += 1
        if " ERROR " in line:
            counts["ERROR lines"] += 1
        if "Revalidation" in line:
            counts["revalidation warnings"] += 1
        is_error = (
            " ERROR " in line
            or "Revalidation" in line
            or line.startswith(("sqlite3.", "sqlalchemy.", "psycopg."))
        )
        if is_error and len(first) < 6:
            first.append(line[:300])
    return counts, first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=10, help="revalidate_interval_seconds")
    parser.add_argument("--intervals", type=int, default=4, help="measured intervals")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="workers per server")
    parser.add_argument(
        "--period", type=float, default=5, help="seconds between a user's requests to a server"
    )
    parser.add_argument("--clients", type=int, default=6, help="connections per server")
    parser.add_argument("--create-threads", type=int, default=8)
    parser.add_argument(
        "--idle",
        action="store_true",
        help="diagnostic: no requests after the tokens are made (users stay active only "
        "through their cached passwords): what revalidation alone costs",
    )
    parser.add_argument(
        "--database",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="the shared database_uri: one SQLite file, or a throwaway PostgreSQL",
    )
    args = parser.parse_args()

    def progress(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    base = Path(tempfile.mkdtemp(prefix="bench-revalidation."))
    postgres = None
    slapd = SlapdInstance().start()
    servers: list[Server] = []
    try:
        started = time.monotonic()
        add_users(slapd, args.users)
        progress(
            f"slapd {slapd.ldap_uri}: {args.users} users added in "
            f"{time.monotonic() - started:.1f} s"
        )
        if args.database == "postgres":
            sys.path.insert(0, str(REPO / "tests"))
            from postgres import PostgresInstance

            postgres = PostgresInstance().start()
            database_uri = postgres.create_database("ldap_auth")
        else:
            database_uri = f"sqlite:///{base}/auth.db"
        config = write_config(base, slapd, args.interval, database_uri)
        per_check = searches_per_check(config, args.users)

        # The first server migrates the shared database; the others start after it.
        env = {"MLFLOW_LDAP_AUTH_CONFIG_PATH": str(config), "PYTHONUNBUFFERED": "1"}
        servers.append(
            start_server("server-1", workers=args.workers, app="ldap-auth", env=env, parent=base)
        )
        wait_healthy(servers[0], args.workers, timeout=180)
        servers += [
            start_server(f"server-{n}", workers=args.workers, app="ldap-auth", env=env, parent=base)
            for n in range(2, args.servers + 1)
        ]
        for server in servers[1:]:
            wait_healthy(server, args.workers, timeout=180)
        progress(f"{len(servers)} servers x {args.workers} workers up ({args.database})")

        log = SlapdLog(slapd)
        creation_ops = Operations()
        log.skip()
        started = time.monotonic()
        secrets: dict[int, str] = {}
        creation_errors = []
        with concurrent.futures.ThreadPoolExecutor(args.create_threads) as pool:
            futures = [
                pool.submit(create_token, servers[i % len(servers)], i) for i in range(args.users)
            ]
            for future in concurrent.futures.as_completed(futures):
                index, secret, error = future.result()
                if secret:
                    secrets[index] = secret
                else:
                    creation_errors.append(error)
        creation_seconds = time.monotonic() - started
        slapd_barrier(slapd, log, creation_ops)
        progress(
            f"{len(secrets)} tokens created in {creation_seconds:.1f} s "
            f"({len(creation_errors)} errors)"
        )
        if not secrets:
            raise RuntimeError("no token was created:\n" + "\n".join(creation_errors[:20]))

        load = Load(servers, secrets, args.clients, args.period)
        if not args.idle:
            load.start()
        progress(f"load running; warm-up {args.interval} s")
        time.sleep(args.interval)
        ages = CheckAges(database_uri, args.interval)
        slapd_barrier(slapd, log, Operations())  # the warm-up's operations: not counted
        load.start_window()
        ages.thread.start()
        cpu_before = [cpu_seconds(pgid=s.process.pid) for s in servers]
        slapd_cpu_before = cpu_seconds(pid=slapd.pid)
        own_cpu_before = sum(os.times()[:2])
        window_started = time.monotonic()
        ok_before, failed_before = load.snapshot()
        intervals: list[tuple[Operations, int, int]] = []
        total = Operations()
        for number in range(args.intervals):
            end = window_started + (number + 1) * args.interval
            time.sleep(max(0.0, end - time.monotonic()))
            ops = Operations()
            ops.add(log.read())
            ok_now, failed_now = load.snapshot()
            intervals.append((ops, ok_now, failed_now))
            total.merge(ops)
            progress(
                f"interval {number + 1}: {ops.searches} searches "
                f"({ops.user_searches} user, {ops.group_searches} group), "
                f"{ops.service_binds + ops.user_binds} binds"
            )
        window = time.monotonic() - window_started
        ok_after, failed_after = load.snapshot()
        max_gap = load.end_window()
        server_cpu = [
            cpu_seconds(pgid=s.process.pid) - c for s, c in zip(servers, cpu_before, strict=True)
        ]
        slapd_cpu = cpu_seconds(pid=slapd.pid) - slapd_cpu_before
        own_cpu = sum(os.times()[:2]) - own_cpu_before
        ages.close()
        load.finish()
        problems = {server.name: log_problems(server) for server in servers}
    finally:
        for server in servers:
            stop_server(server)
        slapd.stop()
        shutil.copy(slapd.log_file, base / "slapd.log")  # for reading afterwards
        slapd.cleanup()
        if postgres is not None:
            postgres.stop()

    # -- report ------------------------------------------------------------------
    users = len(secrets)
    k = args.intervals
    interval = args.interval
    served = (ok_after - ok_before) + (failed_after - failed_before)
    non_200 = failed_after - failed_before
    print()
    print(
        f"revalidation benchmark: {users} active users "
        + (
            "(idle: a token each, not used; active through cached passwords), "
            if args.idle
            else "(one token each, in use), "
        )
        + f"{len(servers)} servers x {args.workers} workers, shared database_uri on "
        f"{args.database}, revalidate_interval_seconds = {interval}, window {k} intervals "
        f"({window:.1f} s) after a {interval} s warm-up; machine: {os.cpu_count()} CPUs"
    )
    print(
        f"tokens: {len(secrets)}/{args.users} created in {creation_seconds:.1f} s "
        f"({creation_ops.user_binds} user binds, {creation_ops.searches} searches meanwhile)"
    )
    for error in creation_errors[:5]:
        print(f"  token error: {error.strip()[:600]}")
    rounds = load.round_seconds
    round_text = (
        f"median {statistics.median(rounds):.1f} s, max {max(rounds):.1f} s"
        if rounds
        else f"none completed in the window (> {window:.0f} s)"
    )
    print(
        f"load: {served} requests in the window = {served / window:.1f} req/s over "
        f"{len(servers)} servers; non-200: {non_200} (whole run: {load.failed}); a round "
        f"(each user once per server) took {round_text} (wanted: every {args.period:g} s); "
        f"longest time a user went without a request to one server: {max_gap:.1f} s"
    )
    for text, count in load.errors.most_common(5):
        print(f"  non-200 x{count}: {text}")
    machine = os.cpu_count() * window
    print(
        f"CPU in the window: servers {' + '.join(f'{c:.1f}' for c in server_cpu)} s, slapd "
        f"{slapd_cpu:.1f} s, this load generator {own_cpu:.1f} s = "
        f"{(sum(server_cpu) + slapd_cpu + own_cpu) / machine:.0%} of the machine"
    )
    print()
    print(
        f"{'interval':>8} {'searches':>9} {'user':>6} {'group':>6} {'other':>6} "
        f"{'binds':>6} {'svc binds':>9} {'users checked':>13} {'req/s':>7}"
    )
    previous_ok, previous_failed = ok_before, failed_before
    for number, (ops, ok_now, failed_now) in enumerate(intervals, 1):
        count = (ok_now - previous_ok) + (failed_now - previous_failed)
        previous_ok, previous_failed = ok_now, failed_now
        print(
            f"{number:>8} {ops.searches:>9} {ops.user_searches:>6} {ops.group_searches:>6} "
            f"{sum(ops.other_searches.values()):>6} {ops.user_binds:>6} "
            f"{ops.service_binds:>9} {len(ops.per_user):>13} {count / interval:>7.1f}"
        )
    per_interval = total.searches / k
    checks = sum(total.per_user[uid(i).lower()] for i in secrets) / k
    per_user_counts = collections.Counter(total.per_user[uid(i).lower()] for i in secrets)
    print()
    print(
        f"searches per interval, whole fleet: {per_interval:.0f} "
        f"(user {total.user_searches / k:.0f}, group {total.group_searches / k:.0f}, "
        f"other {sum(total.other_searches.values()) / k:.0f})"
    )
    print(f"searches per active user per interval: {per_interval / users:.2f}")
    print(
        f"checks (users named in user searches) per active user per interval: "
        f"{checks / users:.2f}; users per user search: "
        f"{checks * k / max(total.user_searches, 1):.1f}; searches per check: "
        f"{per_interval / max(checks, 1e-9):.2f}"
    )
    print(
        f"checks per user in the {k} intervals: "
        + ", ".join(f"{n}: {c} users" for n, c in sorted(per_user_counts.items()))
    )
    print(
        f"binds in the window: {total.user_binds} user/other, {total.service_binds} service "
        f"account, {total.root_binds} root (the benchmark's own)"
    )
    for dn, count in total.other_binds.most_common(5):
        print(f"  bind x{count}: {dn}")
    for text, count in total.other_searches.most_common(5):
        print(f"  other search x{count}: {text}")
    oldest = max((s[0] for s in ages.samples), default=float("nan"))
    overdue = max((s[1] for s in ages.samples), default=0)
    if ages.samples:
        print(
            f"ldap_auth_user_checks, sampled every 1 s: oldest last check of a bench user "
            f"{oldest:.1f} s; at most {overdue} users older than the interval at once; "
            f"rows not ok: {max(s[2] for s in ages.samples)}"
        )
    for error in ages.errors[:3]:
        print(f"  check table sampling error: {error}")
    tick, due = plugin_schedule(interval)
    if tick is not None and due is not None:
        print(
            f"plugin schedule for interval {interval} s: a row is due when {due:g} s old, "
            f"ticks every {tick:g} s -> about {interval / (due + tick / 2):.2f} checks per "
            "active user per interval expected"
        )
    print("checks measured in this process with Directory (its operations counter):")
    mix = collections.Counter(kind_of(i) for i in secrets)
    expected = 0.0
    for kind, result in per_check.items():
        expected += result["searches"] * mix[kind] / max(users, 1)
        print(
            f"  {kind:38} {result['user']}: {result['searches']} searches, "
            f"{result['binds']} binds" + (f" ({mix[kind]} users)" if kind in mix else "")
        )
    print(f"  searches per one-by-one check (Directory.lookup) for this mix: {expected:.2f}")
    for name, (counts, first) in problems.items():
        if counts:
            print(f"{name} log: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
            for line in first:
                print(f"  {line}")
    kept_up = (
        ages.samples
        and oldest <= interval + (tick or 1) + 1
        and (max_gap <= interval or args.idle)
        and not ages.errors
    )
    met = per_interval <= users and total.user_binds == 0
    print()
    print(
        f"target: Revalidation of {users:,} active users costs the directory <= {users:,} "
        f"searches per interval for the whole fleet ({len(servers)} servers), no binds"
    )
    verdict = "MET" if met else f"NOT MET ({per_interval / users:.2f}x the target)"
    if not kept_up:
        verdict = (
            f"NOT JUDGEABLE: the fleet did not keep up (oldest check {oldest:.0f} s, a user "
            f"went {max_gap:.0f} s without a request; wanted <= {interval} s)"
        )
    print(
        f"measured: {per_interval:,.0f} searches per interval, {total.user_binds} user binds "
        f"({total.service_binds} service-account binds), {non_200} non-200 -> {verdict}"
    )
    print(f"server logs, databases and slapd.log kept in {base}")


if __name__ == "__main__":
    main()
