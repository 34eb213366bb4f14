"""SPEC §10: the plugin's metrics on MLflow's own ``/metrics``, summed over workers.

One real ``mlflow server --app-name ldap-auth --workers 2 --expose-prometheus DIR``
against a slapd of this module's own, scraped over HTTP and read with
prometheus_client's text parser. Counters are compared with what else saw the same
events: the audit log (every login decision, from both workers) and slapd's own log
(every bind and search). The outage test stops that slapd, so it runs last.
"""

from __future__ import annotations

import collections
import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from servers import (
    ADMIN_PASSWORD,
    USERS_DN,
    SlapdInstance,
    add_person,
    audit_lines,
    slapd_barrier,
    start_server,
    wait_until,
)

EXPERIMENT_0 = "/api/2.0/mlflow/experiments/get?experiment_id=0"
TOKENS = "/api/2.0/mlflow/ldap-auth/tokens"
#: The break-glass admin scrapes: it needs no directory, so it scrapes during an outage.
SCRAPER = ("admin", ADMIN_PASSWORD)

#: SPEC §10: name -> (type, label names of its samples, without a histogram's ``le``).
CONTRACT = {
    "mlflow_ldap_auth_logins": ("counter", {"result", "reason"}),
    "mlflow_ldap_auth_directory_request_seconds": ("histogram", {"operation", "server"}),
    "mlflow_ldap_auth_directory_up": ("gauge", {"server"}),
    "mlflow_ldap_auth_cache_lookups": ("counter", {"cache", "result"}),
    "mlflow_ldap_auth_token_requests": ("counter", {"result"}),
}


@pytest.fixture(scope="module")
def directory():
    instance = SlapdInstance().start()
    yield instance
    instance.cleanup()


@pytest.fixture(scope="module")
def server(directory, tmp_path_factory):
    prometheus_dir = tmp_path_factory.mktemp("prometheus")
    with start_server(
        tmp_path_factory,
        directory,
        workers=2,
        extra_args=["--expose-prometheus", str(prometheus_dir)],
        connect_timeout="2",
        receive_timeout="3",
    ) as running:
        yield running


def scrape(server) -> dict:
    """Our families from ``/metrics``: name -> family (parsed by prometheus_client)."""
    response = requests.get(server.url + "/metrics", auth=SCRAPER, timeout=30)
    assert response.status_code == 200, response.text
    return {
        family.name: family
        for family in text_string_to_metric_families(response.text)
        if family.name.startswith("mlflow_ldap_auth_")
    }


def values(families: dict, name: str, sample: str | None = None) -> dict[tuple, float]:
    """Sample values of ``name`` keyed by their sorted labels (``sample``: e.g. _count)."""
    family = families.get(name)
    if family is None:
        return {}
    wanted = sample or (name + "_total" if family.type == "counter" else name)
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples if s.name == wanted}


def value(families: dict, name: str, sample: str | None = None, **labels) -> float:
    return values(families, name, sample).get(tuple(sorted(labels.items())), 0.0)


def get(server, auth=None, headers=None) -> requests.Response:
    """One request on a new connection (so the two workers share the requests)."""
    return requests.get(server.url + EXPERIMENT_0, auth=auth, headers=headers, timeout=30)


