"""What the plugin adds to a warm request, in µs of CPU, per kind of credential.

    .venv/bin/python benchmarks/bench_warm_path.py [--rounds 15] [--requests 400]
        [--concurrency 8] [--profile KIND] [--python OTHER_VENV/bin/python]

``bench_auth.py`` measures whole servers under load, where the machine's other work
moves the CPU per request by more than the plugin costs. This one takes the socket,
uvicorn and the scheduler out: two processes, one serving MLflow's app without auth
and one serving ``ldap-auth``'s (``app.create_app``, against a seeded slapd), each
driven in-process through its ASGI interface (the same middleware stack, Flask in
anyio's worker threads as under uvicorn) by ``--concurrency`` concurrent requests.
Blocks of ``--requests`` requests of each kind are interleaved over ``--rounds``
rounds, and each block's process CPU is read by the process that ran it
(``time.process_time``, all its threads). Reported per kind: the median CPU per
request, its difference to no auth's in µs and their ratio (no-auth / kind, the
issue's "as efficient as no auth"), with the spread over the rounds.

``--compare-with DIR`` serves a third process from another checkout of the plugin
(``git archive`` of main, say) and measures its kinds in the same rounds: a before and
after of a change, interleaved.

Kinds: ``password`` (the non-admin's cached directory password), ``admin`` (an admin
group member's), ``token`` (the non-admin's access token, ``Bearer``), ``session``
(the non-admin's browser session cookie). ``--profile KIND`` runs one more block of
that kind under cProfile and prints the plugin's functions by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "openldap"))
sys.path.insert(0, str(REPO / "benchmarks"))

PATH, QUERY = "/api/2.0/mlflow/experiments/get", b"experiment_id=0"
TOKENS_PATH = "/api/2.0/mlflow/ldap-auth/tokens"
KINDS = ("password", "admin", "token", "session")
ADMIN_PASSWORD = "bench-admin-password-1"


def basic(login: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{login}:{password}".encode())


# -- the serving process ---------------------------------------------------------------
async def request(
    app, headers: list[tuple[bytes, bytes]], method: str = "GET", path: str = PATH, body=b""
):
    """One request through ``app``'s ASGI interface: (status, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": QUERY if path == PATH else b"",
        "headers": [(b"host", b"127.0.0.1:5000"), *headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 5000),
    }
    sent = False
    answer: dict = {"status": None, "body": b""}

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect: as uvicorn, until cancelled

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return answer["status"], answer["body"]


async def block(app, headers, count: int, concurrency: int) -> float:
    """CPU seconds of this process for ``count`` requests, ``concurrency`` at a time."""

    async def client(n: int) -> None:
        for _ in range(n):
            status, body = await request(app, headers)
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {body[:200]!r}")

    started = time.process_time()
    share, extra = divmod(count, concurrency)
    await asyncio.gather(*(client(share + (i < extra)) for i in range(concurrency)))
    return time.process_time() - started


