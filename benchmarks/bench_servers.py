"""Starting and measuring ``mlflow server`` processes for the benchmarks.

A benchmark starts each server with ``start_server`` (a free loopback port, its own
directory, ``server.log`` and process group, MLflow's variables of this process left
out), waits for it with ``wait_healthy``, measures it with ``cpu_seconds`` (user +
system CPU of all processes in its group, from /proc) and ends it with ``stop_server``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import requests

OPENLDAP = str(Path(__file__).resolve().parent.parent / "openldap")
if OPENLDAP not in sys.path:
    sys.path.insert(0, OPENLDAP)

from slapd_instance import free_port  # noqa: E402

MLFLOW = str(Path(sys.executable).with_name("mlflow"))
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A started ``mlflow server``: its process (the leader of its group) and directory."""

    name: str
    process: subprocess.Popen
    port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.directory / "server.log").read_text(errors="replace")


def server_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without ``MLFLOW_*``, jobs off, a fixed secret, ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "_MLFLOW_"))}
    env.update(
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false",
        MLFLOW_FLASK_SERVER_SECRET_KEY="bench-secret",
    )
    env.update(extra or {})
    return env


def start_server(
    name: str,
    *,
    workers: int,
    app: str | None = None,
    env: Mapping[str, str] | None = None,
    parent: Path | None = None,
) -> Server:
    """Start ``mlflow server [--app-name app]`` with ``env`` added to its environment.

    Its directory (SQLite tracking store, artifacts, ``server.log``) is ``parent/name``,
    or a new temporary directory without ``parent``.
    """
    if parent is None:
        directory = Path(tempfile.mkdtemp(prefix=f"bench-{name}."))
    else:
        directory = parent / name
        directory.mkdir()
    port = free_port()
    command = [MLFLOW, "server"]
    if app:
        command += ["--app-name", app]
    command += [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--backend-store-uri",
        f"sqlite:///{directory}/mlflow.db",
        "--default-artifact-root",
        f"{directory}/artifacts",
    ]
    with (directory / "server.log").open("w") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=server_environment(env),
            cwd=directory,
            start_new_session=True,
        )
    return Server(name, process, port, directory)


def wait_healthy(server: Server, workers: int, timeout: float = 120) -> None:
    """Poll ``/health`` until it answers (or the server exits), then let all workers up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log()}")
        try:
            if requests.get(server.url + "/health", timeout=1).ok:
                break
        except requests.RequestException:
            pass
        time.sleep(0.3)
    else:
        raise RuntimeError(f"{server.name} not healthy after {timeout} s:\n{server.log()}")
    # /health answers with the first worker; give the others time to come up.
    time.sleep(2 + workers)


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group; SIGKILL if it is not gone after 20 s."""
    if server.process.poll() is not None:
        return
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        server.process.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()
    except ProcessLookupError:
        pass


def cpu_seconds(*, pgid: int | None = None, pid: int | None = None) -> float:
    """CPU (user + system) of the processes in group ``pgid``, or of process ``pid``."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or (pid is not None and int(name) != pid):
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if pid is not None or int(fields[2]) == pgid:  # field 5: pgrp
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLK_TCK
