"""Throughput and server CPU of MLflow with no auth, basic-auth and ldap-auth, one run.

    .venv/bin/python benchmarks/bench_auth.py [--seconds 10] [--clients 8] [--workers 2]
        [--rounds 5] [--paired] [--warmup 3] [--skip-basic-default | --skip-basic]
        [--profile DIR]
        [--python .venv-mlflow-3.17.2/bin/python]

Starts, side by side on loopback: a seeded slapd; ``mlflow server`` without auth;
with ``--app-name basic-auth`` (default config, and with ``auth_cache_ttl_seconds=300``);
with ``--app-name ldap-auth``. Every server gets the same request
(``GET /api/2.0/mlflow/experiments/get?experiment_id=0``) from the same keep-alive
clients, as an admin and as a non-admin user, after a warm-up (warm caches). The
ldap-auth server also gets the non-admin user's access token (docs/tokens.md), created once
with ``POST /api/2.0/mlflow/ldap-auth/tokens`` and sent as ``Authorization: Bearer``
(what ``MLFLOW_TRACKING_TOKEN`` sends), in the same interleaved rounds, and a browser
session of the same user: a row made with ``SessionStore`` on the server's database
(what the sign-in page makes), sent as the ``mlflow_ldap_session`` cookie. A server
that does not read that cookie on the request path yet answers it 401: the session
rows are then reported as not measured.

Reported per scenario: requests/s, p50/p99 latency, server CPU per request (all
processes of the server, from /proc), and ratios against no-auth; for the token, its
ratios against no-auth and against the cached directory password of the same user,
with their targets (CPU/request <= 1.05x the cached password's, throughput >= 0.85x
no-auth's); for the session, its CPU/request against the cached password's (target
<= 1.0x: a warm cookie costs no more than a warm password) and the token's.
Server CPU is the steadier number on shared machines: each round's no-auth CPU per
request over each scenario's (the issue's "as efficient as no auth") is printed per
round with its median, and the verdict on the non-admin's cached password (target
>= 0.93 over 5 interleaved rounds). ``--paired`` loads no auth at the same time as
each other scenario, so that the machine's other work weighs on both sides of each
ratio (on a shared machine the ratios of one run otherwise moved between 0.6 and 1.2
from round to round). ``--python`` runs the whole benchmark, servers
included, with another interpreter (another MLflow release's venv), this checkout's
code first on its path; the release and where the plugin was imported from head the
report. ``--profile DIR``: py-spy of every worker during each scenario of the last
round, summarised as µs per request by auth frame (``warm_profile.py``).
The client sets TCP_NODELAY and TCP_QUICKACK so uvicorn's Nagle/delayed-ACK stall
(uvicorn #3149) does not hide the server's cost.
For ldap-auth it also counts LDAP operations per cold login from slapd's stats log.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "openldap"))

import warm_profile  # noqa: E402
from bench_servers import Server, cpu_seconds, start_server, stop_server, wait_healthy  # noqa: E402

from slapd_instance import (  # noqa: E402
    GROUPS_DN,
    PEOPLE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SlapdInstance,
)

PATH = "/api/2.0/mlflow/experiments/get?experiment_id=0"
ADMIN_PASSWORD = "bench-admin-password-1"
TOKENS_PATH = "/api/2.0/mlflow/ldap-auth/tokens"
TOKEN_ROLE = "token (non-admin)"
SESSION_ROLE = "session (non-admin)"
SESSION_COOKIE = "mlflow_ldap_session"
# Targets of the token scenario (printed next to the measured ratios).
TOKEN_MAX_CPU_VS_PASSWORD = 1.05
TOKEN_MIN_RPS_VS_NO_AUTH = 0.85
# Target of the session scenario: no more server CPU than the cached password.
SESSION_MAX_CPU_VS_PASSWORD = 1.0


def basic(login: str, password: str) -> str:
    """The ``Authorization`` value of HTTP Basic for ``login:password``."""
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def cookie(secret: str) -> str:
    """The header line of a browser session (not an ``Authorization`` value)."""
    return f"Cookie: {SESSION_COOKIE}={secret}"


def header_line(credentials: str | None) -> str:
    """``credentials`` as a request header line: a ``cookie(...)`` as is, else ``Authorization``."""
    if not credentials:
        return ""
    if credentials.startswith("Cookie: "):
        return f"{credentials}\r\n"
    return f"Authorization: {credentials}\r\n"


def session_secret(database: Path, owner: str) -> str:
    """A new session of ``owner`` in the ldap-auth server's database, as the sign-in page
    makes one after a bind: its password marker is the one the owner's last check saw."""
    from mlflow_ldap_auth.auth.user_checks import UserChecks
    from mlflow_ldap_auth.db import tables
    from mlflow_ldap_auth.sessions.store import SessionStore

    engine = tables.create_engine(f"sqlite:///{database}")
    try:
        checked = UserChecks(engine).get(owner)
        _, secret = SessionStore(engine).create(
            owner,
            source="127.0.0.1",
            password_marker=checked.password_marker if checked else None,
            now=int(time.time()),
            max_seconds=86_400,
        )
    finally:
        engine.dispose()
    return secret


