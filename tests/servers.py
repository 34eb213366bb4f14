"""Real server processes for the tests: ``mlflow server --app-name ldap-auth``.

Each server gets a free port, its own directory and log file, a readiness poll with a
deadline that also notices a crashed process, and is stopped by its own process group.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

OPENLDAP_DIR = Path(__file__).resolve().parent.parent / "openldap"
sys.path.insert(0, str(OPENLDAP_DIR))

from slapd_instance import (  # noqa: E402
    GROUPS_DN,
    PEOPLE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SlapdInstance,
    free_port,
)

MLFLOW = str(Path(sys.executable).with_name("mlflow"))
ADMIN_PASSWORD = "break-glass-password-42"
ADMINS_DN = f"cn=mlflow-admins,{GROUPS_DN}"
USERS_DN = f"cn=mlflow-users,{GROUPS_DN}"
DATA_SCIENCE_DN = f"cn=data-science,{GROUPS_DN}"

__all__ = [
    "ADMINS_DN",
    "ADMIN_PASSWORD",
    "DATA_SCIENCE_DN",
    "GROUPS_DN",
    "PEOPLE_DN",
    "SERVICE_DN",
    "SERVICE_PASSWORD",
    "USERS_DN",
    "MlflowServer",
    "SlapdInstance",
    "add_person",
    "audit_lines",
    "basic_header",
    "blackhole_server",
    "free_port",
    "ldap_config",
    "slapd_count",
]


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


def audit_lines(server: MlflowServer) -> list[dict]:
    """The JSON audit records a server has logged so far."""
    marker = "mlflow_ldap_auth.audit: "
    return [
        json.loads(line.split(marker, 1)[1]) for line in server.log().splitlines() if marker in line
    ]


def slapd_count(slapd: SlapdInstance, needle: str) -> int:
    """How many lines of slapd's ``-d stats`` log contain ``needle``."""
    return sum(needle in line for line in slapd.stats_lines())


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


class MlflowServer:
    """``mlflow server --app-name ldap-auth`` on a free loopback port."""

    def __init__(
        self,
        config_path: Path,
        workers: int = 1,
        extra_args=(),
        env=None,
        backend_store_uri: str | None = None,
    ) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="mlflow-srv."))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_file = self.directory / "server.log"
        self.config_path = config_path
        self.workers = workers
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        self.backend_store_uri = backend_store_uri or f"sqlite:///{self.directory}/mlflow.db"
        self.process: subprocess.Popen | None = None

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
            }
        )
        env.update(self.env)
        return env

    def start_process_only(self) -> None:
        with self.log_file.open("w") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                cwd=self.directory,
                start_new_session=True,
            )

    def start(self, timeout: float = 90.0) -> MlflowServer:
        self.start_process_only()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited with {self.process.returncode}:\n{self.log()}"
                )
            with contextlib.suppress(requests.RequestException):  # not listening yet
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"mlflow server not healthy after {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout: float = 60.0) -> int:
        """For servers expected to refuse to start: their exit status."""
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # the group is already gone
                try:
                    os.killpg(self.process.pid, signal.SIGTERM)
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait()
        self.process = None

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


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
