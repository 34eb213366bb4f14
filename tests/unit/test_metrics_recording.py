"""What the metrics record, in-process (a private registry; the server test scrapes)."""

import pytest
from prometheus_client import CollectorRegistry

from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.metrics import (
    CREDENTIAL_CACHE_RESULTS,
    NULL_METRICS,
    PERMISSION_CACHE_RESULTS,
    PrometheusMetrics,
    bounded_reason,
    metrics_for,
)
from mlflow_ldap_auth.mlflow_compat.permission_cache import PermissionCache


@pytest.fixture
def registry():
    return CollectorRegistry()


def sample(registry, name, **labels):
    return registry.get_sample_value(name, labels) or 0.0


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("bad_password", "bad_password"),
        ("account_locked", "account_locked"),
        (None, "other"),
        ("", "other"),
        ("uid=alice,dc=example", "other"),
        ("Bad_Password", "other"),
        ("a" * 41, "other"),
        ("alice@corp", "other"),
    ],
)
def test_a_reason_label_is_a_reason_code_or_other(reason, label):
    assert bounded_reason(reason) == label


def test_logins_are_counted_by_result_and_bounded_reason(registry):
    metrics = PrometheusMetrics(registry)
    metrics.login("refused", "bad_password")
    metrics.login("refused", "bad_password")
    metrics.login("unavailable", "uid=bob,ou=people")  # never a DN in a label
    metrics.login("maybe", "bad_password")  # not a result of docs/reference/metrics.md: not counted
    name = "mlflow_ldap_auth_logins_total"
    assert sample(registry, name, result="refused", reason="bad_password") == 2
    assert sample(registry, name, result="unavailable", reason="other") == 1
    assert sample(registry, name, result="maybe", reason="bad_password") == 0


def test_directory_up_is_the_latest_observation_and_requests_are_timed(registry):
    metrics = PrometheusMetrics(registry)
    metrics.directory_up("dc1:636", True)
    metrics.directory_up("dc1:636", False)
    metrics.directory_request("bind", "dc1:636", 0.004)
    metrics.directory_request("bind", "dc1:636", 2.0)
    assert sample(registry, "mlflow_ldap_auth_directory_up", server="dc1:636") == 0
    seconds = "mlflow_ldap_auth_directory_request_seconds"
    assert sample(registry, seconds + "_count", operation="bind", server="dc1:636") == 2
    fast = sample(registry, seconds + "_bucket", operation="bind", server="dc1:636", le="0.005")
    assert fast == 1


def test_the_credential_cache_reports_every_lookup(registry):
    metrics = PrometheusMetrics(registry)
    cache = CredentialCache(
        ttl_seconds=300,
        max_size=10,
        negative_ttl_seconds=30,
        remember_refusal=lambda error: True,
        count_lookup=metrics.cache_lookups("credential", CREDENTIAL_CACHE_RESULTS),
    )

    def check(login, password):
        if password != "right":
            raise InvalidCredentials("no", reason="bad_password")
        return login

    assert cache.get_or_check("alice", "right", check) == "alice"
    assert cache.get_or_check("alice", "right", check) == "alice"
    assert cache.peek("alice", "right") == "alice"
    assert cache.peek("alice", "wrong") is None  # a peek that finds nothing is no lookup
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            cache.get_or_check("alice", "wrong", check)

    def lookups(result):
        return sample(
            registry, "mlflow_ldap_auth_cache_lookups_total", cache="credential", result=result
        )

    assert (lookups("miss"), lookups("hit"), lookups("negative_hit")) == (2, 2, 1)


def test_the_permission_cache_reports_hits_and_misses(registry):
    metrics = PrometheusMetrics(registry)
    cache = PermissionCache(
        10, count_lookup=metrics.cache_lookups("permission", PERMISSION_CACHE_RESULTS)
    )
    read = cache.cached_read("get_user", lambda name: name.upper())
    assert [read("a"), read("a"), read("b")] == ["A", "A", "B"]
    name = "mlflow_ldap_auth_cache_lookups_total"
    assert sample(registry, name, cache="permission", result="hit") == 1
    assert sample(registry, name, cache="permission", result="miss") == 2
    # The permission cache has no negative answers: no such series at all.
    labels = {"cache": "permission", "result": "negative_hit"}
    assert registry.get_sample_value(name, labels) is None


def test_metrics_are_recorded_only_when_mlflow_exposes_them():
    assert metrics_for({}) is NULL_METRICS
    assert metrics_for({"PROMETHEUS_MULTIPROC_DIR": ""}) is NULL_METRICS
    assert not NULL_METRICS.enabled
    NULL_METRICS.login("refused", "bad_password")  # records nothing, raises nothing
    NULL_METRICS.cache_lookups("credential", CREDENTIAL_CACHE_RESULTS)("hit")