class KeepAliveClient:
    """Minimal HTTP/1.1 keep-alive client with TCP_NODELAY and TCP_QUICKACK.

    ``authorization`` is the ``Authorization`` header value to send (``basic(...)``,
    ``"Bearer <secret>"``), a ``cookie(...)``, or None for none.
    """

    def __init__(self, port: int, authorization: str | None) -> None:
        self.port = port
        header = header_line(authorization)
        self.request = (
            f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{header}"
            "Connection: keep-alive\r\n\r\n"
        ).encode()
        self.sock = None

    def _connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def get(self) -> int:
        if self.sock is None:
            self._connect()
        self.sock.sendall(self.request)
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            chunk = self.sock.recv(65536)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            if not chunk:
                raise ConnectionError("closed")
            buffer += chunk
        head, _, body = buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == b"content-length":
                length = int(value)
            if key.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if chunked:
            while not body.endswith(b"0\r\n\r\n"):
                body += self.sock.recv(65536)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        else:
            while len(body) < length:
                body += self.sock.recv(65536)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return status

    def close(self) -> None:
        if self.sock:
            self.sock.close()


def load(
    server: Server,
    role: str,
    authorization: str | None,
    clients: int,
    seconds: float,
    profile: Path | None = None,
) -> dict:
    # Warm-up: fill every worker's caches (one connection per client, as measured).
    conns = [KeepAliveClient(server.port, authorization) for _ in range(clients)]
    for conn in conns:
        for _ in range(3):
            status = conn.get()
            if status != 200:
                raise RuntimeError(f"{server.name} / {role}: HTTP {status}")
    latencies: list[list[float]] = [[] for _ in conns]
    stop_at = [0.0]
    errors = []

    def run(index: int) -> None:
        conn = conns[index]
        try:
            while time.monotonic() < stop_at[0]:
                started = time.perf_counter()
                status = conn.get()
                latencies[index].append(time.perf_counter() - started)
                if status != 200:
                    errors.append(status)
        except Exception as exc:  # a benchmark reports, it does not crash
            errors.append(repr(exc))

    pgid = server.process.pid
    with contextlib.ExitStack() as stack:
        if profile is not None:
            stack.enter_context(warm_profile.recording(warm_profile.worker_pids(pgid), profile))
        cpu_before = cpu_seconds(pgid=pgid)
        started = time.monotonic()
        stop_at[0] = started + seconds
        threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(pgid=pgid) - cpu_before
    for conn in conns:
        conn.close()
    flat = sorted(x for chunk in latencies for x in chunk)
    count = len(flat)
    return {
        "requests": count,
        "rps": count / elapsed,
        "p50_ms": statistics.median(flat) * 1000 if flat else float("nan"),
        "p99_ms": flat[int(count * 0.99) - 1] * 1000 if count >= 100 else float("nan"),
        "cpu_ms_per_request": cpu / count * 1000 if count else float("nan"),
        "errors": len(errors),
    }


