"""The plugin's Prometheus metrics (docs/reference/metrics.md), on MLflow's own ``/metrics``.

``mlflow server --expose-prometheus DIR`` puts MLflow in prometheus_client's
multiprocess mode: every worker writes its samples to memory-mapped files in ``DIR``
(the environment variable ``PROMETHEUS_MULTIPROC_DIR``, or MLflow's older spelling
``prometheus_multiproc_dir``), and MLflow's ``/metrics`` adds them up over the workers
when it is scraped. The plugin's metrics are made the same way, so they appear there
with no second endpoint. Without that option there is no ``/metrics``, and
``NullMetrics`` records nothing (a request pays one no-op call per metric).

==========================================  =========  ====================================
metric                                      type       labels
==========================================  =========  ====================================
``mlflow_ldap_auth_logins_total``           counter    ``result``, ``reason`` (audit's)
``mlflow_ldap_auth_directory_request_``     histogram  ``operation`` (bind, search),
``seconds``                                            ``server`` (host:port)
``mlflow_ldap_auth_directory_up``           gauge      ``server``; the most recent
                                                       observation of any worker
``mlflow_ldap_auth_cache_lookups_total``    counter    ``cache`` (credential, permission),
                                                       ``result`` (hit, miss, negative_hit)
``mlflow_ldap_auth_token_requests_total``   counter    ``result`` (success, refused)
==========================================  =========  ====================================

Label values are bounded: results and caches are fixed words, reasons are the
plugin's own reason codes (anything else is counted as ``other``), servers are the
configured ones. No label ever carries a username, a DN, a password or a token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

PREFIX = "mlflow_ldap_auth_"
MULTIPROCESS_DIR_ENV = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")

#: Seconds: LDAP answers on a LAN take ~1 ms, a struggling DC seconds; up to the
#: default receive timeout (10 s).
DIRECTORY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

LOGIN_RESULTS = frozenset({"success", "refused", "unavailable"})
CREDENTIAL_CACHE_RESULTS = frozenset({"hit", "miss", "negative_hit"})
#: The permission cache remembers answers, not refusals: it has no negative hits.
PERMISSION_CACHE_RESULTS = frozenset({"hit", "miss"})
TOKEN_RESULTS = frozenset({"success", "refused"})
#: What a reason code looks like (``bad_password``, ``account_locked``, ...).
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")
OTHER_REASON = "other"


def bounded_reason(reason: str | None) -> str:
    """``reason`` if it is a reason code, else ``other`` (a label must stay bounded)."""
    return reason if reason and _REASON.fullmatch(reason) else OTHER_REASON


class Metrics:
    """Records nothing: the interface, and what runs without ``--expose-prometheus``."""

    enabled = False

    def login(self, result: str, reason: str) -> None:
        """One login decision (one ``login`` line of the audit log)."""

    def directory_request(self, operation: str, server: str, seconds: float) -> None:
        """One bind or search sent to ``server`` (host:port), answered or failed, and its time."""

    def directory_up(self, server: str, up: bool) -> None:
        """What talking to ``server`` just showed: it answers, or it does not."""

    def cache_lookups(self, cache: str, results: frozenset[str]) -> Callable[[str], None]:
        """A counter of lookups in ``cache`` by result (one of ``results``), for the cache."""
        return _ignore

    def token_request(self, result: str) -> None:
        """One request that came with an access token, served or refused."""


def _ignore(_result: str) -> None:
    return None


NULL_METRICS = Metrics()


class PrometheusMetrics(Metrics):
    """prometheus_client metrics; ``registry`` None in a server (multiprocess files)."""

    enabled = True

    def __init__(self, registry=None) -> None:
        # On call: prometheus_client picks its multiprocess mode from the environment
        # when first imported, and a worker has MLflow's PROMETHEUS_MULTIPROC_DIR by now.
        from prometheus_client import Counter, Gauge, Histogram

        self._logins = Counter(
            PREFIX + "logins",
            "Login decisions (fresh credential checks and refusals), by result and reason.",
            ["result", "reason"],
            registry=registry,
        )
        self._directory_seconds = Histogram(
            PREFIX + "directory_request_seconds",
            "LDAP binds and searches sent, by operation and server, and their duration.",
            ["operation", "server"],
            buckets=DIRECTORY_BUCKETS,
            registry=registry,
        )
        self._directory_up = Gauge(
            PREFIX + "directory_up",
            "1 if the latest attempt of any worker to reach the server succeeded, else 0.",
            ["server"],
            multiprocess_mode="mostrecent",
            registry=registry,
        )
        self._cache_lookups = Counter(
            PREFIX + "cache_lookups",
            "Lookups in the plugin's per-worker caches, by cache and result.",
            ["cache", "result"],
            registry=registry,
        )
        self._token_requests = Counter(
            PREFIX + "token_requests",
            "Requests that came with an access token, by result.",
            ["result"],
            registry=registry,
        )
        # Children resolved once: a labels() call per request would cost more than inc().
        self._tokens = {result: self._token_requests.labels(result) for result in TOKEN_RESULTS}

    def login(self, result: str, reason: str) -> None:
        if result in LOGIN_RESULTS:
            self._logins.labels(result, bounded_reason(reason)).inc()

    def directory_request(self, operation: str, server: str, seconds: float) -> None:
        self._directory_seconds.labels(operation, server).observe(seconds)

    def directory_up(self, server: str, up: bool) -> None:
        self._directory_up.labels(server).set(1 if up else 0)

    def cache_lookups(self, cache: str, results: frozenset[str]) -> Callable[[str], None]:
        # Every series exists from the start (at 0), so rate() sees its first lookups.
        children = {result: self._cache_lookups.labels(cache, result) for result in results}

        def count(result: str) -> None:
            children[result].inc()

        return count

    def token_request(self, result: str) -> None:
        self._tokens[result].inc()


def metrics_for(environ: Mapping[str, str] = os.environ) -> Metrics:
    """``PrometheusMetrics`` when MLflow exposes ``/metrics`` (multiprocess dir set)."""
    if any(environ.get(name) for name in MULTIPROCESS_DIR_ENV):
        return PrometheusMetrics()
    return NULL_METRICS
