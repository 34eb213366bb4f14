"""Real server processes for the tests: ``mlflow server --app-name ldap-auth``.

Each server gets a free port, its own directory and log file, a readiness poll with a
deadline that also notices a crashed process, and is stopped by its own process group.
``start_server`` is the one way the tests start one (it writes the config too).

Also here: what tests read off a running server (``audit_lines``, ``wait_for_audit``),
do to it (``flush_caches``, ``client_as``, ``run_cli``) and the barriers that prove an
event happened before a test checks that something else did not (``wait_until``,
``slapd_barrier``, ``unread_at``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import requests

if TYPE_CHECKING:
    import pytest

OPENLDAP_DIR = Path(__file__).resolve().parent.parent / "openldap"
sys.path.insert(0, str(OPENLDAP_DIR))

import forked_mlflow  # noqa: E402
import worker_zygote  # noqa: E402

from slapd_instance import (  # noqa: E402
    BASE_DN,
    GROUPS_DN,
    PEOPLE_DN,
    ROOT_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SlapdInstance,
    free_port,
)

MLFLOW = str(Path(sys.executable).with_name("mlflow"))
ADMIN_PASSWORD = "break-glass-password-42"
#: A directory admin (member of cn=mlflow-admins) of the seeded slapd.
CAROL = ("carol", "carol-password")
#: The seeded people's passwords (openldap/seed.ldif).
PASSWORDS = {name: f"{name}-password" for name in ("alice", "bob", "carol", "dave", "jsmith")}
CACHE_FLUSH = "/api/2.0/mlflow/ldap-auth/cache/flush"
ADMINS_DN = f"cn=mlflow-admins,{GROUPS_DN}"
USERS_DN = f"cn=mlflow-users,{GROUPS_DN}"
DATA_SCIENCE_DN = f"cn=data-science,{GROUPS_DN}"

__all__ = [
    "ADMINS_DN",
    "ADMIN_PASSWORD",
    "BASE_DN",
    "CAROL",
    "DATA_SCIENCE_DN",
    "GROUPS_DN",
    "PASSWORDS",
    "PEOPLE_DN",
    "SERVICE_DN",
    "SERVICE_PASSWORD",
    "START_SECONDS",
    "USERS_DN",
    "MlflowServer",
    "SlapdInstance",
    "add_person",
    "audit_lines",
    "basic_header",
    "blackhole_server",
    "client_as",
    "entry_exists",
    "flush_caches",
    "free_port",
    "ldap_config",
    "run_cli",
    "slapd_barrier",
    "slapd_count",
    "start_server",
    "unread_at",
    "wait_for_audit",
    "wait_until",
]

T = TypeVar("T")

#: How long a server may take to answer ``/health``. MLflow promises no start-up time:
#: a server that exits is noticed at once, so this bound only stops a hung start. On a
#: busy 2-core machine running a test suite on several workers, a `--workers 2` server
#: was seen to take over 90 s (three processes each importing MLflow).
START_SECONDS = 300.0

#: A -W filter for MLflow's warning that mlflow-tracing differs from mlflow.
MLFLOW_TRACING_MISMATCH_WARNING = (
    "ignore:Versions of mlflow (3.18.0) and child packages mlflow-tracing (3.17.2):UserWarning"
)


#: Where ``tracking_template`` builds its database: a directory of the template's own
#: artifact root, replaced by the server's when the template is copied.
_TEMPLATE_ARTIFACT_ROOT = "/mlflow-ldap-auth-template/artifacts"


def tracking_template() -> Path:
    """An empty SQLite tracking database MLflow has created and migrated to its head,
    built once per MLflow install (a file in the temporary directory, named by the
    MLflow version and the virtualenv) and copied for each test server.

    ``mlflow server`` creates and migrates a new tracking database before it starts
    (~1.5 s of CPU, seconds on a busy machine); on a database at MLflow's head it
    skips that. The copy is what MLflow would have made: ``copy_tracking_template``
    gives its Default experiment the server's artifact root and the time of the copy.
    """
    key = hashlib.sha256(
        f"{sys.prefix}:{importlib.metadata.version('mlflow')}".encode()
    ).hexdigest()[:16]
    template = Path(tempfile.gettempdir()) / f"mlflow-ldap-auth-tracking-{key}.db"
    with open(f"{template}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers: one builds, the others wait
        if not template.exists():
            building = Path(tempfile.mkdtemp(prefix="tracking-template."))
            script = (
                "import sys\n"
                "from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore\n"
                "SqlAlchemyStore(sys.argv[1], sys.argv[2])\n"
            )
            subprocess.run(
                [sys.executable, "-W", "ignore", "-c", script]
                + [f"sqlite:///{building}/mlflow.db", _TEMPLATE_ARTIFACT_ROOT],
                check=True,
                capture_output=True,
                timeout=START_SECONDS,
                env={
                    k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_"))
                },
            )
            os.replace(building / "mlflow.db", template)
            shutil.rmtree(building, ignore_errors=True)
    return template


def copy_tracking_template(database: Path, artifact_root: str) -> None:
    """``tracking_template`` as ``database``, its Default experiment where ``mlflow
    server --default-artifact-root ARTIFACT_ROOT`` would have put it, made now."""
    shutil.copyfile(tracking_template(), database)
    now_ms = int(time.time() * 1000)
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        db.execute(
            "UPDATE experiments SET artifact_location = replace(artifact_location, ?, ?),"
            " creation_time = ?, last_update_time = ? WHERE experiment_id = 0",
            (_TEMPLATE_ARTIFACT_ROOT, artifact_root, now_ms, now_ms),
        )


def ldap_config(directory: Path, server_uri: str, mlflow: dict | None = None, **ldap) -> Path:
    """Write an ldap-auth INI for the demo directory; keyword arguments override [ldap]."""
    mlflow_section = {
        "default_permission": "READ",
        "database_uri": f"sqlite:///{directory}/auth.db",
        "admin_username": "admin",
        "admin_password": ADMIN_PASSWORD,
    }
    mlflow_section.update(mlflow or {})
    mlflow_section = {key: value for key, value in mlflow_section.items() if value is not None}
    ldap_section = {
        "server_uri": server_uri,
        "bind_dn": SERVICE_DN,
        "bind_password": SERVICE_PASSWORD,
        "user_search_base": PEOPLE_DN,
        "group_search_base": GROUPS_DN,
        "admin_groups": ADMINS_DN,
        "connect_timeout": "2",
        "receive_timeout": "2",
    }
    ldap_section.update({key: value for key, value in ldap.items() if value is not None})
    for key in [key for key, value in ldap.items() if value is None]:
        ldap_section.pop(key, None)
    lines = ["[mlflow]"] + [f"{k} = {v}" for k, v in mlflow_section.items()]
    lines += ["", "[ldap]"] + [f"{k} = {v}" for k, v in ldap_section.items()]
    path = directory / "ldap_auth.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


def basic_header(raw: bytes, name: str = "Authorization") -> dict[str, str]:
    """An HTTP Basic header from raw ``user:password`` bytes (any bytes, for bad input)."""
    return {name: "Basic " + base64.b64encode(raw).decode()}


def audit_lines(server: MlflowServer, **match) -> list[dict]:
    """The JSON audit records a server has logged so far, oldest first.

    Keyword arguments keep only the records whose fields have those values, e.g.
    ``audit_lines(server, user="alice", result="refused")``.
    """
    marker = "mlflow_ldap_auth.audit: "
    records = [
        json.loads(line.split(marker, 1)[1]) for line in server.log().splitlines() if marker in line
    ]
    return [r for r in records if all(r.get(key) == value for key, value in match.items())]


def wait_until(condition: Callable[[], T], message: str, timeout: float = 10.0) -> T:
    """Poll ``condition`` (every 50 ms) until it is true; its value, or a failed assertion."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout} s)")
        time.sleep(0.05)