def serve(mode: str, directory: Path, ldap_uri: str) -> None:
    """The child: build the app, make the credentials, then run blocks on command."""
    from mlflow.server import ARTIFACT_ROOT_ENV_VAR, BACKEND_STORE_URI_ENV_VAR

    os.environ[BACKEND_STORE_URI_ENV_VAR] = f"sqlite:///{directory}/mlflow.db"
    os.environ[ARTIFACT_ROOT_ENV_VAR] = str(directory / "artifacts")
    os.environ["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    os.environ["_MLFLOW_SGI_NAME"] = "uvicorn"  # as ``mlflow server`` sets it: the ASGI app
    os.environ["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "bench-secret"
    headers: dict[str, list[tuple[bytes, bytes]]] = {}
    if mode == "no-auth":
        from mlflow.server.fastapi_app import app

        headers["no-auth"] = []
    else:
        app = ldap_app(directory, ldap_uri)
        headers.update(asyncio.run(ldap_credentials(app, directory)))
    for kind_headers in headers.values():  # warm: every cache of this process
        asyncio.run(block(app, kind_headers, 20, 4))
    plugin = sys.modules.get("mlflow_ldap_auth")
    where = str(Path(plugin.__file__).parent) if plugin and plugin.__file__ else None
    print(json.dumps({"ready": sorted(headers), "plugin": where}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        kind_headers = headers[command["kind"]]
        if command.get("profile"):
            print(json.dumps({"profile": profile(app, kind_headers, command)}), flush=True)
            continue
        cpu = asyncio.run(block(app, kind_headers, command["requests"], command["concurrency"]))

        print(json.dumps({"cpu": cpu}), flush=True)


def ldap_app(directory: Path, ldap_uri: str):
    from slapd_instance import GROUPS_DN, PEOPLE_DN, SERVICE_DN, SERVICE_PASSWORD

    config = directory / "ldap_auth.ini"
    config.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{directory}/ldap_auth.db\nadmin_username = admin\n"
        f"admin_password = {ADMIN_PASSWORD}\n\n"
        f"[ldap]\nserver_uri = {ldap_uri}\nbind_dn = {SERVICE_DN}\n"
        f"bind_password = {SERVICE_PASSWORD}\nuser_search_base = {PEOPLE_DN}\n"
        f"group_search_base = {GROUPS_DN}\n"
        f"admin_groups = cn=mlflow-admins,{GROUPS_DN}\n"
    )
    os.environ["MLFLOW_LDAP_AUTH_CONFIG_PATH"] = str(config)
    os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = ADMIN_PASSWORD
    from mlflow_ldap_auth import app as plugin_app

    plugin_app.preflight()
    return plugin_app.create_app()


async def ldap_credentials(app, directory: Path) -> dict[str, list[tuple[bytes, bytes]]]:
    from bench_auth import session_secret

    password = [(b"authorization", basic("alice", "alice-password"))]
    body = json.dumps({"name": "bench", "expires_in_days": 30}).encode()
    status, body = await request(
        app,
        [*password, (b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))],
        method="POST",
        path=TOKENS_PATH,
        body=body,
    )
    if status != 200:
        raise RuntimeError(f"token: HTTP {status}: {body[:300]!r}")
    secret = json.loads(body)["secret"]
    session = session_secret(directory / "ldap_auth.db", "alice")
    return {
        "password": password,
        "admin": [(b"authorization", basic("carol", "carol-password"))],
        "token": [(b"authorization", f"Bearer {secret}".encode())],
        "session": [(b"cookie", f"mlflow_ldap_session={session}".encode())],
    }


def profile(app, headers, command) -> str:
    """cProfile of one block: the event loop's thread and Flask's (``wsgi_app`` wrapped
    so that each call runs under a second profiler), function calls per request in each
    and the plugin's functions by cumulative time. Function calls are counted exactly:
    the figure that does not move with the machine's load."""
    import cProfile
    import io
    import pstats

    from mlflow.server import app as flask_app

    loop_profiler, flask_profiler = cProfile.Profile(), cProfile.Profile()
    wsgi_app = flask_app.wsgi_app

    def profiled(environ, start_response):
        flask_profiler.enable()
        try:
            return wsgi_app(environ, start_response)
        finally:
            flask_profiler.disable()

    flask_app.wsgi_app = profiled
    count = command["requests"]
    loop_profiler.enable()
    try:
        asyncio.run(block(app, headers, count, 1))
    finally:
        loop_profiler.disable()
        flask_app.wsgi_app = wsgi_app
    out = io.StringIO()
    for name, profiler in (("event loop", loop_profiler), ("Flask", flask_profiler)):
        stats = pstats.Stats(profiler, stream=out)
        if command.get("dump"):
            dump = Path(command["dump"]) / f"{command['kind']}-{name.replace(' ', '_')}.prof"
            dump.parent.mkdir(parents=True, exist_ok=True)
            stats.dump_stats(dump)
        out.write(
            f"{name}: {stats.total_calls / count:.0f} function calls per request, "
            f"{stats.total_tt / count * 1e6:.0f} µs per request under cProfile\n"
        )
    for profiler in (loop_profiler, flask_profiler):
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats("mlflow_ldap_auth|mlflow/server/auth", 30)
    return out.getvalue()


# -- the measuring process -------------------------------------------------------------
class Child:
    def __init__(
        self, mode: str, directory: Path, ldap_uri: str, python: str, repo: Path = REPO
    ) -> None:
        directory.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_"))}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(repo), env.get("PYTHONPATH")]))
        env["MLFLOW_ENABLE_TELEMETRY"] = "false"
        env["DO_NOT_TRACK"] = "true"
        self.log = (directory / "child.log").open("w")
        self.process = subprocess.Popen(
            [python, __file__, "--child", mode, str(directory), ldap_uri],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
        )
        self.directory = directory

    def answer(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"child ended:\n{(self.directory / 'child.log').read_text()[-3000:]}"
            )
        return json.loads(line)

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.answer()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(30)


def describe(python: str) -> str:
    code = (
        "import sys, mlflow, mlflow_ldap_auth; "
        "print(f'MLflow {mlflow.__version__}, Python {sys.version.split()[0]}, '"
        "f'mlflow_ldap_auth from {mlflow_ldap_auth.__file__}')"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [python, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=400, help="requests per block")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument(
        "--profile",
        type=lambda text: text.split(","),
        help="comma-separated kinds (no-auth too): one more block of each under cProfile",
    )
    parser.add_argument("--dump", help="write the --profile statistics (pstats) here")
    parser.add_argument(
        "--compare-with",
        type=Path,
        help="another checkout (e.g. main's, from git archive): its ldap-auth is measured "
        "in the same rounds, as '<kind> (other)'",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter (venv) to serve with"
    )
    args = parser.parse_args()
    kinds = [kind for kind in args.kinds.split(",") if kind]
    print(describe(args.python), flush=True)

    from slapd_instance import SlapdInstance

    slapd = SlapdInstance().start()
    work = Path(tempfile.mkdtemp(prefix="bench-warm-path."))
    children = {}
    try:
        children["no-auth"] = Child("no-auth", work / "no-auth", slapd.ldap_uri, args.python)
        children["ldap-auth"] = Child("ldap-auth", work / "ldap-auth", slapd.ldap_uri, args.python)
        if args.compare_with:
            children["other"] = Child(
                "ldap-auth", work / "other", slapd.ldap_uri, args.python, args.compare_with
            )
        for name, child in children.items():
            print(f"{name}: mlflow_ldap_auth from {child.answer()['plugin']}", flush=True)
        measured = [("no-auth", "no-auth", "no-auth")]
        for kind in kinds:
            measured.append((kind, "ldap-auth", kind))
            if args.compare_with:
                measured.append((f"{kind} (other)", "other", kind))
        cpu: dict[str, list[float]] = {name: [] for name, _, _ in measured}
        for _ in range(args.rounds):
            for name, child_name, kind in measured:
                seconds = children[child_name].ask(
                    kind=kind, requests=args.requests, concurrency=args.concurrency
                )["cpu"]
                cpu[name].append(seconds / args.requests * 1e6)
        for kind in args.profile or ():
            child = children["no-auth" if kind == "no-auth" else "ldap-auth"]
            print(f"== profile: {kind}")
            answer = child.ask(kind=kind, requests=args.requests, profile=True, dump=args.dump)
            print(answer["profile"])
    finally:
        for child in children.values():
            child.close()
        slapd.cleanup()
    if args.rounds:
        report(cpu, args)


def report(cpu: dict[str, list[float]], args) -> None:
    base = cpu["no-auth"]
    print(
        f"{args.rounds} interleaved rounds of {args.requests} requests, "
        f"{args.concurrency} at a time, in-process ASGI; CPU µs per request\n"
    )
    print(
        f"{'kind':18} {'median':>8} {'min-max':>13} {'+µs vs no-auth':>15} "
        f"{'no-auth/kind':>13} {'per round':>13}"
    )
    for kind, values in cpu.items():
        ratios = [b / v for b, v in zip(base, values, strict=True)]
        added = [v - b for b, v in zip(base, values, strict=True)]
        print(
            f"{kind:18} {statistics.median(values):8.0f} {min(values):6.0f}-{max(values):<6.0f} "
            f"{statistics.median(added):15.0f} {statistics.median(ratios):13.3f} "
            f"{min(ratios):6.3f}-{max(ratios):.3f}"
        )
    others = [kind for kind in cpu if kind.endswith(" (other)")]
    if others:
        print("\nthis checkout's CPU per request / the other's, per round (< 1: cheaper now):")
    for other in others:
        kind = other.removesuffix(" (other)")
        ratios = [a / b for a, b in zip(cpu[kind], cpu[other], strict=True)]
        shown = " ".join(f"{ratio:.2f}" for ratio in ratios)
        print(f"  {kind:10} median {statistics.median(ratios):.3f}   {shown}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        serve(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
    else:
        main()
