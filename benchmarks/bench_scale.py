"""Scale: a 10,000-person directory, 2,000 nested groups, 2,000 group mappings.

    .venv/bin/python benchmarks/bench_scale.py            # full sizes (~15 min on 2 cores)
    .venv/bin/python benchmarks/bench_scale.py --quick    # small sizes, end to end (~2 min)
    .venv/bin/python benchmarks/bench_scale.py --storm-only   # phase 1 alone (~5 min)
    .venv/bin/python benchmarks/bench_scale.py --growth-only  # phase 3 alone (~5 min)
    .venv/bin/python benchmarks/bench_scale.py --storm-only --storms postgres,basic

Builds the directory of ``scale_directory.py`` (10,000 people, 2,000 groups nested
three levels deep, a user in 500 groups) with ``slapadd`` before slapd starts (the
memberof overlay stays on), and imports group mappings (``mappings import``'s reads
and writes, without its preview) into three databases: 0, 200 and 2,000 mappings (one
per group, READ on every experiment or EDIT on one). Every request is ``GET
/api/2.0/mlflow/experiments/get?experiment_id=0`` with HTTP Basic; a login is a request
on a new connection. ldap-auth servers run with ``cache_ttl_seconds = 3600`` and
``revalidate_interval_seconds = 3600`` so that nothing expires or is re-checked while
it is measured. Phases, each timed:

1. **Login storm** ("Monday 9:00"): 500 people's first requests from 32 concurrent
   clients against ``--app-name ldap-auth --workers 2`` (2,000 mappings, caches cold,
   the server up and its workers' once-only directory reads done by an admin's
   requests); the same against ``--app-name basic-auth`` (default configuration, 2
   workers) whose 500 users were created beforehand through its user-creation API (timed
   apart). ldap-auth's storm runs three times, each from the same database state: on
   SQLite in its default journal mode, in WAL mode, and on a local PostgreSQL (started
   as the tests start one, ``tests/postgres.py``; the mappings imported into it). Reported:
   logins/s, p50/p99 latency, the first wave's slowest answer (the ``clients`` requests
   sent at t=0) against the p99 of the rest, server CPU per login (PostgreSQL's own
   backends apart), errors (any non-200), and for ldap-auth the LDAP operations per login
   from slapd's stats log (binds and searches, split by kind). On PostgreSQL also what
   does not move with the machine's load (``pg_statements``): transactions and new
   connections per login in the storm, and the statements (round trips) of
   ``COUNTED_LOGINS`` more first logins made one at a time with the statement log on, by
   kind. ``--storms`` picks the storms of ``--storm-only``; ``--storm-users`` their size.
2. **Memory**: RSS (``/proc/<pid>/status``) of each worker process (the server's
   process group, uvicorn's spawned workers) before the storm and after all 10,000
   people logged in once on that server (each login lands on one worker; the status
   endpoint says how many logins each worker holds); then a server with
   ``cache_max_size = 1000`` and 2,500 logins, whose workers' caches must stay at 1,000.
3. **Cost growth**: three one-worker servers side by side (0, 200, 2,000 mappings), the
   users with 2, 3, 50 and 500 groups (counting nested). Fresh-login time (the worker's
   caches flushed with ``POST /api/2.0/mlflow/ldap-auth/cache/flush`` before each;
   median of interleaved repeats; the server's and slapd's CPU per fresh login from
   /proc, summed over the repeats), the LDAP operations of one fresh login, and warm
   requests (2 keep-alive clients; throughput and server CPU per request from /proc,
   interleaved rounds, medians). ``--growth-only`` runs this phase alone (no storm, no
   PostgreSQL; ``--repeats`` fresh logins per cell, ``--growth-profile DIR``: py-spy of
   the most-mapped server's worker during extra fresh logins of the 500-group user).

The summary block at the end has Markdown tables (ratios first, with MET / NOT MET
against the targets), the machine (CPUs, model, Python, MLflow, slapd) and the elapsed
time of each phase. Absolute numbers move with the machine's other load; the ratios of
one run are what to compare.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import queue
import re
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa
from werkzeug.security import generate_password_hash

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS.parent / "openldap"))
sys.path.append(str(BENCHMARKS.parent / "tests"))  # postgres.py: a throwaway PostgreSQL

import mlflow  # noqa: E402
from bench_auth import KeepAliveClient, basic, write_basic_auth_ini  # noqa: E402
from bench_revalidation import KeepAlive, SlapdLog, log_problems, slapd_barrier  # noqa: E402
from bench_servers import (  # noqa: E402
    Server,
    cpu_seconds,
    server_environment,
    start_server,
    stop_server,
    wait_healthy,
)
from pg_statements import DatabaseTotals, StatementCount, settled_totals, statements_of  # noqa: E402
from scale_directory import (  # noqa: E402
    ADMIN,
    ADMINS_GROUP,
    Shape,
    crowd_uid,
    directory_ldif,
    mappings_document,
    password_of,
)

from postgres import PostgresInstance  # noqa: E402
from slapd_instance import (  # noqa: E402
    GROUPS_DN,
    PEOPLE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SlapdInstance,
)

PATH = "/api/2.0/mlflow/experiments/get?experiment_id=0"
API = "/api/2.0/mlflow/ldap-auth"
ADMIN_PASSWORD = "bench-admin-password-1"  # the break-glass admin (basic-auth: its admin)
SPECIAL_USERS = ("small", "three", "mid", "big")
X = "\N{MULTIPLICATION SIGN}"  # ratios as docs/performance.md writes them

# Targets (printed next to what was measured).
MIN_STORM_RATIO = 10.0  # ldap-auth cold logins/s over basic-auth first requests/s
MAX_STORM_P99_S = 1.0
MAX_LDAP_OPS_PER_LOGIN = 4.0
MAX_BIG_OVER_SMALL = 2.0  # fresh login, 500 groups over 2 groups
MAX_MAPPINGS_CPU_RATIO = 1.05  # warm request CPU, 2,000 mappings over 0
MAX_RSS_GROWTH_MB = 50.0  # per worker, all people logged in once

#: The storms, by ``--storms`` name: ldap-auth on SQLite (default journal), in WAL mode and
#: on PostgreSQL, and basic-auth's (the ratios' base; slow: its users are made first).
STORMS = ("sqlite", "wal", "postgres", "basic")
#: First logins counted one at a time with PostgreSQL's statement log on.
COUNTED_LOGINS = 20


@dataclass(frozen=True)
class Sizes:
    users: int
    groups: int
    mid_groups: int
    big_groups: int
    mappings: tuple[int, int, int]
    storm_users: int
    clients: int
    bounded_cache: int
    bounded_logins: int
    login_repeats: int
    warm_seconds: float
    warm_rounds: int


FULL = Sizes(
    users=10_000,
    groups=2_000,
    mid_groups=50,
    big_groups=500,
    mappings=(0, 200, 2_000),
    storm_users=500,
    clients=32,
    bounded_cache=1_000,
    bounded_logins=2_500,
    login_repeats=15,
    warm_seconds=3.0,
    warm_rounds=3,
)
QUICK = Sizes(
    users=600,
    groups=200,
    mid_groups=20,
    big_groups=100,
    mappings=(0, 20, 200),
    storm_users=60,
    clients=32,
    bounded_cache=100,
    bounded_logins=250,
    login_repeats=3,
    warm_seconds=1.0,
    warm_rounds=1,
)


# -- small helpers ------------------------------------------------------------------
def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Phases:
    """Wall-clock time of each phase, printed as it ends and kept for the summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.monotonic()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        progress(f"phase {name} ...")
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = time.monotonic() - started
            progress(f"phase {name}: {self.seconds[name]:.1f} s")

    def total(self) -> float:
        return time.monotonic() - self.started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def credentials(uid: str) -> tuple[str, str]:
    return uid, password_of(uid)


