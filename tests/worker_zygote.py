"""The server worker (``uvicorn``) of a test server, forked from an interpreter that
imported the third-party libraries once.

``mlflow server`` starts its worker as a new interpreter (``python -m uvicorn ...``,
``mlflow.server._run_server``), which imports MLflow, the plugin and the libraries
under them: 2.5 s of CPU on an idle machine, far more on a busy one, for every test
server (about a hundred per run). About 1 s of it is libraries that read none of
MLflow's or the plugin's settings (SQLAlchemy, pandas, pyarrow, NumPy, FastAPI, Flask,
...: ``PRELOAD``). A zygote (this module run as a script, one per test process)
imports those once; a test server's command (``forked_mlflow``) asks it for its
worker, and the zygote forks a child that becomes ``python -m uvicorn ARGS`` with the
command's environment, working directory and output. MLflow and the plugin are
imported in that child, after its environment is set, as in a new interpreter: what
they read at import time (``--static-prefix``, the plugin's configuration, MLflow's
auth settings) is the server's own. With ``--workers N`` (N > 1), uvicorn's supervisor
forks its workers instead of spawning new interpreters; they too import the app
themselves.

The child is not the command's child, so it watches the command: when the command
exits (even by SIGKILL), the child is sent SIGTERM, then SIGKILL. Its PID is written to
``MLFLOW_LDAP_AUTH_TEST_WORKER_PIDS`` (a file) so that a test can find and stop it.

Protocol, one connection per worker on a Unix socket: the command sends one JSON line
(``argv``, ``env``, ``cwd``, ``log``, ``watch``); the zygote answers ``pid`` and, once
the child exited, ``status`` (its exit code, or minus the signal), one line each.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import signal
import socket
import sys
import threading
import time

#: Libraries the worker imports that read none of MLflow's or the plugin's settings.
PRELOAD = (
    "sqlalchemy",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql",
    "alembic",
    "numpy",
    "pandas",
    "pyarrow",
    "pydantic",
    "fastapi",
    "starlette",
    "flask",
    "werkzeug",
    "jinja2",
    "click",
    "uvicorn",
    "uvicorn.main",
    "uvicorn.supervisors.multiprocess",
    "google.protobuf",
    "cryptography",
    "ldap3",
    "yaml",
    "requests",
    "opentelemetry",
    "opentelemetry.sdk.trace",
    "pygments",
    "scipy.sparse",
    "numpy.f2py",
    "numpy.polynomial",
    "numpy.testing",
    "aiohttp",
    "sqlparse",
    "google.protobuf.json_format",
    "google.protobuf.descriptor_pool",
    "cachetools",
    "flask_cors",
)
#: Where the child writes its PID (a file the command's environment names).
PIDS_FILE_ENV = "MLFLOW_LDAP_AUTH_TEST_WORKER_PIDS"
#: Grace between the SIGTERM and the SIGKILL of a child whose command is gone.
STOP_GRACE_SECONDS = 10
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """The zygote ends with the test process that started it."""
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _watch(command_pid: int) -> None:
    """In the child: SIGTERM (then SIGKILL) to itself once ``command_pid`` exits."""
    try:
        pidfd = os.pidfd_open(command_pid)
    except ProcessLookupError:
        pidfd = None
    if pidfd is not None:
        select.select([pidfd], [], [])
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_GRACE_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


def _become_worker(request: dict) -> None:
    """In the child: the command's ``python -m uvicorn ARGS``; never returns."""
    code = 1
    try:
        os.setsid()
        os.chdir(request["cwd"])
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        for fd in (1, 2):
            os.dup2(log, fd)
        os.close(log)
        os.environ.clear()
        os.environ.update(request["env"])
        pids_file = os.environ.get(PIDS_FILE_ENV)
        if pids_file:
            with open(pids_file, "a") as file:
                file.write(f"{os.getpid()}\n")
        threading.Thread(target=_watch, args=(request["watch"],), daemon=True).start()
        import multiprocessing

        import uvicorn._subprocess

        # uvicorn's supervisor (--workers N > 1) spawns new interpreters; forked, its
        # workers keep the libraries imported here (the supervisor loads no app).
        uvicorn._subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]
        sys.argv = [request["argv"][0], *request["argv"][3:]]
        sys.path[0] = os.getcwd()  # as for `python -m`: the working directory first
        from uvicorn.main import main

        main.main(args=request["argv"][3:], prog_name="uvicorn")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve_one(connection: socket.socket) -> None:
    """Fork the worker one connection asks for; report its PID and its end."""
    reader = connection.makefile("r")
    request = json.loads(reader.readline())
    pid = os.fork()
    if pid == 0:
        os.closerange(3, 65536)  # the zygote's sockets, and other workers' connections
        _become_worker(request)
    connection.sendall(f"{json.dumps({'pid': pid})}\n".encode())

    def reap() -> None:
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        try:
            connection.sendall(f"{json.dumps({'status': code})}\n".encode())
        except OSError:
            pass
        connection.close()

    threading.Thread(target=reap, daemon=True).start()


def serve(address: str) -> None:
    _die_with_parent()
    for name in PRELOAD:
        importlib.import_module(name)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(16)
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        _serve_one(connection)


if __name__ == "__main__":
    serve(sys.argv[1])