def median_result(samples: list[dict]) -> dict:
    return {
        key: statistics.median(sample[key] for sample in samples)
        if key != "errors"
        else sum(sample[key] for sample in samples)
        for key in samples[0]
    }


def ldap_ops_per_cold_login(
    slapd: SlapdInstance, server: Server, login: str, password: str
) -> dict:
    before = len(slapd.stats_lines())
    response = requests.get(server.url + PATH, auth=(login, password), timeout=30)
    time.sleep(0.3)
    lines = slapd.stats_lines()[before:]
    return {
        "status": response.status_code,
        "binds": sum(
            " BIND " in line and "method=128" in line and SERVICE_DN not in line for line in lines
        ),
        "service_binds": sum(
            " BIND " in line and SERVICE_DN in line and "method=128" in line for line in lines
        ),
        "searches": sum(" SRCH base=" in line for line in lines),
    }


def write_basic_auth_ini(directory: Path, cached: bool) -> Path:
    path = directory / "basic_auth.ini"
    text = (
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{directory}/basic_auth.db\nadmin_username = admin\n"
        f"admin_password = {ADMIN_PASSWORD}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    if cached:
        text += "auth_cache_ttl_seconds = 300\n"
    path.write_text(text)
    return path


def write_ldap_ini(directory: Path, slapd: SlapdInstance) -> Path:
    path = directory / "ldap_auth.ini"
    path.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{directory}/ldap_auth.db\nadmin_username = admin\n"
        f"admin_password = {ADMIN_PASSWORD}\n\n"
        f"[ldap]\nserver_uri = {slapd.ldap_uri}\nbind_dn = {SERVICE_DN}\n"
        f"bind_password = {SERVICE_PASSWORD}\nuser_search_base = {PEOPLE_DN}\n"
        f"group_search_base = {GROUPS_DN}\n"
        f"admin_groups = cn=mlflow-admins,{GROUPS_DN}\n"
    )
    return path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="interleaved rounds; per-round ratios and medians are reported",
    )
    parser.add_argument(
        "--skip-basic-default",
        action="store_true",
        help="skip uncached basic-auth (slow: it hashes every request)",
    )
    parser.add_argument(
        "--skip-basic",
        action="store_true",
        help="no basic-auth server at all: no auth against ldap-auth only",
    )
    parser.add_argument(
        "--python",
        help="run the whole benchmark (and so the servers) with this interpreter, e.g. "
        "another MLflow release's venv; this checkout's code comes first on its path",
    )
    parser.add_argument(
        "--warmup", type=float, default=3, help="untimed seconds of each scenario first"
    )
    parser.add_argument(
        "--paired",
        action="store_true",
        help="load no auth at the same time as each other scenario (same clients each): "
        "the ratio of their CPU per request does not move with the machine's other load",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy of every worker during each scenario of the last round, raw files "
        "here, and a summary of what auth adds per request (see warm_profile.py)",
    )
    return parser.parse_args()


def run_with(python: str) -> None:
    """Run this benchmark again under ``python``, with this checkout first on its path."""
    argv = [a for i, a in enumerate(sys.argv) if a != "--python" and sys.argv[i - 1] != "--python"]
    argv = [a for a in argv if not a.startswith("--python=")]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    os.execve(python, [python, *argv], env)


def describe_release() -> str:
    import mlflow

    import mlflow_ldap_auth

    where = Path(mlflow_ldap_auth.__file__).resolve().parent.parent
    if where != REPO:
        raise SystemExit(f"mlflow_ldap_auth is imported from {where}, not {REPO}: set PYTHONPATH")
    python = sys.version.split()[0]
    return f"MLflow {mlflow.__version__}, Python {python}, mlflow_ldap_auth from {where}"