# -- directory and configuration ----------------------------------------------------
def build_directory(shape: Shape, workdir: Path) -> tuple[SlapdInstance, float, float]:
    """Write the LDIF, slapadd it and start slapd; (slapd, seconds to write, to load+start)."""
    started = time.monotonic()
    ldif = workdir / "directory.ldif"
    with ldif.open("w") as out:
        for entry in directory_ldif(shape):
            out.write(entry + "\n")
    written = time.monotonic()
    slapd = SlapdInstance(seed=False, preload=ldif).start()
    return slapd, written - started, time.monotonic() - written


def write_ldap_ini(
    path: Path, slapd: SlapdInstance, database: Path | str, cache_max_size: int
) -> Path:
    """The ldap-auth ini; ``database``: an SQLite file, or a database URI as it is."""
    uri = database if isinstance(database, str) else f"sqlite:///{database}"
    path.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = {uri}\nadmin_username = admin\n"
        f"admin_password = {ADMIN_PASSWORD}\n\n"
        f"[ldap]\nserver_uri = {slapd.ldap_uri}\nbind_dn = {SERVICE_DN}\n"
        f"bind_password = {SERVICE_PASSWORD}\nuser_search_base = {PEOPLE_DN}\n"
        f"group_search_base = {GROUPS_DN}\nadmin_groups = {ADMINS_GROUP}\n"
        f"cache_ttl_seconds = 3600\ncache_max_size = {cache_max_size}\n"
        "revalidate_interval_seconds = 3600\n"
    )
    return path


#: ``mappings import`` without its preview of who gains or loses what (minutes for 2,000
#: mappings over 10,000 people): the same reads of the file and the same writes.
IMPORT_WITHOUT_PREVIEW = """
import sys
from mlflow_ldap_auth.cli.common import operator_name, recorded, settings_or_none
from mlflow_ldap_auth.cli.mappings import _mapping_service
from mlflow_ldap_auth.mappings import file as mappings_file
settings = settings_or_none(type("Args", (), {"config": None})())
service = _mapping_service(settings)
with open(sys.argv[1], encoding="utf-8") as handle:
    wanted = mappings_file.read_document(handle.read(), service)
to_add, to_remove = mappings_file.plan_import(wanted, service.list())
with recorded(settings):
    mappings_file.apply_import(service, to_add, to_remove, operator_name())
"""


def import_mappings(ini: Path, document: dict, workdir: Path) -> float:
    """``document``'s mappings imported into the ini's database; its wall time."""
    path = workdir / f"mappings-{len(document['group_mappings'])}.json"
    path.write_text(json.dumps(document))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_WITHOUT_PREVIEW, str(path)],
        env=server_environment({"MLFLOW_LDAP_AUTH_CONFIG_PATH": str(ini)}),
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mappings import failed:\n{result.stdout[-2000:]}{result.stderr}")
    return time.monotonic() - started