def wait_for_audit(server: MlflowServer, after: int = 0, timeout: float = 10.0, **match):
    """A barrier: the audit records matching ``match`` beyond the first ``after`` of them.

    Returns once at least one such new record is in the server's log; ``after`` is what
    ``len(audit_lines(server, **match))`` was before the event.
    """
    return wait_until(
        lambda: audit_lines(server, **match)[after:],
        f"no new audit record with {match} in the server's log",
        timeout,
    )


def slapd_count(slapd: SlapdInstance, needle: str) -> int:
    """How many lines of slapd's ``-d stats`` log contain ``needle``."""
    return sum(needle in line for line in slapd.stats_lines())


def slapd_barrier(slapd: SlapdInstance, timeout: float = 10.0) -> None:
    """Return once slapd's log holds every operation slapd received before this call.

    An anonymous compare on a DN made up for the purpose is sent, and awaited in the log:
    an operation slapd had received earlier was logged before it. The marker matches no
    needle the tests count (no search, no bind of a named entry).
    """
    marker = f"cn=barrier-{uuid.uuid4().hex},{BASE_DN}"
    subprocess.run(  # compareFalse / noSuchObject: the exit status says nothing here
        ["ldapcompare", "-x", "-H", slapd.ldap_uri, marker, "cn:x"],
        capture_output=True,
        timeout=30,
    )
    wait_until(
        lambda: slapd_count(slapd, f'CMP dn="{marker}"'),
        f"slapd did not log the marker compare on {marker}",
        timeout,
    )


