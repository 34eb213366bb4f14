"""Structured audit trail: one JSON line per login decision or administrative change.

Logger ``mlflow_ldap_auth.audit``. Fields: ``event``, ``user`` (as typed or canonical),
``source`` (client address), ``result``, ``reason``, ``worker`` (process id, each
worker has its own cache) and event-specific extras. Never a
password: callers pass only the fields below, and values are plain strings/numbers.

Sinks (``add_sink`` / ``remove_sink``) get every record as a dict too, after it was
logged (the activity table, ``activity.recorder``, is one). A sink must be quick (it
runs in the request's thread); an exception from one is logged here and never reaches
the login or change that was audited.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable

_audit_logger = logging.getLogger("mlflow_ldap_auth.audit")
_logger = logging.getLogger(__name__)

Sink = Callable[[dict], None]

_sinks: tuple[Sink, ...] = ()
_sinks_lock = threading.Lock()


def add_sink(sink: Sink) -> None:
    """Call ``sink(record)`` for every audit record from now on (once, however often added)."""
    global _sinks
    with _sinks_lock:
        if sink not in _sinks:
            _sinks = (*_sinks, sink)


def remove_sink(sink: Sink) -> None:
    global _sinks
    with _sinks_lock:
        _sinks = tuple(s for s in _sinks if s != sink)


def audit(event: str, *, user: str | None, source: str | None, result: str, reason: str, **extra):
    sinks = _sinks
    logged = _audit_logger.isEnabledFor(logging.INFO)
    if not logged and not sinks:
        return
    record = {
        "ts": round(time.time(), 3),
        "event": event,
        "user": user,
        "source": source,
        "result": result,
        "reason": reason,
        "worker": os.getpid(),
    }
    record.update(extra)
    if logged:
        _audit_logger.info(json.dumps(record, sort_keys=False, default=str))
    for sink in sinks:
        try:
            sink(dict(record))
        except Exception:
            _logger.exception("Audit sink %r failed on a %s record", sink, event)