def test_metrics_are_on_mlflows_endpoint_for_admins_only(server):
    anonymous = requests.get(server.url + "/metrics", timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(server.url + "/metrics", auth=("bob", "bob-password")).status_code == 403
    text = requests.get(server.url + "/metrics", auth=SCRAPER, timeout=30).text
    assert "mlflow_http_request_total" in text  # MLflow's own metrics are still there
    families = scrape(server)
    assert set(families) == set(CONTRACT)
    for name, (kind, label_names) in CONTRACT.items():
        assert families[name].type == kind, name
        for sample in families[name].samples:
            assert set(sample.labels) - {"le"} == label_names, (name, sample)


def test_login_counts_are_the_audit_logs_summed_over_both_workers(server, directory):
    people = [f"storm-{n}-{uuid.uuid4().hex[:6]}" for n in range(12)]
    for uid in people:
        add_person(directory, uid, f"{uid}-password", groups=[USERS_DN])
    for uid in people:
        assert get(server, auth=(uid, f"{uid}-password")).status_code == 200
    with requests.Session() as session:  # one connection: the second refusal is remembered
        for _ in range(2):
            response = session.get(server.url + EXPERIMENT_0, auth=("bob", "not-bobs-password"))
            assert response.status_code == 401
    assert get(server, auth=("bob", "")).status_code == 401
    assert get(server, auth=("nobody-at-all", "a-password")).status_code == 401
    assert get(server, headers={"Authorization": "Basic %%%"}).status_code == 401

    families = scrape(server)
    logins = audit_lines(server, event="login")
    workers = {line["worker"] for line in logins}
    assert len(workers) == 2, "every login landed on one worker: the sum is unproven"
    expected = collections.Counter((line["result"], line["reason"]) for line in logins)
    counted = {
        (dict(key)["result"], dict(key)["reason"]): count
        for key, count in values(families, "mlflow_ldap_auth_logins").items()
    }
    assert counted == dict(expected)
    assert counted[("success", "directory_bind")] >= len(people)
    for reason in ("bad_password", "empty_password", "malformed_header"):
        assert counted[("refused", reason)] >= 1, reason
    credential = {
        result: value(families, "mlflow_ldap_auth_cache_lookups", cache="credential", result=result)
        for result in ("hit", "miss", "negative_hit")
    }
    assert credential["negative_hit"] >= 1
    assert credential["miss"] >= len(people) + 1


def test_warm_requests_count_as_cache_hits_not_logins(server):
    before = scrape(server)
    with requests.Session() as session:
        session.auth = ("alice", "alice-password")
        for _ in range(6):
            assert session.get(server.url + EXPERIMENT_0, timeout=30).status_code == 200
    after = scrape(server)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("mlflow_ldap_auth_cache_lookups", cache="credential", result="hit") >= 5
    assert delta("mlflow_ldap_auth_cache_lookups", cache="permission", result="hit") >= 5
    # Six requests, at most one login decision (the first, on a worker alice was new to).
    assert delta("mlflow_ldap_auth_logins", result="success", reason="directory_bind") <= 1


def test_token_requests_are_counted_by_result(server):
    alice = ("alice", "alice-password")
    created = requests.post(
        server.url + TOKENS, json={"name": "metrics", "expires_in_days": 1}, auth=alice
    )
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    before = scrape(server)
    for _ in range(3):
        assert get(server, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    unknown = "mldap_" + "A" * 49  # the shape of a token, not a real one
    assert get(server, headers={"Authorization": f"Bearer {unknown}"}).status_code == 401
    after = scrape(server)

    def delta(result):
        return value(after, "mlflow_ldap_auth_token_requests", result=result) - value(
            before, "mlflow_ldap_auth_token_requests", result=result
        )

    assert (delta("success"), delta("refused")) == (3, 1)
    assert secret not in requests.get(server.url + "/metrics", auth=SCRAPER).text


def slapd_operations(directory) -> tuple[int, int]:
    """Binds of named entries and searches in slapd's log (one line each: ``method=``,
    ``base=``; the barrier's anonymous bind is not one of the plugin's)."""
    lines = directory.stats_lines()
    binds = sum(
        " BIND dn=" in line and " method=" in line and 'dn=""' not in line for line in lines
    )
    searches = sum(" SRCH base=" in line for line in lines)
    return binds, searches


def test_directory_operations_are_what_slapd_received(server, directory):
    name = "mlflow_ldap_auth_directory_request_seconds"
    label = f"127.0.0.1:{directory.port}"
    slapd_barrier(directory)
    binds, searches = slapd_operations(directory)
    before = scrape(server)
    for uid in ("bob", "carol", "jsmith", "dave"):  # not cached on both workers: fresh binds
        get(server, auth=(uid, f"{uid}-password"))
        get(server, auth=(uid, "wrong-password"))
    after = scrape(server)
    slapd_barrier(directory)

    def sent(operation):
        return value(after, name, name + "_count", operation=operation, server=label) - value(
            before, name, name + "_count", operation=operation, server=label
        )

    binds_after, searches_after = slapd_operations(directory)
    assert sent("bind") == binds_after - binds > 0
    assert sent("search") == searches_after - searches > 0
    buckets = [
        (float(s.labels["le"]), s.value)
        for s in after[name].samples
        if s.name == name + "_bucket" and s.labels["operation"] == "bind"
    ]
    counts = [count for _, count in sorted(buckets)]
    assert counts == sorted(counts)  # cumulative buckets, as Prometheus reads them
    assert value(after, "mlflow_ldap_auth_directory_up", server=label) == 1


def test_no_identity_or_secret_in_any_label(server):
    families = scrape(server)
    allowed = {
        "result": {"success", "refused", "unavailable", "hit", "miss", "negative_hit"},
        "cache": {"credential", "permission"},
        "operation": {"bind", "search"},
    }
    for family in families.values():
        for sample in family.samples:
            for label, text in sample.labels.items():
                if label in allowed:
                    assert text in allowed[label], (sample.name, label, text)
                elif label == "server":
                    assert text.startswith("127.0.0.1:"), text
                elif label == "reason":
                    assert text.replace("_", "").isalnum() and text.islower(), text
                else:
                    assert label == "le", label
    text = requests.get(server.url + "/metrics", auth=SCRAPER).text
    for identity in ("alice", "bob", "storm-", "uid=", "dc=example"):
        assert identity not in text, identity
    for secret in ("alice-password", "not-bobs-password", ADMIN_PASSWORD, "mldap_"):
        assert secret not in text, secret


def test_an_outage_and_the_recovery_show(server, directory):
    label = f"127.0.0.1:{directory.port}"
    directory.stop()
    for n in range(4):  # new names: no cache can answer them
        assert get(server, auth=(f"fresh-face-{n}", "some-password")).status_code == 503
    down = scrape(server)
    assert value(down, "mlflow_ldap_auth_directory_up", server=label) == 0
    unavailable = sum(
        count
        for key, count in values(down, "mlflow_ldap_auth_logins").items()
        if dict(key)["result"] == "unavailable"
    )
    assert unavailable >= 2
    revived = SlapdInstance(port=directory.port).start()
    try:
        # Someone no worker has cached: only the directory can let them in.
        add_person(revived, "back-again", "back-again-password", groups=[USERS_DN])
        wait_until(
            lambda: get(server, auth=("back-again", "back-again-password")).status_code == 200,
            "logins did not come back after the directory did",
            timeout=20,
        )
        assert value(scrape(server), "mlflow_ldap_auth_directory_up", server=label) == 1
    finally:
        revived.cleanup()
