"""Where a warm request's server CPU goes: py-spy samples of the workers, summarised.

``bench_auth.py --profile DIR`` records each worker of a server while one scenario's
load runs (``recording``: ``py-spy record --format raw --nonblocking --gil``) and
summarises the file with ``summary``: the samples taken in each layer that auth adds
to a request, in µs per request (a layer's share of the samples times the server's CPU
per request of that scenario, from /proc). ``--gil``: only the thread holding the GIL
is sampled; without it, threads waiting in ``Condition.wait`` or ``select`` were
counted as busy here.

A sample belongs to the auth layers when a frame of the plugin (``mlflow_ldap_auth/``)
or of MLflow's auth module (``mlflow/server/auth/``) is on its stack, everything they
call included (Flask, SQLAlchemy, hashlib...); listed by the outermost such frame
(where the request entered auth code) and by the innermost (the function at work).
Frames that only hand the request on to the next app (the middlewares' ``__call__``,
their ``send`` wrappers) own nothing: a sample under them and in no other auth frame is
the request itself. No auth has no auth frames; its samples are the baseline a warm
request costs.
"""

from __future__ import annotations

import collections
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: ``function (path:line)`` as py-spy writes a frame.
_FRAME = re.compile(r"^(?P<function>.*?) \((?P<path>[^()]*?)(?::\d+)?\)$")
AUTH_LAYERS = {"mlflow_ldap_auth/": "plugin", "mlflow/server/auth/": "mlflow auth"}
#: Frames that only call the next ASGI app: a sample under them belongs to the request.
PASS_THROUGH = {
    ("mlflow_ldap_auth/web/preauth.py", "__call__"),
    ("mlflow_ldap_auth/web/preauth.py", "sending"),
    ("mlflow_ldap_auth/web/experiment_id_guard.py", "__call__"),
    ("mlflow_ldap_auth/mlflow_compat/permission_middleware.py", "__call__"),
}


def py_spy() -> str:
    """The py-spy next to this interpreter, else the project venv's (a static binary)."""
    here = Path(sys.executable).with_name("py-spy")
    if here.exists():
        return str(here)
    return str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy")


@contextmanager
def recording(pids: list[int], stem: Path, rate: int = 250) -> Iterator[list[Path]]:
    """py-spy of each of ``pids`` while the block runs: ``stem-<pid>.txt`` (raw)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_name(f"{stem.name}-{pid}.txt") for pid in pids]
    spies = [
        subprocess.Popen(
            [py_spy(), "record", "--pid", str(pid), "--nonblocking", "--format", "raw"]
            + ["--gil", "--rate", str(rate), "-o", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid, path in zip(pids, paths, strict=True)
    ]
    try:
        yield paths
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(60)


def _frames(stack: str) -> list[tuple[str, str]]:
    """(path, function) of each frame, outermost first."""
    frames = []
    for text in stack.split(";"):
        match = _FRAME.match(text)
        if match:
            frames.append((match["path"], match["function"]))
        else:
            frames.append(("", text))
    return frames


def _auth_frames(frames: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(layer, "module:function") of the auth frames that own work, outermost first."""
    found = []
    for path, function in frames:
        for marker, layer in AUTH_LAYERS.items():
            at = path.find(marker)
            if at >= 0 and (path[at:], function.rpartition(".")[2]) not in PASS_THROUGH:
                found.append((layer, f"{path[at:].removesuffix('.py')}:{function}"))
                break
    return found


def summary(paths: list[Path], cpu_ms_per_request: float, top: int = 12) -> str:
    """The samples of ``paths`` by owner, in µs of CPU per request."""
    total = 0
    by_layer: collections.Counter[str] = collections.Counter()
    by_function: collections.Counter[str] = collections.Counter()
    by_entry: collections.Counter[str] = collections.Counter()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            total += count
            owners = _auth_frames(_frames(stack))
            if not owners:
                by_layer["request"] += count
                continue
            by_layer[owners[-1][0]] += count
            by_function[owners[-1][1]] += count
            by_entry[owners[0][1]] += count
    if not total:
        return "  (no samples)"
    per_sample_us = cpu_ms_per_request * 1000 / total
    lines = [f"  {total} samples; {cpu_ms_per_request * 1000:.0f} µs CPU per request"]
    for layer, count in by_layer.most_common():
        lines.append(f"  {layer:12} {count / total:6.1%} {count * per_sample_us:8.0f} µs")
    for title, counter in (("entered at", by_entry), ("innermost", by_function)):
        lines.append(f"  {title}:")
        for function, count in counter.most_common(top):
            lines.append(f"    {function:70} {count / total:6.1%} {count * per_sample_us:7.0f} µs")
    return "\n".join(lines)


def worker_pids(pgid: int) -> list[int]:
    """uvicorn's spawned workers in process group ``pgid`` (else its uvicorn process)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[2]) == pgid:
            members.append((int(entry.name), command))
    workers = [pid for pid, command in members if "multiprocessing.spawn" in command]
    return sorted(workers or [pid for pid, command in members if "uvicorn" in command])
