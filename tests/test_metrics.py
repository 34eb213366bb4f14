"""The plugin's metrics on MLflow's own ``/metrics``, summed over workers
(docs/reference/metrics.md).

One real ``mlflow server --app-name ldap-auth --workers 2 --expose-prometheus DIR``
against a slapd of this module's own, scraped over HTTP and read with
prometheus_client's text parser. Counters are compared with what else saw the same
events: the audit log (every login decision, from both workers) and slapd's own log
(every bind and search). The outage test stops that slapd and starts it again (it
freezes it a moment first), so it runs last.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import threading
import time
import uuid
from pathlib import Path

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

#: docs/reference/metrics.md: name -> (type, label names of its samples, without a
#: histogram's ``le``).
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
        receive_timeout="10",  # the outage test holds logins at a frozen slapd a moment
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


def waiting_at(port: int) -> int:
    """Connections to the loopback listener on ``port`` holding bytes its process has not
    read (a request each, while that process is stopped), accepted or not yet."""
    waiting = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError):  # no IPv6 on this kernel
            for row in Path(table).read_text().splitlines()[1:]:
                fields = row.split()
                local, state, queues = fields[1], fields[3], fields[4]
                listening = state == "0A"
                unread = int(queues.split(":")[1], 16)
                if int(local.rsplit(":", 1)[1], 16) == port and not listening and unread:
                    waiting += 1
    return waiting


def logins_held_together(server, directory, count: int) -> collections.Counter:
    """``count`` fresh logins (new people), all held at the frozen slapd at once, then
    let through: each worker opens as many service connections as it got of them, and
    keeps them idle after. How many each worker got: worker pid -> logins."""
    people = [f"busy-{n}-{uuid.uuid4().hex[:6]}" for n in range(count)]
    for uid in people:
        add_person(directory, uid, f"{uid}-password", groups=[USERS_DN])
    answers: list[int] = []

    def fresh_login(uid):
        answers.append(get(server, auth=(uid, f"{uid}-password")).status_code)

    threads = [threading.Thread(target=fresh_login, args=(uid,)) for uid in people]
    os.kill(directory.pid, signal.SIGSTOP)
    try:
        for thread in threads:
            thread.start()
        wait_until(
            lambda: waiting_at(directory.port) >= count,
            "the logins did not all reach the frozen slapd",
        )
    finally:
        os.kill(directory.pid, signal.SIGCONT)
    for thread in threads:
        thread.join()
    assert answers == [200] * count
    return collections.Counter(
        line["worker"] for line in audit_lines(server, event="login") if line["user"] in people
    )


def busy_minute(server, directory, idle: int = 2) -> None:
    """Leave at least ``idle`` idle service-account connections on every worker, as
    concurrent logins do. Connections are placed on workers as the kernel deals them,
    so rounds of logins held together go on until every worker had ``idle`` at once."""
    most: collections.Counter = collections.Counter()
    for _ in range(10):
        for worker, held in logins_held_together(server, directory, 3 * server.workers).items():
            most[worker] = max(most[worker], held)
        if len(most) == server.workers and min(most.values()) >= idle:
            return
    raise AssertionError(f"workers never held {idle} logins at once: {most}")


def test_an_outage_and_the_recovery_show(server, directory):
    """The gauge goes 1 -> 0 -> 1 across an outage and the restart of the directory.

    Each worker holds several idle service connections when the directory stops, as
    after any busy minute: a login then meets dropped connections first. One login
    answered 503 must be enough for the gauge to say the directory is down.
    """
    label = f"127.0.0.1:{directory.port}"
    busy_minute(server, directory)
    assert value(scrape(server), "mlflow_ldap_auth_directory_up", server=label) == 1
    # Someone no worker has cached: only the directory can let them in.
    add_person(directory, "back-again", "back-again-password", groups=[USERS_DN])
    directory.stop()
    assert get(server, auth=("fresh-face", "some-password")).status_code == 503
    for _ in range(4):  # scraped as Prometheus would, while nobody else asks
        down = scrape(server)
        assert value(down, "mlflow_ldap_auth_directory_up", server=label) == 0
        time.sleep(0.5)
    unavailable = sum(
        count
        for key, count in values(down, "mlflow_ldap_auth_logins").items()
        if dict(key)["result"] == "unavailable"
    )
    assert unavailable >= 1
    directory.start_again()
    back_at = time.monotonic()
    wait_until(
        lambda: get(server, auth=("back-again", "back-again-password")).status_code == 200,
        "logins did not come back within 10 s after the directory did",
        timeout=10,
    )
    assert time.monotonic() - back_at < 10
    assert value(scrape(server), "mlflow_ldap_auth_directory_up", server=label) == 1