def copy_database(source: Path, target: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def provision_beforehand(database: Path, uids: list[str]) -> float:
    """Leave ``uids`` in ``database`` as their first login would have; its seconds.

    A first login writes a row in MLflow's ``users`` table (a hash of a random secret
    nobody knows: directory users never log in with it) and the plugin's record that it
    made the row (``ldap_auth_users``). Here one transaction writes both for everyone,
    with one hash shared by all rows: the server would spend one scrypt hash (~0.15 s of
    CPU) per person, which the storm measures; the memory phase measures the cache.
    """
    started = time.monotonic()
    engine = sa.create_engine(f"sqlite:///{database}")
    metadata = sa.MetaData()
    users = sa.Table("users", metadata, autoload_with=engine)
    accounts = sa.Table("ldap_auth_users", metadata, autoload_with=engine)
    unusable = generate_password_hash(secrets.token_urlsafe(32))
    now = int(time.time())
    with engine.begin() as connection:
        connection.execute(
            users.insert(),
            [{"username": uid, "password_hash": unusable, "is_admin": False} for uid in uids],
        )
        connection.execute(
            accounts.insert(),
            [{"username": uid, "origin": "provisioned", "created_at": now} for uid in uids],
        )
    engine.dispose()
    return time.monotonic() - started


# -- servers ------------------------------------------------------------------------
def start_ldap(name: str, ini: Path, workers: int, parent: Path) -> Server:
    return start_server(
        name,
        workers=workers,
        app="ldap-auth",
        env={
            "MLFLOW_LDAP_AUTH_CONFIG_PATH": str(ini),
            "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        },
        parent=parent,
    )


def start_basic(name: str, workers: int, parent: Path) -> Server:
    config = parent / f"{name}-config"
    config.mkdir()
    ini = write_basic_auth_ini(config, cached=False)
    return start_server(
        name,
        workers=workers,
        app="basic-auth",
        env={"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD},
        parent=parent,
    )


def process_group(pgid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process in group ``pgid``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            command = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
            found.append((int(name), command))
    return found


def worker_pids(server: Server) -> list[int]:
    """The server's worker processes: uvicorn's spawned workers in its process group."""
    members = process_group(server.process.pid)
    workers = [pid for pid, command in members if "multiprocessing.spawn" in command]
    return sorted(workers or [pid for pid, command in members if "uvicorn" in command])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def worker_statuses(server: Server, workers: int) -> dict[int, dict]:
    """``GET .../status`` on new connections until each worker answered: {pid: answer}."""
    answers: dict[int, dict] = {}
    for _ in range(100 * workers):
        response = requests.get(server.url + API + "/status", auth=credentials(ADMIN), timeout=60)
        response.raise_for_status()
        answers[response.json()["worker"]] = response.json()
        if len(answers) >= workers:
            break
    return answers


def flush(server: Server) -> None:
    response = requests.post(server.url + API + "/cache/flush", auth=credentials(ADMIN), timeout=60)
    response.raise_for_status()


def one_login(port: int, uid: str) -> tuple[int, float]:
    """A first request on a new connection: (HTTP status, seconds)."""
    status, _, seconds = timed_login(port, uid)
    return status, seconds


def timed_login(port: int, uid: str) -> tuple[int, float, float]:
    """A first request on a new connection: (HTTP status, perf_counter at start, seconds)."""
    client = KeepAlive(port)
    started = time.perf_counter()
    try:
        status, _ = client.get(PATH, basic(*credentials(uid)))
    finally:
        client.close()
    return status, started, time.perf_counter() - started


# -- the storm ----------------------------------------------------------------------
@dataclass
class Storm:
    logins: int
    seconds: float
    latencies: list[float]
    errors: list[str]
    server_cpu: float
    slapd_cpu: float = 0.0
    #: perf_counter at each login's start, in the order of ``latencies``.
    starts: list[float] = field(default_factory=list)
    #: How many requests the clients sent at t=0 (one each).
    clients: int = 0

    def _by_start(self) -> list[float]:
        return [seconds for _, seconds in sorted(zip(self.starts, self.latencies, strict=True))]

    @property
    def first_wave_max_ms(self) -> float:
        """The slowest of the first ``clients`` logins sent (at t=0), ms."""
        return max(self._by_start()[: self.clients], default=math.nan) * 1000

    @property
    def rest_p99_ms(self) -> float:
        """p99 of every login after the first wave, ms."""
        return percentile(self._by_start()[self.clients :], 0.99) * 1000

    @property
    def rate(self) -> float:
        return self.logins / self.seconds

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 0.50) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 0.99) * 1000

    @property
    def cpu_ms(self) -> float:
        return self.server_cpu / self.logins * 1000


def storm(server: Server, uids: list[str], clients: int, slapd: SlapdInstance | None) -> Storm:
    """Each uid's first request, ``clients`` at a time, each on a new connection."""
    work: queue.Queue[str] = queue.Queue()
    for uid in uids:
        work.put(uid)
    latencies: list[float] = []
    starts: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        while True:
            try:
                uid = work.get_nowait()
            except queue.Empty:
                return
            try:
                status, start, seconds = timed_login(server.port, uid)
            except Exception as exc:  # a benchmark counts it, it does not stop
                with lock:
                    errors.append(f"{uid}: {exc!r}")
                continue
            with lock:
                latencies.append(seconds)
                starts.append(start)
                if status != 200:
                    errors.append(f"{uid}: HTTP {status}")

    threads = [threading.Thread(target=run) for _ in range(clients)]
    cpu_before = cpu_seconds(pgid=server.process.pid)
    slapd_before = cpu_seconds(pid=slapd.pid) if slapd else 0.0
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return Storm(
        logins=len(uids),
        seconds=elapsed,
        latencies=latencies,
        errors=errors,
        server_cpu=cpu_seconds(pgid=server.process.pid) - cpu_before,
        slapd_cpu=(cpu_seconds(pid=slapd.pid) - slapd_before) if slapd else 0.0,
        starts=starts,
        clients=clients,
    )


SRCH_BASE = re.compile(r' SRCH base="([^"]*)"')
BIND_DN = re.compile(r' BIND dn="([^"]*)" method=128')


def report_problems(server: Server, run: Storm) -> None:
    """When a run had errors: what the server's log says about them."""
    if not run.errors:
        return
    counts, first = log_problems(server)
    progress(f"{server.name}: {len(run.errors)} errors, e.g. {run.errors[:3]}; log: {dict(counts)}")
    for line in first:
        progress(f"  {line}")


@dataclass
class LdapCount:
    """Binds and searches in slapd's stats log lines (``add``), by kind.

    Searches are told apart by their base only (slapd cuts long filters short in its
    log); the marker compare's anonymous bind is left out.
    """

    user_binds: int = 0
    service_binds: int = 0
    user_searches: int = 0
    group_searches: int = 0
    other_searches: int = 0

    def add(self, lines: list[str]) -> None:
        for line in lines:
            match = SRCH_BASE.search(line)
            if match:
                base = match.group(1).lower()
                if base == PEOPLE_DN.lower():
                    self.user_searches += 1
                elif base == GROUPS_DN.lower():
                    self.group_searches += 1
                else:
                    self.other_searches += 1
                continue
            match = BIND_DN.search(line)
            if match and match.group(1):
                if match.group(1).lower() == SERVICE_DN.lower():
                    self.service_binds += 1
                else:
                    self.user_binds += 1

    @property
    def binds(self) -> int:
        return self.user_binds + self.service_binds

    @property
    def searches(self) -> int:
        return self.user_searches + self.group_searches + self.other_searches

    @property
    def total(self) -> int:
        return self.binds + self.searches

    def per(self, logins: int) -> str:
        return (
            f"{self.total / logins:.2f} per login: {self.user_binds / logins:.2f} user binds + "
            f"{self.service_binds / logins:.2f} service binds + {self.user_searches / logins:.2f} "
            f"user searches + {self.group_searches / logins:.2f} group searches + "
            f"{self.other_searches / logins:.2f} other searches"
        )


@contextmanager
def counting(slapd: SlapdInstance) -> Iterator[Callable[[], LdapCount]]:
    """Counts slapd's operations from entering to the call of what it yields."""
    log = SlapdLog(slapd)
    slapd_barrier(slapd, log, LdapCount())
    ops = LdapCount()
    done: list[bool] = []

    def finish() -> LdapCount:
        if not done:
            slapd_barrier(slapd, log, ops)
            done.append(True)
        return ops

    yield finish


# -- warm requests ------------------------------------------------------------------
def warm(server: Server, uid: str, seconds: float, clients: int = 2) -> tuple[float, float]:
    """Keep-alive requests of a logged-in user: (requests/s, server CPU ms per request)."""
    conns = [KeepAliveClient(server.port, basic(*credentials(uid))) for _ in range(clients)]
    for conn in conns:
        for _ in range(3):
            if conn.get() != 200:
                raise RuntimeError(f"{server.name}: warm request as {uid} refused")
    counts = [0] * clients
    failures: list[str] = []
    stop_at = time.monotonic() + seconds

    def run(index: int) -> None:
        try:
            while time.monotonic() < stop_at:
                if conns[index].get() != 200:
                    failures.append(uid)
                counts[index] += 1
        except Exception as exc:  # reported below
            failures.append(repr(exc))

    cpu_before = cpu_seconds(pgid=server.process.pid)
    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pgid=server.process.pid) - cpu_before
    for conn in conns:
        conn.close()
    if failures:
        raise RuntimeError(f"{server.name}: warm requests as {uid} failed: {failures[:3]}")
    total = sum(counts)
    return total / elapsed, cpu / total * 1000


# -- phases -------------------------------------------------------------------------
@dataclass
class Results:
    sizes: Sizes
    shape: Shape
    directory: dict = field(default_factory=dict)
    mappings: dict = field(default_factory=dict)  # mappings imported -> seconds
    mapped: dict = field(default_factory=dict)  # nominal count -> mappings defined
    storm_ldap: Storm | None = None
    storm_basic: Storm | None = None
    storm_wal: Storm | None = None  # ldap-auth, the database in SQLite's WAL mode
    storm_postgres: Storm | None = None  # ldap-auth, the database on PostgreSQL
    postgres_cpu: float = 0.0  # PostgreSQL's processes in that storm (s)
    postgres_ops: LdapCount | None = None  # slapd's operations in that storm
    postgres_totals: DatabaseTotals | None = None  # transactions, sessions in that storm
    postgres_statements: StatementCount | None = None  # first logins one at a time, logged
    storms: tuple[str, ...] = STORMS  # --storms: which ldap-auth storms run
    profile_dir: Path | None = None  # --profile: py-spy of the PostgreSQL storm's workers
    storm_ops: LdapCount | None = None
    basic_users_seconds: float = 0.0
    sustained: Storm | None = None  # the people provisioned beforehand, caches cold
    sustained_ops: LdapCount | None = None
    provision_seconds: float = 0.0
    memory: dict = field(default_factory=dict)  # pid -> (before MB, after MB, cached)
    memory_logins: int = 0
    bounded: dict = field(default_factory=dict)  # pid -> status cache dict
    first_login_ms: dict = field(default_factory=dict)  # (mappings, uid) -> ms
    login_ms: dict = field(default_factory=dict)  # (mappings, uid) -> [ms]
    login_ops: dict = field(default_factory=dict)  # uid -> LdapCount
    login_cpu: dict = field(default_factory=dict)  # (mappings, uid) -> [server s, slapd s]
    growth_profile: Path | None = None  # --growth-profile: py-spy of big's fresh logins
    warm: dict = field(default_factory=dict)  # (mappings, uid) -> [(rps, cpu ms)]


def admin_warm_up(server: Server, workers: int) -> None:
    """The admin's requests reach every worker: its once-only directory reads are done."""
    answered = worker_statuses(server, workers)
    if len(answered) < workers:
        raise RuntimeError(f"{server.name}: only workers {sorted(answered)} answered")


def phase_storm(
    results: Results,
    slapd: SlapdInstance,
    ldap_ini: Path,
    parent: Path,
    phases: Phases,
    postgres: PostgresInstance,
) -> Server:
    """Both storms; returns the ldap-auth server, still running (the memory phase uses it)."""
    sizes = results.sizes
    uids = [crowd_uid(i) for i in range(sizes.storm_users)]
    ldap_server = start_ldap("ldap-storm", ldap_ini, 2, parent)
    basic_server = start_basic("basic-storm", 2, parent)
    try:
        wait_healthy(ldap_server, 2)
        wait_healthy(basic_server, 2)
        admin_warm_up(ldap_server, 2)
        pids = worker_pids(ldap_server)
        results.memory = {pid: [rss_mb(pid), math.nan, 0] for pid in pids}
        if "sqlite" in results.storms:
            with counting(slapd) as finish:
                results.storm_ldap = storm(ldap_server, uids, sizes.clients, slapd)
                results.storm_ops = finish()
            report_problems(ldap_server, results.storm_ldap)
            progress(
                f"ldap-auth storm: {results.storm_ldap.rate:.1f} logins/s, "
                f"{len(results.storm_ldap.errors)} errors"
            )
        if "wal" in results.storms:
            results.storm_wal = storm_in_wal_mode(results, slapd, uids, parent)
        if "postgres" in results.storms:
            results.storm_postgres = storm_on_postgres(results, slapd, uids, parent, postgres)
        if "basic" in results.storms:
            storm_basic_auth(results, basic_server, uids, phases)
    except BaseException:
        stop_server(ldap_server)
        raise
    finally:
        stop_server(basic_server)
    return ldap_server


def storm_basic_auth(results: Results, server: Server, uids: list[str], phases: Phases) -> None:
    """basic-auth's storm, its users created through its API first (timed apart)."""
    with phases.phase("basic-auth: create users (API)"):
        started = time.monotonic()
        create_basic_users(server, uids)
        results.basic_users_seconds = time.monotonic() - started
    results.storm_basic = storm(server, uids, results.sizes.clients, None)
    report_problems(server, results.storm_basic)
    progress(
        f"basic-auth storm: {results.storm_basic.rate:.1f} logins/s, "
        f"{len(results.storm_basic.errors)} errors"
    )


def storm_in_wal_mode(
    results: Results, slapd: SlapdInstance, uids: list[str], parent: Path
) -> Storm:
    """The same storm on a copy of the database (as it was before) in SQLite's WAL mode."""
    wal = parent / "ldap-storm-wal.db"
    copy_database(parent / "ldap-storm-before.db", wal)
    set_wal(wal)
    ini = write_ldap_ini(parent / "storm-wal.ini", slapd, wal, 10_000)
    server = start_ldap("ldap-storm-wal", ini, 2, parent)
    try:
        wait_healthy(server, 2)
        admin_warm_up(server, 2)
        run = storm(server, uids, results.sizes.clients, slapd)
        report_problems(server, run)
        progress(f"ldap-auth storm (WAL): {run.rate:.1f} logins/s, {len(run.errors)} errors")
        return run
    finally:
        stop_server(server)


def storm_on_postgres(
    results: Results,
    slapd: SlapdInstance,
    uids: list[str],
    parent: Path,
    postgres: PostgresInstance,
) -> Storm:
    """The same storm with ``database_uri`` on PostgreSQL, from the same database state;
    then ``COUNTED_LOGINS`` more first logins, one at a time, with the statement log on."""
    database = "storm"
    uri = postgres.create_database(database)
    admin_uri = postgres.url("postgres")
    ini = write_ldap_ini(parent / "storm-postgres.ini", slapd, uri, 10_000)
    copy_to_postgres(parent / "ldap-storm-before.db", uri, ini, parent)
    server = start_ldap("ldap-storm-postgres", ini, 2, parent)
    try:
        wait_healthy(server, 2)
        admin_warm_up(server, 2)
        totals_before = settled_totals(admin_uri, database)
        postgres_before = postgres_cpu_seconds(postgres)
        with profiling(server, results.profile_dir, "postgres-storm"), counting(slapd) as finish:
            run = storm(server, uids, results.sizes.clients, slapd)
            results.postgres_ops = finish()
        results.postgres_cpu = postgres_cpu_seconds(postgres) - postgres_before
        results.postgres_totals = settled_totals(admin_uri, database) - totals_before
        report_problems(server, run)
        progress(f"ldap-auth storm (PostgreSQL): {run.rate:.1f} logins/s, {len(run.errors)} errors")
        first = results.sizes.storm_users
        counted = [crowd_uid(i) for i in range(first, first + COUNTED_LOGINS)]
        results.postgres_statements = statements_of(
            admin_uri,
            postgres.directory / "pg.log",
            database,
            [lambda uid=uid: counted_login(server, uid) for uid in counted],
        )
        return run
    finally:
        stop_server(server)


def counted_login(server: Server, uid: str) -> None:
    """One first login whose statements are counted; it must succeed."""
    status, _ = one_login(server.port, uid)
    if status != 200:
        raise RuntimeError(f"{server.name}: counted first login of {uid}: HTTP {status}")


def copy_to_postgres(database: Path, uri: str, ini: Path, workdir: Path) -> None:
    """Every row of the SQLite ``database`` into the empty PostgreSQL ``uri``.

    ``mappings export`` on ``uri`` creates MLflow's and the plugin's tables as a server
    would; the rows are copied table by table in dependency order (what ``mappings
    import`` wrote, without its preview, which takes minutes for 2,000 mappings), then
    each serial column's sequence is moved past the copied ids.
    """
    result = subprocess.run(
        [sys.executable, "-m", "mlflow_ldap_auth", "mappings", "export"],
        env=server_environment({"MLFLOW_LDAP_AUTH_CONFIG_PATH": str(ini)}),
        cwd=workdir,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"mappings export (schema) failed:\n{result.stderr[-2000:]}")
    source, target = sa.create_engine(f"sqlite:///{database}"), sa.create_engine(uri)
    metadata = sa.MetaData()
    metadata.reflect(target)
    present = set(sa.inspect(source).get_table_names())
    copied = [t for t in metadata.sorted_tables if t.name in present and "alembic" not in t.name]
    with source.connect() as reading, target.begin() as writing:
        for table in reversed(copied):
            writing.execute(table.delete())
        for table in copied:
            # Read through the PostgreSQL table's columns: SQLite's 0/1 come back as bools.
            rows = [dict(row._mapping) for row in reading.execute(sa.select(table))]
            if not rows:
                continue
            writing.execute(table.insert(), rows)
            for column in table.primary_key.columns:
                sequence = writing.execute(
                    sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                    {"t": table.name, "c": column.name},
                ).scalar()
                if sequence:
                    top = max(row[column.name] for row in rows)
                    writing.execute(sa.text("SELECT setval(:s, :v)"), {"s": sequence, "v": top})
    source.dispose()
    target.dispose()


@contextmanager
def profiling(server: Server, directory: Path | None, name: str) -> Iterator[None]:
    """py-spy samples of each worker while the block runs, ``directory/name-<pid>.txt``
    (raw, folded stacks; ``--idle``: a thread waiting on a lock or a socket counts too)."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    spies = [
        subprocess.Popen(
            [
                str(Path(sys.executable).with_name("py-spy")),
                "record",
                "--pid",
                str(pid),
                "--nonblocking",
                "--idle",
                "--format",
                "raw",
                "--rate",
                "200",
                "-o",
                str(directory / f"{name}-{pid}.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in worker_pids(server)
    ]
    time.sleep(1)  # py-spy attached
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(60)


def postgres_cpu_seconds(postgres: PostgresInstance) -> float:
    """CPU of PostgreSQL: its postmaster, its live backends and those it reaped."""
    postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0])
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(name) == postmaster:  # itself and its children that ended
            total += sum(int(value) for value in fields[11:15])
        elif int(fields[1]) == postmaster:  # a live backend or helper
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def set_wal(database: Path) -> None:
    """Put an SQLite database in WAL mode (it stays so: the mode is kept in the file)."""
    connection = sqlite3.connect(database)
    try:
        mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    finally:
        connection.close()
    if mode != "wal":
        raise RuntimeError(f"{database}: journal mode {mode}, not wal")


def create_basic_users(server: Server, uids: list[str], clients: int = 4) -> None:
    """basic-auth users through its user-creation API, as its admin."""
    work: queue.Queue[str] = queue.Queue()
    for uid in uids:
        work.put(uid)
    failures: list[str] = []

    def run() -> None:
        session = requests.Session()
        while True:
            try:
                uid = work.get_nowait()
            except queue.Empty:
                return
            response = session.post(
                server.url + "/api/2.0/mlflow/users/create",
                json={"username": uid, "password": password_of(uid)},
                auth=("admin", ADMIN_PASSWORD),
                timeout=120,
            )
            if response.status_code != 200:
                failures.append(f"{uid}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"basic-auth user creation failed: {failures[:3]}")


def phase_memory(results: Results, slapd: SlapdInstance, server: Server) -> None:
    """The rest of the people log in once; RSS of each worker after, and its cache size."""
    sizes = results.sizes
    rest = [crowd_uid(i) for i in range(sizes.storm_users, sizes.users)]
    with counting(slapd) as finish:
        results.sustained = storm(server, rest, sizes.clients, slapd)
        results.sustained_ops = finish()
    report_problems(server, results.sustained)
    results.memory_logins = sizes.users
    progress(
        f"sustained cold logins: {results.sustained.rate:.1f} logins/s, "
        f"{len(results.sustained.errors)} errors"
    )
    statuses = worker_statuses(server, len(results.memory))
    for pid, row in results.memory.items():
        row[1] = rss_mb(pid)
        row[2] = statuses.get(pid, {}).get("cache", {}).get("size", math.nan)


def phase_bounded(results: Results, slapd: SlapdInstance, database: Path, parent: Path) -> None:
    """A server with a small ``cache_max_size``: more logins per worker than it holds."""
    sizes = results.sizes
    ini = write_ldap_ini(parent / "bounded.ini", slapd, database, sizes.bounded_cache)
    server = start_ldap("ldap-bounded", ini, 2, parent)
    try:
        wait_healthy(server, 2)
        admin_warm_up(server, 2)
        uids = [crowd_uid(i) for i in range(sizes.bounded_logins)]
        run = storm(server, uids, sizes.clients, None)
        report_problems(server, run)
        if run.errors:
            raise RuntimeError(f"bounded-cache logins failed: {run.errors[:3]}")
        statuses = worker_statuses(server, 2)
        results.bounded = {
            pid: {**answer["cache"], "rss_mb": rss_mb(pid)} for pid, answer in statuses.items()
        }
    finally:
        stop_server(server)


def phase_growth(
    results: Results, slapd: SlapdInstance, databases: dict[int, Path], parent: Path
) -> None:
    """One-worker servers per mapping count: fresh logins and warm requests, interleaved."""
    sizes = results.sizes
    servers: dict[int, Server] = {}
    try:
        for count, database in databases.items():
            ini = write_ldap_ini(parent / f"growth-{count}.ini", slapd, database, 10_000)
            servers[count] = start_ldap(f"ldap-growth-{count}", ini, 1, parent)
        for server in servers.values():
            wait_healthy(server, 1)
        for count, server in servers.items():
            admin_warm_up(server, 1)
            for uid in SPECIAL_USERS:  # the first login assigns the roles: once only
                status, seconds = one_login(server.port, uid)
                if status != 200:
                    raise RuntimeError(f"{server.name}: first login of {uid}: HTTP {status}")
                results.first_login_ms[count, uid] = seconds * 1000
        most = max(servers)
        for uid in SPECIAL_USERS:
            flush(servers[most])
            with counting(slapd) as finish:
                status, _ = one_login(servers[most].port, uid)
                results.login_ops[uid] = finish()
        for _ in range(sizes.login_repeats):  # interleaved: drift hits every cell alike
            for count, server in servers.items():
                for uid in SPECIAL_USERS:
                    flush(server)
                    cpu = results.login_cpu.setdefault((count, uid), [0.0, 0.0])
                    cpu[0] -= cpu_seconds(pgid=server.process.pid)
                    cpu[1] -= cpu_seconds(pid=slapd.pid)
                    status, seconds = one_login(server.port, uid)
                    cpu[0] += cpu_seconds(pgid=server.process.pid)
                    cpu[1] += cpu_seconds(pid=slapd.pid)
                    if status != 200:
                        raise RuntimeError(f"{server.name}: fresh login of {uid}: HTTP {status}")
                    results.login_ms.setdefault((count, uid), []).append(seconds * 1000)
        with profiling(servers[most], results.growth_profile, "growth-big"):
            for _ in range(sizes.login_repeats * 4 if results.growth_profile else 0):
                flush(servers[most])
                one_login(servers[most].port, "big")
        progress("fresh logins done; warm requests ...")
        for _ in range(sizes.warm_rounds):
            for count, server in servers.items():
                for uid in SPECIAL_USERS:
                    results.warm.setdefault((count, uid), []).append(
                        warm(server, uid, sizes.warm_seconds)
                    )
    finally:
        for server in servers.values():
            stop_server(server)


# -- report -------------------------------------------------------------------------
def machine() -> dict[str, str]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    slapd_version = subprocess.run(
        ["/usr/sbin/slapd", "-VV"], capture_output=True, text=True
    ).stderr.splitlines()
    return {
        "CPUs": str(os.cpu_count()),
        "model": model,
        "Python": platform.python_version(),
        "MLflow": mlflow.__version__,
        "slapd": slapd_version[0].split("slapd ", 1)[-1].split(" ")[0] if slapd_version else "?",
    }


def median_warm(results: Results, count: int, uid: str) -> tuple[float, float]:
    samples = results.warm[count, uid]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def login_median(results: Results, count: int, uid: str) -> float:
    return statistics.median(results.login_ms[count, uid])


def storm_runs(results: Results) -> list[tuple[str, Storm]]:
    """The storms that ran, named as the tables name them."""
    runs = [
        ("ldap-auth, SQLite", results.storm_ldap),
        ("ldap-auth, SQLite WAL", results.storm_wal),
        ("ldap-auth, PostgreSQL", results.storm_postgres),
        ("basic-auth (default)", results.storm_basic),
    ]
    return [(name, run) for name, run in runs if run is not None]


def print_storm_details(results: Results) -> None:
    sizes, ldap, ops = results.sizes, results.storm_ldap, results.storm_ops
    print("\n== Login storm ==")
    print(
        f"{sizes.storm_users} people's first requests, {sizes.clients} concurrent clients, "
        "2 workers, new connection per login"
    )
    for name, run in storm_runs(results):
        print(
            f"  {name:22}: {run.rate:7.1f} logins/s  p50 {run.p50_ms:7.1f} ms  "
            f"p99 {run.p99_ms:7.1f} ms  first wave max {run.first_wave_max_ms:7.1f} ms  "
            f"rest p99 {run.rest_p99_ms:7.1f} ms  server CPU {run.cpu_ms:6.1f} ms/login  "
            f"errors {len(run.errors)} {run.errors[:3] if run.errors else ''}"
        )
    if results.storm_postgres is not None:
        print_postgres_counts(results)
    if ldap is not None and ops is not None:
        print(f"  ldap-auth slapd CPU: {ldap.slapd_cpu / ldap.logins * 1000:.2f} ms/login")
        print(f"  LDAP operations: {ops.total} in the storm = {ops.per(ldap.logins)}")
    if results.storm_basic is not None:
        print(
            f"  basic-auth: {sizes.storm_users} users created through its API beforehand in "
            f"{results.basic_users_seconds:.1f} s"
        )


def print_postgres_counts(results: Results) -> None:
    """What the PostgreSQL storm's logins asked of PostgreSQL and slapd, per login."""
    run, totals = results.storm_postgres, results.postgres_totals
    assert run is not None
    per_login = results.postgres_cpu / run.logins * 1000
    print(f"  PostgreSQL's own CPU in its storm: {per_login:.1f} ms/login")
    if totals is not None:
        print(
            f"  PostgreSQL transactions in its storm: "
            f"{(totals.commits + totals.rollbacks) / run.logins:.2f} per login "
            f"({totals.commits / run.logins:.2f} committed, "
            f"{totals.rollbacks / run.logins:.2f} rolled back); "
            f"{totals.sessions / run.logins:.3f} connections opened per login "
            f"({totals.sessions} in all)"
        )
    if results.postgres_ops is not None:
        ops = results.postgres_ops
        print(f"  slapd CPU: {run.slapd_cpu / run.logins * 1000:.2f} ms/login")
        print(f"  LDAP operations in its storm: {ops.per(run.logins)}")
    counted = results.postgres_statements
    if counted is not None:
        print(
            f"  PostgreSQL statements of {counted.logins} more first logins, one at a time "
            f"(each a round trip): {counted.per_login():.2f} per login, "
            f"{counted.connections / counted.logins:.2f} connections opened per login; by kind:"
        )
        for line in counted.lines():
            print(f"    {line}")


def print_storm_table(results: Results, extra: list[tuple[str, Storm]]) -> None:
    base = results.storm_basic
    print(
        "\nLogin storm: each person's first request on a new connection, caches cold, "
        f"{results.sizes.clients} clients, 2 workers:\n\n"
        "| server | logins/s | vs basic-auth | p50 | p99 | first wave, slowest | rest, p99 "
        "| server CPU per login | errors |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    runs = storm_runs(results)
    if base is not None:  # the base last, after ``extra``
        runs = runs[:-1] + extra + runs[-1:]
    for name, run in runs:
        ratio = f"{run.rate / base.rate:.1f} {X}" if base is not None else "-"
        print(
            f"| {name} | {run.rate:.1f} | {ratio} | {run.p50_ms:.0f} ms | "
            f"{run.p99_ms:.0f} ms | {run.first_wave_max_ms:.0f} ms | {run.rest_p99_ms:.0f} ms | "
            f"{run.cpu_ms:.1f} ms | {len(run.errors)} |"
        )


def print_storm_only(results: Results, phases: Phases) -> None:
    """The summary of ``--storm-only``: the storms, side by side."""
    print_storm_details(results)
    print("\n" + "=" * 78 + "\nSUMMARY (login storm only)\n" + "=" * 78)
    print_storm_table(results, [])
    print("\nMachine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    print(f"\nElapsed: total {phases.total():.0f} s")


def print_details(results: Results) -> None:
    sizes = results.sizes
    print_storm_details(results)
    sustained, again = results.sustained, results.sustained_ops
    print(
        f"\n== The other {sustained.logins:,} people, provisioned beforehand (in "
        f"{results.provision_seconds:.1f} s), log in once: cold caches, as after a restart =="
    )
    print(
        f"  ldap-auth : {sustained.rate:7.1f} logins/s  p50 {sustained.p50_ms:7.1f} ms  "
        f"p99 {sustained.p99_ms:7.1f} ms  server CPU {sustained.cpu_ms:6.1f} ms/login  "
        f"slapd CPU {sustained.slapd_cpu / sustained.logins * 1000:.2f} ms/login  "
        f"errors {len(sustained.errors)} {sustained.errors[:3] if sustained.errors else ''}"
    )
    print(f"  LDAP operations: {again.total} = {again.per(sustained.logins)}")
    print("\n== Memory ==")
    for pid, (before, after, cached) in results.memory.items():
        print(
            f"  worker {pid}: RSS {before:.1f} MB -> {after:.1f} MB "
            f"(+{after - before:.1f} MB), {cached} logins cached"
        )
    for pid, cache in results.bounded.items():
        print(
            f"  cache_max_size={sizes.bounded_cache}, worker {pid}: size {cache['size']} after "
            f"{cache['misses']} fresh logins (RSS {cache['rss_mb']:.1f} MB)"
        )
    print_growth_details(results)


def print_growth_details(results: Results) -> None:
    shape = results.shape
    print("\n== Cost growth (one worker per server) ==")
    for uid in SPECIAL_USERS:
        count = results.login_ops[uid]
        print(
            f"  fresh login of {uid} ({shape.group_count(uid)} groups): {count.user_binds} user "
            f"bind + {count.user_searches} user search + {count.group_searches} group searches "
            f"+ {count.other_searches} other + {count.service_binds} service binds"
        )
    for (count, uid), ms in results.first_login_ms.items():
        print(f"  first login (assigns roles), {count} mappings, {uid}: {ms:.1f} ms")
    for (count, uid), samples in results.login_ms.items():
        rps, cpu = median_warm(results, count, uid)
        server_s, slapd_s = results.login_cpu[count, uid]
        print(
            f"  {count:5d} mappings, {uid:5} ({shape.group_count(uid):3d} groups): fresh login "
            f"median {statistics.median(samples):7.1f} ms (min {min(samples):.1f}, max "
            f"{max(samples):.1f}), CPU/login server {server_s / len(samples) * 1000:.1f} ms, "
            f"slapd {slapd_s / len(samples) * 1000:.1f} ms; warm {rps:7.1f} req/s, "
            f"{cpu:.2f} ms CPU/req"
        )


def print_summary(results: Results, phases: Phases) -> None:
    sizes, shape = results.sizes, results.shape
    ldap, base, ops = results.storm_ldap, results.storm_basic, results.storm_ops
    few, most = sizes.mappings[0], sizes.mappings[-1]
    storm_ratio = ldap.rate / base.rate
    ops_per_login = ops.total / ldap.logins
    errors = len(ldap.errors)
    big_small = login_median(results, most, "big") / login_median(results, most, "small")
    # Warm requests: the median over the four users of (most mappings / none), each
    # user's cells being medians of interleaved rounds (one user's cells move by 10-20 %
    # between runs on a shared machine).
    cpu_ratio = statistics.median(
        median_warm(results, most, uid)[1] / median_warm(results, few, uid)[1]
        for uid in SPECIAL_USERS
    )
    rps_ratio = statistics.median(
        median_warm(results, most, uid)[0] / median_warm(results, few, uid)[0]
        for uid in SPECIAL_USERS
    )
    growth = {pid: after - before for pid, (before, after, _) in results.memory.items()}
    cached = {pid: row[2] for pid, row in results.memory.items()}
    worst = max(growth.values())
    bounded_max = max(cache["size"] for cache in results.bounded.values())
    bounded_logins = max(cache["misses"] for cache in results.bounded.values())
    big, small = shape.group_count("big"), shape.group_count("small")

    print("\n" + "=" * 78)
    print("SUMMARY")
    print("=" * 78)
    print(
        f"\nDirectory: {sizes.users:,} people (+{len(shape.special) + 1} special), "
        f"{sizes.groups:,} groups in 3 levels, slapadd in {results.directory['load_s']:.1f} s "
        f"(LDIF written in {results.directory['write_s']:.1f} s); mappings imported with "
        f"`mappings import`: "
        + ", ".join(f"{n:,} in {s:.1f} s" for n, s in results.mappings.items())
        + "\n"
    )
    print("| measure | result | target | |")
    print("|---|---|---|---|")
    rows = [
        (
            f"cold logins/s, ldap-auth vs basic-auth ({sizes.storm_users} people, "
            f"{sizes.clients} clients, 2 workers)",
            f"{storm_ratio:.1f} {X} ({ldap.rate:.1f} vs {base.rate:.1f}/s)",
            f"≥ {MIN_STORM_RATIO:.0f} {X}",
            storm_ratio >= MIN_STORM_RATIO,
        ),
        (
            "storm p99 latency, ldap-auth",
            f"{ldap.p99_ms:.0f} ms (p50 {ldap.p50_ms:.0f} ms)",
            f"≤ {MAX_STORM_P99_S * 1000:.0f} ms",
            ldap.p99_ms <= MAX_STORM_P99_S * 1000,
        ),
        (
            "LDAP operations per cold login",
            f"{ops_per_login:.2f} ({ops.binds / ldap.logins:.2f} binds + "
            f"{ops.searches / ldap.logins:.2f} searches)",
            f"≤ {MAX_LDAP_OPS_PER_LOGIN:.0f}",
            ops_per_login <= MAX_LDAP_OPS_PER_LOGIN,
        ),
        ("errors in the storm (non-200)", str(errors), "0", errors == 0),
        (
            f"fresh login, {big} groups vs {small} ({most:,} mappings)",
            f"{big_small:.2f} {X} ({login_median(results, most, 'big'):.0f} vs "
            f"{login_median(results, most, 'small'):.0f} ms)",
            f"≤ {MAX_BIG_OVER_SMALL:.0f} {X}",
            big_small <= MAX_BIG_OVER_SMALL,
        ),
        (
            f"warm request server CPU, {most:,} vs {few} mappings (median of the 4 users)",
            f"{cpu_ratio:.2f} {X}; throughput {rps_ratio:.2f} {X}",
            f"≤ {MAX_MAPPINGS_CPU_RATIO:.2f} {X}",
            cpu_ratio <= MAX_MAPPINGS_CPU_RATIO,
        ),
        (
            f"RSS growth per worker, {results.memory_logins:,} people logged in once",
            ", ".join(f"+{g:.1f} MB ({cached[pid]:,} cached)" for pid, g in growth.items()),
            f"≤ {MAX_RSS_GROWTH_MB:.0f} MB",
            worst <= MAX_RSS_GROWTH_MB,
        ),
        (
            f"credential cache, cache_max_size = {sizes.bounded_cache:,}",
            f"largest worker cache {bounded_max:,} after up to {bounded_logins:,} logins",
            f"≤ {sizes.bounded_cache:,}",
            bounded_max <= sizes.bounded_cache and bounded_logins > sizes.bounded_cache,
        ),
    ]
    for name, result, target, met in rows:
        print(f"| {name} | {result} | {target} | {verdict(met)} |")
    per_entry = [g / cached[pid] * 1024 for pid, g in growth.items() if cached[pid]]
    if per_entry:
        print(
            f"\n(RSS per cached login: {statistics.median(per_entry):.1f} KB, so "
            f"~{statistics.median(per_entry) * sizes.users / 1024:.0f} MB if one worker held "
            f"all {sizes.users:,})"
        )

    print_storm_table(
        results,
        [(f"ldap-auth, {results.sustained.logins:,} people provisioned before", results.sustained)],
    )
    print(f"\nLDAP operations per cold login in the storm: {ops.per(ldap.logins)}.")
    print(
        "LDAP operations per cold login of the people provisioned before: "
        f"{results.sustained_ops.per(results.sustained.logins)}."
    )
    print_growth_tables(results)
    print("\nMachine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    print(
        "\nElapsed: "
        + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phases.seconds.items())
        + f"; total {phases.total():.0f} s"
    )


def login_cpu_ms(results: Results, count: int, uid: str) -> float:
    """The server's CPU per fresh login (ms), over every repeat of the cell."""
    return results.login_cpu[count, uid][0] / len(results.login_ms[count, uid]) * 1000


def print_growth_tables(results: Results) -> None:
    sizes, shape = results.sizes, results.shape
    few = sizes.mappings[0]
    print(
        "\nCost growth: fresh login (median ms, caches flushed) / warm request "
        "(server CPU ms per request), one worker:\n"
    )
    header = " | ".join(f"{results.mapped.get(n, n):,} mappings" for n in sizes.mappings)
    print(f"| user (groups, counting nested) | {header} |")
    print("|---|" + "---|" * len(sizes.mappings))
    for uid in SPECIAL_USERS:
        cells = [
            f"{login_median(results, count, uid):.0f} ms / "
            f"{median_warm(results, count, uid)[1]:.2f} ms"
            for count in sizes.mappings
        ]
        print(f"| {uid} ({shape.group_count(uid)}) | " + " | ".join(cells) + " |")
    small_0 = login_median(results, few, "small")
    print("\nFresh login relative to the 2-group user with 0 mappings:\n")
    print(f"| user | {header} |")
    print("|---|" + "---|" * len(sizes.mappings))
    for uid in SPECIAL_USERS:
        cells = [
            f"{login_median(results, count, uid) / small_0:.2f} {X}" for count in sizes.mappings
        ]
        print(f"| {uid} ({shape.group_count(uid)}) | " + " | ".join(cells) + " |")
    print(
        "\nServer CPU per fresh login (ms, mean of the repeats) and, in brackets, relative "
        "to the 2-group user with as many mappings:\n"
    )
    print(f"| user | {header} |")
    print("|---|" + "---|" * len(sizes.mappings))
    for uid in SPECIAL_USERS:
        cells = [
            f"{login_cpu_ms(results, count, uid):.1f} ms "
            f"({login_cpu_ms(results, count, uid) / login_cpu_ms(results, count, 'small'):.2f} {X})"
            for count in sizes.mappings
        ]
        print(f"| {uid} ({shape.group_count(uid)}) | " + " | ".join(cells) + " |")


def print_growth_only(results: Results, phases: Phases) -> None:
    sizes = results.sizes
    most = sizes.mappings[-1]
    big_small = login_median(results, most, "big") / login_median(results, most, "small")
    cpu_ratio = login_cpu_ms(results, most, "big") / login_cpu_ms(results, most, "small")
    print_growth_details(results)
    print(
        f"\nFresh login, {shape_groups(results, 'big')} groups vs "
        f"{shape_groups(results, 'small')}, {results.mapped.get(most, most):,} mappings "
        f"(<= {MAX_BIG_OVER_SMALL:g} {X}): {big_small:.2f} {X} by median time, "
        f"{cpu_ratio:.2f} {X} by server CPU: {verdict(big_small <= MAX_BIG_OVER_SMALL)}"
        "\n(the target is on time; on a machine busy with other work the medians move with "
        "its load, far more than the CPU of the server's processes does)"
    )
    print_growth_tables(results)
    print("\nMachine: " + ", ".join(f"{k} {v}" for k, v in machine().items()))
    print(f"\nElapsed: total {phases.total():.0f} s")


def shape_groups(results: Results, uid: str) -> int:
    return results.shape.group_count(uid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, ~2 minutes")
    parser.add_argument(
        "--storm-only", action="store_true", help="the login storms alone (phase 1)"
    )
    parser.add_argument(
        "--profile", type=Path, help="py-spy profiles of the PostgreSQL storm's workers, here"
    )
    parser.add_argument(
        "--growth-only", action="store_true", help="the cost growth alone (phase 3)"
    )
    parser.add_argument("--repeats", type=int, help="fresh logins per cost-growth cell")
    parser.add_argument(
        "--growth-profile", type=Path, help="py-spy of the 500-group user's fresh logins, here"
    )
    parser.add_argument(
        "--storms",
        default=",".join(STORMS),
        help=f"with --storm-only: the storms to run, of {','.join(STORMS)}",
    )
    parser.add_argument(
        "--storm-users",
        type=int,
        help="people in the storm (default 500, --quick 60); with --quick at most "
        f"{QUICK.users - COUNTED_LOGINS}",
    )
    args = parser.parse_args()
    storms = tuple(name for name in args.storms.split(",") if name)
    if set(storms) - set(STORMS) or not storms:
        parser.error(f"--storms: a comma-separated list of {', '.join(STORMS)}")
    if storms != STORMS and not args.storm_only:
        parser.error("--storms needs --storm-only (the full run's phases use every storm)")
    sizes = QUICK if args.quick else FULL
    if args.repeats:
        sizes = dataclasses.replace(sizes, login_repeats=args.repeats)
    if args.storm_users:
        if args.storm_users + COUNTED_LOGINS > sizes.users:
            parser.error(f"--storm-users: at most {sizes.users - COUNTED_LOGINS} here")
        sizes = dataclasses.replace(sizes, storm_users=args.storm_users)
    shape = Shape(sizes.users, sizes.groups, sizes.mid_groups, sizes.big_groups)
    results = Results(
        sizes,
        shape,
        profile_dir=args.profile,
        growth_profile=args.growth_profile,
        storms=storms,
    )
    phases = Phases()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale."))
    progress(f"working in {workdir}")
    slapd = None
    postgres = PostgresInstance()
    try:
        with phases.phase("directory"):
            slapd, write_s, load_s = build_directory(shape, workdir)
            results.directory = {"write_s": write_s, "load_s": load_s}
            progress(f"LDIF written in {write_s:.1f} s, slapadd + slapd start in {load_s:.1f} s")
        databases = {count: workdir / f"ldap-{count}.db" for count in sizes.mappings}
        storm_db = workdir / "ldap-storm.db"
        with phases.phase("mappings import"):
            for count, database in databases.items():
                if count == 0:
                    continue
                ini = write_ldap_ini(workdir / f"import-{count}.ini", slapd, database, 10_000)
                document = mappings_document(shape, count)
                results.mapped[count] = len(document["group_mappings"])
                results.mappings[results.mapped[count]] = import_mappings(ini, document, workdir)
            copy_database(databases[sizes.mappings[-1]], storm_db)
            copy_database(storm_db, workdir / "ldap-storm-before.db")
        if args.growth_only:
            with phases.phase("cost growth"):
                phase_growth(results, slapd, databases, workdir)
            print_growth_only(results, phases)
            shutil.rmtree(workdir, ignore_errors=True)
            return
        if not args.storm_only:
            with phases.phase("provision beforehand"):
                rest = [crowd_uid(i) for i in range(sizes.storm_users, sizes.users)]
                results.provision_seconds = provision_beforehand(storm_db, rest)
        storm_ini = write_ldap_ini(workdir / "storm.ini", slapd, storm_db, 10_000)
        postgres.start()
        with phases.phase("login storm"):
            server = phase_storm(results, slapd, storm_ini, workdir, phases, postgres)
        if args.storm_only:
            stop_server(server)
            print_storm_only(results, phases)
            shutil.rmtree(workdir, ignore_errors=True)
            return
        try:
            with phases.phase("memory"):
                phase_memory(results, slapd, server)
        finally:
            stop_server(server)
        with phases.phase("bounded cache"):
            phase_bounded(results, slapd, storm_db, workdir)
        with phases.phase("cost growth"):
            phase_growth(results, slapd, databases, workdir)
    finally:
        postgres.stop()
        if slapd is not None:
            slapd.cleanup()
    print_details(results)
    print_summary(results, phases)
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