def entry_exists(slapd: SlapdInstance, dn: str) -> bool:
    """Whether ``dn`` names an entry in slapd now (a base search as the root DN)."""
    result = subprocess.run(
        ["ldapsearch", "-x", "-H", slapd.ldap_uri, "-D", ROOT_DN, "-w", slapd.root_password]
        + ["-b", dn, "-s", "base", "(objectClass=*)", "1.1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if result.returncode not in (0, 32):  # 32: noSuchObject
        raise RuntimeError(f"ldapsearch failed ({result.returncode}): {result.stderr}")
    return result.returncode == 0


def unread_at(port: int) -> bool:
    """Whether the kernel holds connections or bytes for the loopback listener on ``port``
    that its process has not taken yet (what a client of a frozen server is waiting on).

    Read from /proc/net/tcp{,6}: for a listening socket ``rx_queue`` is its accept
    backlog, for a connection the bytes not read yet.
    """
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):  # no IPv6 on this kernel
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                local, queues = fields[1], fields[4]
                if int(local.rsplit(":", 1)[1], 16) == port and int(queues.split(":")[1], 16):
                    return True
    return False


def connections_to(port: int) -> set[tuple[str, int]]:
    """The loopback client sockets connected to ``port`` now (their local address and
    port), read from /proc/net/tcp{,6}: a connection made between two readings is a new
    member, whatever the machine's speed."""
    found: set[tuple[str, int]] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):  # no IPv6 on this kernel
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                local, remote = fields[1].rsplit(":", 1), fields[2].rsplit(":", 1)
                if int(remote[1], 16) == port:
                    found.add((local[0], int(local[1], 16)))
    return found


def flush_caches(server: MlflowServer, auth: tuple[str, str] = CAROL) -> set[int]:
    """Empty the login and permission caches of every worker of ``server``.

    Each ``POST .../cache/flush`` empties the caches of the worker that answers it (and
    names it); fresh connections are sent until each of the ``server.workers`` answered.
    """
    flushed: set[int] = set()
    for _ in range(50 * server.workers):
        response = requests.post(server.url + CACHE_FLUSH, auth=auth, timeout=30)
        assert response.status_code == 200, response.text
        flushed.add(response.json()["worker"])
        if len(flushed) >= server.workers:
            return flushed
    raise AssertionError(f"only workers {flushed} answered the cache flush")


@contextlib.contextmanager
def client_as(server: MlflowServer, username: str, password: str, *, app: bool = False):
    """MLflow's own client for ``server``, sending ``username``:``password``.

    MLflow reads ``MLFLOW_TRACKING_USERNAME`` / ``_PASSWORD`` at each request, so they
    are set for the ``with`` block (and restored after). ``app=True``: the ldap-auth
    client (``get_app_client``), else an ``MlflowClient``.
    """
    from mlflow import MlflowClient  # imported here: servers.py is used outside pytest too
    from mlflow.server import get_app_client

    names = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({names[0]: username, names[1]: password})
    try:
        if app:
            yield get_app_client("ldap-auth", tracking_uri=server.url)
        else:
            yield MlflowClient(tracking_uri=server.url)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_cli(
    config: Path, *args: str, config_in_env: bool = False, timeout: float = START_SECONDS
) -> subprocess.CompletedProcess:
    """``python -m mlflow_ldap_auth ARGS --config CONFIG`` (text output captured).

    ``config_in_env=True``: the config path in ``MLFLOW_LDAP_AUTH_CONFIG_PATH`` instead of
    ``--config``, as a deployment that sets it for the server would run the command.
    """
    env = dict(os.environ)
    # .ci/setup installs MLflow 3.18.0 beside mlflow-tracing 3.17.2 (see the comment
    # there): MLflow's import-time warning about it is no line of the command's own.
    # Drop with that step, as the filter in pyproject.toml.
    env["PYTHONWARNINGS"] = ",".join(
        filter(None, [env.get("PYTHONWARNINGS"), MLFLOW_TRACING_MISMATCH_WARNING])
    )
    count_start("cli " + (args[0] if args else ""))
    arguments = list(args)
    if config_in_env:
        env["MLFLOW_LDAP_AUTH_CONFIG_PATH"] = str(config)
    else:
        arguments += ["--config", str(config)]
    return forked_mlflow.run_ldap_auth(
        arguments, env=env, timeout=timeout, warnings=MLFLOW_TRACING_MISMATCH_WARNING
    )


