"""Structured audit trail: one JSON line per login decision or administrative change.

Logger ``mlflow_ldap_auth.audit``. Fields: ``event``, ``user`` (as typed or canonical),
``source`` (client address), ``result``, ``reason``, ``worker`` (process id, each
worker has its own cache) and event-specific extras. Never a
password: callers pass only the fields below, and values are plain strings/numbers.
"""

from __future__ import annotations

import json
import logging
import os
import time

_audit_logger = logging.getLogger("mlflow_ldap_auth.audit")


def audit(event: str, *, user: str | None, source: str | None, result: str, reason: str, **extra):
    if not _audit_logger.isEnabledFor(logging.INFO):
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
    _audit_logger.info(json.dumps(record, sort_keys=False, default=str))
