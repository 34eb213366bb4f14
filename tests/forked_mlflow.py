"""MLflow's ``mlflow server`` and the plugin's ``python -m mlflow_ldap_auth``, run from
an interpreter that imported both command lines once.

A test server is MLflow's own ``mlflow server`` command, and MLflow starts the plugin's
app in a process of its own (uvicorn, gunicorn or waitress): a fresh interpreter that
reads the plugin's configuration as in production. The command's own process only
checks its options and spawns that one, yet a fresh interpreter spends about 4 s of CPU
importing ``mlflow.cli`` for it (half of a server start's CPU); the plugin's command
spends 3 s importing before it runs. Servers and commands are most of the suite's CPU.

Here a forkserver (``multiprocessing``) of each test process imports both once, and
each command runs in a child forked from it: the same command with its arguments,
environment (the whole of it: what the command and what it spawns see), working
directory and output, in a session of its own (``killpg`` stops a server's command and
its server together, as for a process started with ``start_new_session``). What runs
before a command's code, the interpreter's start-up, is not tested this way: a test of
it (a wrapper script, ``PYTHONPATH``, ``sitecustomize``) starts its server with a fresh
interpreter (``servers.MlflowServer.forkable``), and ``test_wheel`` installs and runs
the package as a user would.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import multiprocessing
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["mlflow.cli", "mlflow_ldap_auth.cli"])
_STARTED = threading.Lock()
#: The command's environment variable naming its worker zygote's socket (removed
#: before the command runs).
ZYGOTE_ENV = "MLFLOW_LDAP_AUTH_TEST_ZYGOTE"
_ZYGOTE_STARTED = threading.Lock()


def _become(env: dict[str, str], cwd: str, stdout: str, stderr: str) -> None:
    """In a forked child: a session of its own, ``cwd``, ``env``, output to files."""
    os.setsid()
    os.chdir(cwd)
    for fd, path in ((1, stdout), (2, stderr)):
        opened = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(env)


class ZygoteWorker:
    """What MLflow's command uses of the ``subprocess.Popen`` of its worker, for a
    worker forked by ``worker_zygote`` (its connection reports the PID and the end)."""

    def __init__(self, connection, args: list[str]) -> None:
        self._connection = connection
        self._lines = connection.makefile("r")
        self.args = args
        self.pid: int = json.loads(self._lines.readline())["pid"]
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            ready, _, _ = select.select([self._connection], [], [], 0)
            if ready:
                self._read_status()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            ready, _, _ = select.select([self._connection], [], [], timeout)
            if not ready:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._read_status()
        assert self.returncode is not None
        return self.returncode

    def _read_status(self) -> None:
        line = self._lines.readline()
        self.returncode = json.loads(line)["status"] if line else -signal.SIGKILL

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def _worker_from_zygote(address: str, original: Callable[..., Any]) -> Callable[..., Any]:
    """MLflow's ``_exec_cmd`` that asks the zygote at ``address`` for the uvicorn
    worker (``python -m uvicorn ...``) and runs anything else as before."""

    def exec_cmd(cmd, *, extra_env=None, capture_output=True, synchronous=True, **kwargs):
        if synchronous or capture_output or list(cmd[1:3]) != ["-m", "uvicorn"]:
            return original(
                cmd,
                extra_env=extra_env,
                capture_output=capture_output,
                synchronous=synchronous,
                **kwargs,
            )
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.connect(address)
        request = {
            "argv": [str(part) for part in cmd],
            "env": {**os.environ, **(extra_env or {})},
            "cwd": os.getcwd(),
            "log": os.readlink("/proc/self/fd/1"),
            "watch": os.getpid(),
        }
        connection.sendall(f"{json.dumps(request)}\n".encode())
        return ZygoteWorker(connection, list(cmd))

    return exec_cmd


def _run_mlflow(args: list[str], env: dict[str, str], cwd: str, log: str) -> None:
    zygote = env.pop(ZYGOTE_ENV, None)
    _become(env, cwd, log, log)
    if zygote:
        import mlflow.server

        mlflow.server._exec_cmd = _worker_from_zygote(zygote, mlflow.server._exec_cmd)
    # As the command's script sees it: the plugin's app module looks at sys.argv to
    # know it is imported by `mlflow server` itself (and runs its preflight there).
    sys.argv = [str(Path(sys.executable).with_name("mlflow")), *args]
    from mlflow.cli import cli

    cli.main(args=args, prog_name="mlflow")


def _run_ldap_auth(args: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    _become(env, cwd, out, err)
    import mlflow_ldap_auth

    sys.argv = [str(Path(mlflow_ldap_auth.__file__).with_name("__main__.py")), *args]
    from mlflow_ldap_auth.cli import main

    sys.exit(main(args))


class ForkedCommand:
    """What the tests use of a ``subprocess.Popen``, for a command run by ``start``."""

    def __init__(self, process: multiprocessing.process.BaseProcess, args: list[str]) -> None:
        self._process = process
        self.args = args
        self.pid = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def poll(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return self._process.exitcode

    def send_signal(self, signum: int) -> None:
        if self._process.exitcode is None:
            os.kill(self.pid, signum)


def start(
    args: list[str], *, env: dict[str, str], cwd: Path, log: Path, warnings: str
) -> ForkedCommand:
    """``mlflow ARGS`` in a child of this process's forkserver, started on first use
    with ``warnings`` (a ``PYTHONWARNINGS`` value) for its imports.

    The child is daemonic: should a test process end with a server still running,
    multiprocessing stops it (its command forwards the signal to the server)."""
    _ensure_forkserver(warnings)
    env = {**env, ZYGOTE_ENV: _zygote_address()}
    process = _CONTEXT.Process(
        target=_run_mlflow, args=(args, env, str(cwd), str(log)), daemon=True
    )
    process.start()
    return ForkedCommand(process, ["mlflow", *args])


def run_ldap_auth(
    args: list[str], *, env: dict[str, str], timeout: float, warnings: str
) -> subprocess.CompletedProcess:
    """``python -m mlflow_ldap_auth ARGS`` as ``subprocess.run(..., capture_output=True,
    text=True, timeout=timeout)`` would run it, in a child of the forkserver."""
    _ensure_forkserver(warnings)
    command = [sys.executable, "-m", "mlflow_ldap_auth", *args]
    with tempfile.TemporaryDirectory(prefix="ldap-auth-cli.") as directory:
        out, err = Path(directory, "stdout"), Path(directory, "stderr")
        process = _CONTEXT.Process(
            target=_run_ldap_auth,
            args=(args, env, os.getcwd(), str(out), str(err)),
            daemon=True,
        )
        process.start()
        process.join(timeout)
        if process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.join()
            raise subprocess.TimeoutExpired(command, timeout)
        return subprocess.CompletedProcess(
            command,
            process.exitcode,
            out.read_text() if out.exists() else "",
            err.read_text() if err.exists() else "",
        )


def _zygote_address() -> str:
    """The socket of this test process's ``worker_zygote``, started on first use (it
    ends with this process)."""
    with _ZYGOTE_STARTED:
        address = getattr(_zygote_address, "address", None)
        if address is None:
            address = os.path.join(tempfile.mkdtemp(prefix="worker-zygote."), "socket")
            zygote = subprocess.Popen(
                [sys.executable, str(Path(__file__).with_name("worker_zygote.py")), address],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert zygote.stdout is not None
            ready = zygote.stdout.readline().strip() == "ready"
            zygote.stdout.close()
            if not ready:
                raise RuntimeError(f"the worker zygote exited with {zygote.wait()}")
            atexit.register(_stop_zygote, zygote)
            _zygote_address.address = address  # type: ignore[attr-defined]
        return address


def _stop_zygote(zygote: subprocess.Popen) -> None:
    zygote.kill()
    zygote.wait()


def _ensure_forkserver(warnings: str) -> None:
    with _STARTED:
        if not getattr(_ensure_forkserver, "running", False):
            _start_forkserver(warnings)
            _ensure_forkserver.running = True  # type: ignore[attr-defined]


def _start_forkserver(warnings: str) -> None:
    from multiprocessing import forkserver

    saved = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = warnings
    try:
        forkserver.ensure_running()
    finally:
        if saved is None:
            os.environ.pop("PYTHONWARNINGS", None)
        else:
            os.environ["PYTHONWARNINGS"] = saved
