"""The helpers the real-server tests stand on, under a run on several pytest-xdist workers
(.ci/test): a server whose port another process took first starts on another one, and
is never mistaken for what answers there; one Samba DC at a time owns the fixed ports.
"""

from __future__ import annotations

import fcntl
import http.server
import os
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
import requests
import worker_zygote

import samba_dc
from servers import MlflowServer, ldap_config, start_server, wait_until
from slapd_instance import ephemeral_ports, free_port


class _AlwaysHealthy(http.server.BaseHTTPRequestHandler):
    """Another process's web server: 200 to every GET, ``/health`` included."""

    def do_GET(self):
        body = b"someone else"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def someone_elses_server():
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AlwaysHealthy)
    thread = threading.Thread(target=other.serve_forever, daemon=True)
    thread.start()
    yield other.server_address[1]
    other.shutdown()
    other.server_close()


def test_a_port_taken_before_the_server_binds_it_is_replaced(slapd, tmp_path, someone_elses_server):
    taken = someone_elses_server
    server = MlflowServer(ldap_config(tmp_path, slapd.ldap_uri), directory=tmp_path)
    server.port, server.url = taken, f"http://127.0.0.1:{taken}"  # what a lost race leaves
    with server.start():
        assert server.port != taken
        assert server.url == f"http://127.0.0.1:{server.port}"
        answer = requests.get(
            server.url + "/api/2.0/mlflow/experiments/get?experiment_id=0",
            auth=("alice", "alice-password"),
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
    assert requests.get(f"http://127.0.0.1:{taken}/health", timeout=30).text == "someone else"


def test_a_server_that_exits_for_another_reason_is_not_restarted(tmp_path):
    server = MlflowServer(tmp_path / "does-not-exist.ini", directory=tmp_path)
    starts = []
    start_process = server.start_process_only
    server.start_process_only = lambda: (starts.append(server.port), start_process())
    with pytest.raises(RuntimeError, match="exited") as raised:
        server.start()
    assert "cannot read the file" in str(raised.value)
    assert len(starts) == 1


def test_a_second_samba_dc_waits_for_the_first_to_free_the_ports(tmp_path, monkeypatch):
    monkeypatch.setattr(samba_dc, "LOCK_FILE", tmp_path / "samba.lock")
    holder = samba_dc.LOCK_FILE.open("a")
    fcntl.flock(holder, fcntl.LOCK_EX)  # a DC of another worker runs
    released_at: list[float] = []

    def release_later():
        time.sleep(1.0)
        released_at.append(time.monotonic())
        holder.close()

    waiter = samba_dc.SambaDC()
    threading.Thread(target=release_later, daemon=True).start()
    try:
        waiter._take_ports()
        assert released_at, "the second DC took the ports while the first held them"
    finally:
        waiter.stop()
        waiter.cleanup()
    again = samba_dc.SambaDC()
    try:
        again._take_ports()  # stop() gave them back
    finally:
        again.cleanup()


def test_free_ports_lie_below_the_range_outgoing_connections_take_theirs_from():
    # A directory restarted on its port must not find it held by a client's
    # connection: free_port never hands out a port an outgoing connection may get.
    low, _ = ephemeral_ports()
    ports = {free_port() for _ in range(50)}
    assert all(1024 <= port < low for port in ports), sorted(ports)
    assert len(ports) > 1
    port = ports.pop()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))  # still free: nothing was left bound


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_zygote_worker_is_the_servers_and_ends_with_its_command(slapd, tmp_path):
    """The worker forked by worker_zygote serves the server's own configuration, is one
    of its process groups, and does not outlive a command killed with SIGKILL."""
    server = start_server(tmp_path, slapd)
    try:
        workers = server.process_groups() - {server.process.pid}
        assert len(workers) == 1
        (worker,) = workers
        # The plugin's configuration is the server's: its directory's people log in.
        answer = requests.get(
            server.url + "/api/2.0/mlflow/users/current",
            auth=("alice", "alice-password"),
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        os.killpg(server.process.pid, signal.SIGKILL)  # no signal forwarded to the worker
        wait_until(
            lambda: not _alive(worker),
            "the worker outlived its command",
            timeout=worker_zygote.STOP_GRACE_SECONDS + 20,
        )
    finally:
        server.stop()