def add_person(slapd: SlapdInstance, uid: str, password: str, groups=(), rdn: str | None = None):
    """A person under ou=people (``rdn`` overrides ``uid=<uid>``), member of ``groups``."""
    dn = f"{rdn or 'uid=' + uid},{PEOPLE_DN}"
    slapd.ldif(
        "ldapadd",
        f"dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
        f"userPassword: {password}\n",
    )
    for group_dn in groups:
        slapd.ldif(
            "ldapmodify",
            f"dn: {group_dn}\nchangetype: modify\nadd: member\nmember: {dn}\n",
        )
    return dn


def count_start(what: str) -> None:
    """With ``TEST_PROCESS_LOG`` set, one line per process that imports MLflow (a server
    or the command line) and the test that started it: what a run's CPU goes to
    (3-5 s of CPU a server's worker, under a second a forked command), counted rather
    than timed."""
    log = os.environ.get("TEST_PROCESS_LOG")
    if log:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        with open(log, "a") as file:
            file.write(f"{what}\t{test}\n")


class PortTakenError(RuntimeError):
    """The server exited because another process had bound its port first."""


class MlflowServer:
    """``mlflow server --app-name ldap-auth`` on a free loopback port."""

    def __init__(
        self,
        config_path: Path,
        workers: int = 1,
        extra_args=(),
        env=None,
        backend_store_uri: str | None = None,
        directory: Path | None = None,
    ) -> None:
        self.directory = directory or Path(tempfile.mkdtemp(prefix="mlflow-srv."))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = self.directory / "server.log"
        self.config_path = config_path
        self.workers = workers
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.backend_store_uri = backend_store_uri or f"sqlite:///{self.directory}/mlflow.db"
        self.process: subprocess.Popen | forked_mlflow.ForkedCommand | None = None

    def command(self) -> list[str]:
        return [
            MLFLOW,
            "server",
            "--app-name",
            "ldap-auth",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            self.backend_store_uri,
            "--default-artifact-root",
            f"{self.directory}/artifacts",
            "--workers",
            str(self.workers),
            *self.extra_args,
        ]

    def environment(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("MLFLOW_", "_MLFLOW_"))
        }
        env.update(
            {
                "MLFLOW_LDAP_AUTH_CONFIG_PATH": str(self.config_path),
                "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
                "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-secret-key",
                "PYTHONUNBUFFERED": "1",
                worker_zygote.PIDS_FILE_ENV: str(self._worker_pids_file()),
            }
        )
        env.update(self.env)
        return env

    def start_process_only(self) -> None:
        count_start("mlflow server")
        if self._tracking_from_template():
            copy_tracking_template(self.directory / "mlflow.db", f"{self.directory}/artifacts")
        if self.forkable():
            self.log_file.write_text("")
            self.process = forked_mlflow.start(
                self.command()[1:],
                env=self.environment(),
                cwd=self.directory,
                log=self.log_file,
                warnings=MLFLOW_TRACING_MISMATCH_WARNING,
            )
            return
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.directory,
                start_new_session=True,
            )

    def forkable(self) -> bool:
        """Whether the command may run from this process's forkserver (see
        ``forked_mlflow``): not for a test of the interpreter's start-up (another
        command, or a ``PYTHON*`` variable such as ``PYTHONPATH``)."""
        return "command" not in vars(self) and not any(key.startswith("PYTHON") for key in self.env)

    def _tracking_from_template(self) -> bool:
        """Whether the server gets a copy of ``tracking_template``: a new database of
        its own in its directory, on MLflow's defaults (workspaces and other MLflow
        settings of a test change what MLflow creates: such a server makes its own)."""
        return (
            self.backend_store_uri == f"sqlite:///{self.directory}/mlflow.db"
            and not (self.directory / "mlflow.db").exists()
            and "--enable-workspaces" not in self.extra_args
            and not any(key.startswith(("MLFLOW_", "_MLFLOW_")) for key in self.env)
        )

    def start(self, timeout: float = START_SECONDS) -> MlflowServer:
        """Start and wait for ``/health``; on another free port if this one was taken.

        ``free_port`` only finds a port free at that moment: a test run on several
        workers starts servers side by side, and another process may bind the port
        before this server does. Then (and only then) the server is started again on
        a new port, at most twice.
        """
        for attempt in range(3):
            try:
                return self._start_once(timeout)
            except PortTakenError:
                if attempt == 2:
                    raise
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> MlflowServer:
        self.start_process_only()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.log()
                error = PortTakenError if "address already in use" in log.lower() else RuntimeError
                raise error(f"mlflow server exited with {self.process.returncode}:\n{log}")
            with contextlib.suppress(requests.RequestException):  # not listening yet
                healthy = requests.get(f"{self.url}/health", timeout=1).status_code == 200
                if healthy and self._listening_here():
                    return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {timeout}s:\n{self.log()}")

    def _listening_here(self) -> bool:
        """Whether this server's own log says it listens on its port (uvicorn's "running
        on", gunicorn's "Listening at", Flask's "Running on"): a ``/health`` answer alone
        may come from another test's server that took the port first."""
        address = f"http://127.0.0.1:{self.port}"
        return any(
            address in line and ("running on" in line.lower() or "listening at" in line.lower())
            for line in self.log().splitlines()
        )

    def wait_exit(self, timeout: float = START_SECONDS) -> int:
        """For servers expected to refuse to start: their exit status. A refusal comes
        after MLflow's start-up, as long as a start may take (a fixed 60 s was passed
        on a busy machine)."""
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def process_groups(self) -> set[int]:
        """The process groups of this server: its command's, and its worker's when the
        worker was forked by the ``worker_zygote`` (a session of its own, its workers
        with ``--workers N`` in it)."""
        if self.process is None:
            return set()
        groups = {self.process.pid}
        with contextlib.suppress(FileNotFoundError):
            groups.update(int(pid) for pid in self._worker_pids_file().read_text().split())
        return groups

    def _worker_pids_file(self) -> Path:
        return self.directory / "worker.pids"

    def stop(self) -> None:
        if self.process is None:
            return
        groups = self.process_groups()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # the group is already gone
                try:
                    os.killpg(self.process.pid, signal.SIGTERM)
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
        for group in groups - {self.process.pid}:  # a worker that outlived its command
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        self.process = None

    def __enter__(self) -> MlflowServer:
        """Starts the server, unless ``start_server`` already did."""
        return self if self.process is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def start_server(
    tmp: Path | pytest.TempPathFactory,
    directory: SlapdInstance | str | None = None,
    *,
    config: Path | None = None,
    mlflow: dict | None = None,
    workers: int = 1,
    env: dict | None = None,
    extra_args: Sequence[str] = (),
    backend_store_uri: str | None = None,
    name: str = "server",
    ready: bool = True,
    **ldap: str | None,
) -> MlflowServer:
    """A running ``mlflow server --app-name ldap-auth``; ``with`` it to stop it after.

    ``tmp`` (``tmp_path_factory`` for module-scoped servers, or a test's ``tmp_path``)
    holds a new directory ``name``*: the server's config, log, tracking database and
    artifacts. The config is written by ``ldap_config`` for ``directory`` (a slapd, or
    the ``server_uri`` text itself), ``mlflow`` overriding ``[mlflow]`` and the other
    keyword arguments ``[ldap]`` (None removes a key); or ``config`` names one already
    written (shared with CLI tests or a second server). ``ready=False`` only starts the
    process, for a server expected to refuse to start (``wait_exit``).
    """
    if isinstance(tmp, Path):
        home = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=tmp))
    else:
        home = tmp.mktemp(name)
    if config is None:
        if directory is None:
            raise TypeError("start_server needs a directory or a config")
        uri = directory if isinstance(directory, str) else directory.ldap_uri
        config = ldap_config(home, uri, mlflow, **ldap)
    elif directory is not None or mlflow or ldap:
        raise TypeError("start_server: config= already holds the settings")
    server = MlflowServer(
        config,
        workers=workers,
        extra_args=extra_args,
        env=env,
        backend_store_uri=backend_store_uri,
        directory=home,
    )
    if ready:
        server.start()
    else:
        server.start_process_only()
    return server


class blackhole_server:
    """A TCP port that accepts connections and never answers (a hung LDAP server)."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(64)
        self.uri = f"ldap://127.0.0.1:{self.socket.getsockname()[1]}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.socket.close()