def main() -> None:
    args = parse_args()
    if args.python:
        run_with(args.python)
    release = describe_release()
    print(release, file=sys.stderr, flush=True)

    slapd = SlapdInstance().start()
    config_dir = Path(tempfile.mkdtemp(prefix="bench-config."))
    specs = [("no-auth", None, {})]
    if not args.skip_basic_default and not args.skip_basic:
        d = config_dir / "basic"
        d.mkdir()
        specs.append(
            (
                "basic-auth",
                "basic-auth",
                {"MLFLOW_AUTH_CONFIG_PATH": str(write_basic_auth_ini(d, cached=False))},
            )
        )
    if not args.skip_basic:
        d = config_dir / "basic-cached"
        d.mkdir()
        specs.append(
            (
                "basic-auth-cached",
                "basic-auth",
                {"MLFLOW_AUTH_CONFIG_PATH": str(write_basic_auth_ini(d, cached=True))},
            )
        )
    d = config_dir / "ldap"
    d.mkdir()
    specs.append(
        ("ldap-auth", "ldap-auth", {"MLFLOW_LDAP_AUTH_CONFIG_PATH": str(write_ldap_ini(d, slapd))})
    )

    servers = [
        start_server(
            name,
            workers=args.workers,
            app=app,
            env={"MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD, **env},
        )
        for name, app, env in specs
    ]
    try:
        for server in servers:
            wait_healthy(server, args.workers)
        for server in servers:
            if server.name.startswith("basic-auth"):
                requests.post(
                    server.url + "/api/2.0/mlflow/users/create",
                    json={"username": "alice", "password": "alice-password"},
                    auth=("admin", ADMIN_PASSWORD),
                    timeout=30,
                ).raise_for_status()
        ldap_server = next(s for s in servers if s.name == "ldap-auth")
        # Open the service connection in one worker first, then count cold logins.
        requests.get(ldap_server.url + PATH, auth=("jsmith", "jsmith-password"), timeout=30)
        ops = {
            "flat (alice)": ldap_ops_per_cold_login(slapd, ldap_server, "alice", "alice-password"),
            "nested (bob)": ldap_ops_per_cold_login(slapd, ldap_server, "bob", "bob-password"),
        }
        # After the cold-login counts: creating the token logs alice in with her password.
        response = requests.post(
            ldap_server.url + TOKENS_PATH,
            json={"name": "bench", "expires_in_days": 30},
            auth=("alice", "alice-password"),
            timeout=30,
        )
        response.raise_for_status()
        token_secret = response.json()["secret"]
        session = cookie(session_secret(config_dir / "ldap" / "ldap_auth.db", "alice"))
        probe = requests.get(
            ldap_server.url + PATH,
            headers={"Cookie": session.removeprefix("Cookie: ")},
            allow_redirects=False,
            timeout=30,
        )
        sessions_read = probe.status_code == 200
        if not sessions_read:
            print(
                f"session: HTTP {probe.status_code}; this server does not read the "
                f"{SESSION_COOKIE} cookie on the request path: not measured",
                file=sys.stderr,
            )
        rounds: dict[str, list[dict]] = {}
        #: Scenario -> no-auth's CPU per request / the scenario's, one per round.
        ratios: dict[str, list[float]] = {}
        profiles: dict[str, Path] = {}
        no_auth = next(s for s in servers if s.name == "no-auth")
        # Untimed: a server's first seconds under load run its lazy first-time work
        # (the first round measured it: 0.6 x no auth's CPU per request, then 0.9-1.0).
        for server, role, authorization in scenarios(
            servers, token_secret, sessions_read and session
        ):
            if args.warmup > 0:
                load(server, role, authorization, args.clients, args.warmup)
        for round_number in range(args.rounds):
            base_cpu = None
            for server, role, authorization in scenarios(
                servers, token_secret, sessions_read and session
            ):
                key = f"{server.name} / {role}"
                profile = None
                if args.profile and round_number == args.rounds - 1:
                    profile = args.profile / key.replace(" / ", "--").replace(" ", "_")
                    profiles[key] = profile
                measure = functools.partial(
                    load, server, role, authorization, args.clients, args.seconds, profile
                )
                if server is no_auth and args.paired:
                    continue  # measured beside each scenario
                if server is no_auth:
                    result = measure()
                    base_cpu = result["cpu_ms_per_request"]
                elif args.paired:
                    base, result = side_by_side(
                        functools.partial(
                            load, no_auth, "anonymous", None, args.clients, args.seconds
                        ),
                        measure,
                    )
                    rounds.setdefault("no-auth / anonymous", []).append(base)
                    base_cpu = base["cpu_ms_per_request"]
                else:
                    result = measure()
                rounds.setdefault(key, []).append(result)
                if server is not no_auth:
                    ratios.setdefault(key, []).append(base_cpu / result["cpu_ms_per_request"])
                print(f"round {round_number + 1}: {key}", file=sys.stderr, flush=True)
        results = {key: median_result(samples) for key, samples in rounds.items()}
    finally:
        for server in servers:
            stop_server(server)
        slapd.cleanup()

    base = results["no-auth / anonymous"]
    print(
        f"\n{release}\nmedians of {args.rounds} interleaved rounds; "
        f"{args.clients} keep-alive clients, {args.workers} workers, {args.seconds:.0f} s each, "
        f"GET {PATH}\n"
    )
    header = (
        f"{'scenario':34} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11} "
        f"{'x no-auth (rps)':>16} {'x no-auth (CPU)':>16} {'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        print(
            f"{name:34} {r['rps']:8.1f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
            f"{r['cpu_ms_per_request']:11.2f} {r['rps'] / base['rps']:16.2f} "
            f"{base['cpu_ms_per_request'] / r['cpu_ms_per_request']:16.2f} {r['errors']:7d}"
        )
    print()
    for role in ("admin", "non-admin"):
        ldap = results.get(f"ldap-auth / {role}")
        for other in ("basic-auth", "basic-auth-cached"):
            ref = results.get(f"{other} / {role}")
            if ldap and ref:
                print(
                    f"ldap-auth / {role} vs {other}: {ldap['rps'] / ref['rps']:.2f}x throughput, "
                    f"{ref['cpu_ms_per_request'] / ldap['cpu_ms_per_request']:.2f}x less CPU"
                )
    token = results.get(f"ldap-auth / {TOKEN_ROLE}")
    password = results.get("ldap-auth / non-admin")
    if token:
        rps_ratio = token["rps"] / base["rps"]
        print(
            f"\nldap-auth / {TOKEN_ROLE} vs no-auth: {rps_ratio:.2f}x throughput "
            f"(target >= {TOKEN_MIN_RPS_VS_NO_AUTH:.2f}x: "
            f"{'met' if rps_ratio >= TOKEN_MIN_RPS_VS_NO_AUTH else 'MISSED'}), "
            f"{token['cpu_ms_per_request'] / base['cpu_ms_per_request']:.2f}x CPU/request"
        )
    if token and password:
        cpu_ratio = token["cpu_ms_per_request"] / password["cpu_ms_per_request"]
        print(
            f"ldap-auth / {TOKEN_ROLE} vs ldap-auth / non-admin (cached password): "
            f"{cpu_ratio:.2f}x CPU/request (target <= {TOKEN_MAX_CPU_VS_PASSWORD:.2f}x: "
            f"{'met' if cpu_ratio <= TOKEN_MAX_CPU_VS_PASSWORD else 'MISSED'}), "
            f"{token['rps'] / password['rps']:.2f}x throughput"
        )
    session = results.get(f"ldap-auth / {SESSION_ROLE}")
    if session and password:
        cpu_ratio = session["cpu_ms_per_request"] / password["cpu_ms_per_request"]
        print(
            f"ldap-auth / {SESSION_ROLE} vs ldap-auth / non-admin (cached password): "
            f"{cpu_ratio:.2f}x CPU/request (target <= {SESSION_MAX_CPU_VS_PASSWORD:.2f}x: "
            f"{'met' if cpu_ratio <= SESSION_MAX_CPU_VS_PASSWORD else 'MISSED'}), "
            f"{session['rps'] / password['rps']:.2f}x throughput"
        )
    if session and token:
        print(
            f"ldap-auth / {SESSION_ROLE} vs ldap-auth / {TOKEN_ROLE}: "
            f"{session['cpu_ms_per_request'] / token['cpu_ms_per_request']:.2f}x CPU/request"
        )
    if not session:
        print(f"\nldap-auth / {SESSION_ROLE}: not measured (the cookie is not read)")
    report_rounds(rounds, ratios, args.paired)
    for key, stem in profiles.items():
        paths = sorted(stem.parent.glob(f"{stem.name}-*.txt"))
        print(f"\nprofile of {key} (last round; {stem}-*.txt):")
        print(warm_profile.summary(paths, rounds[key][-1]["cpu_ms_per_request"]))
    print("\nLDAP operations per cold login (service connection already open):")
    for name, counts in ops.items():
        print(
            f"  {name}: {counts['binds']} user bind + {counts['searches']} searches "
            f"(HTTP {counts['status']}; plus {counts['service_binds']} service-account bind "
            "if this worker had no service connection yet)"
        )


#: The ldap-auth scenario the verdict is about, and its target (no-auth's CPU per
#: request / ldap-auth's, the median over the interleaved rounds).
VERDICT_ROLE = "ldap-auth / non-admin"
TARGET_CPU_VS_NO_AUTH = 0.93


def report_rounds(rounds: dict[str, list[dict]], ratios: dict[str, list[float]], paired) -> None:
    """Each round's no-auth CPU per request / the scenario's (higher is cheaper), the
    median of those, and the verdict on the non-admin's cached password."""
    how = "measured at the same time" if paired else "same round"
    print(f"\nper round, no-auth CPU/request / scenario's ({how}; >= 1: cheaper than no auth):")
    for key, values in ratios.items():
        shown = " ".join(f"{ratio:.2f}" for ratio in values)
        line = f"  {key:34} {shown}   median {statistics.median(values):.3f}"
        if key == VERDICT_ROLE:
            met = statistics.median(values) >= TARGET_CPU_VS_NO_AUTH
            line += f" (target >= {TARGET_CPU_VS_NO_AUTH}: {'met' if met else 'MISSED'})"
        print(line)
    print(
        "  no-auth CPU ms/request: "
        + " ".join(f"{b['cpu_ms_per_request']:.2f}" for b in rounds["no-auth / anonymous"])
    )


def scenarios(servers: list[Server], token_secret: str, session: str | None):
    """(server, role, credentials) of one round, in order; no-auth first."""
    for server in servers:
        if server.name == "no-auth":
            yield server, "anonymous", None
            continue
        admin = (
            basic("carol", "carol-password")
            if server.name == "ldap-auth"
            else basic("admin", ADMIN_PASSWORD)
        )
        yield server, "admin", admin
        yield server, "non-admin", basic("alice", "alice-password")
        if server.name == "ldap-auth":
            yield server, TOKEN_ROLE, f"Bearer {token_secret}"
            if session:
                yield server, SESSION_ROLE, session


def side_by_side(first, second) -> tuple[dict, dict]:
    """Run both loads at the same time: whatever else the machine does weighs on both."""
    results: list[dict] = [{}, {}]

    def run(index: int, measure) -> None:
        results[index] = measure()

    threads = [threading.Thread(target=run, args=(i, m)) for i, m in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results[0], results[1]


if __name__ == "__main__":
    main()
