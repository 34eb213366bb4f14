"""An idle token used by many requests at once (docs/tokens.md#details), on a real slapd and
real ``mlflow server`` processes sharing one database.

A token whose owner was last checked longer ago than ``token_outage_grace_seconds`` is
used again by parallel requests: one of them checks the owner with the directory, and
every other one, in the same worker or in another worker of another server, gets that
check's verdict. None is answered 503 while the directory answers, and none is served
on the stale row when the directory says no.
"""

from __future__ import annotations

import sqlite3
import threading

import pytest
import requests

from servers import PEOPLE_DN, add_person, audit_lines, flush_caches, start_server, wait_for_audit

TOKENS = "/api/2.0/mlflow/ldap-auth/tokens"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"
#: Requests sent at once, per server.
PARALLEL = 8
#: Older than token_outage_grace_seconds (default 3600): past the outage's grace.
IDLE_SECONDS = 7200


@pytest.fixture(scope="module")
def fleet(own_slapd, tmp_path_factory):
    """A one-worker server and a two-worker server on one auth database (SQLite)."""
    with start_server(
        tmp_path_factory,
        own_slapd,
        name="races-first",
        revalidate_interval_seconds="10",
    ) as first:
        with start_server(
            tmp_path_factory, config=first.config_path, name="races-second", workers=2
        ) as second:
            flush_caches(second)  # a barrier: both of its workers answer
            yield first, second


def age_check(server, username: str, seconds: int) -> None:
    """Make ``username``'s last successful check ``seconds`` older, as if the token had
    not been used (and the password not typed) for that long."""
    database = server.directory / "auth.db"
    with sqlite3.connect(database, timeout=30) as connection:
        updated = connection.execute(
            "UPDATE ldap_auth_user_checks SET checked_at = checked_at - ? WHERE username = ?",
            (seconds, username),
        ).rowcount
    assert updated == 1


def at_once(urls_and_tokens: list[tuple[str, str]]) -> list[int]:
    """Send every request at the same moment (a barrier), each on its own connection."""
    start = threading.Barrier(len(urls_and_tokens))
    answers: list[int] = []

    def send(url: str, secret: str) -> None:
        start.wait()
        response = requests.get(
            url + SEARCH,
            headers={"Authorization": f"Bearer {secret}", "Connection": "close"},
            timeout=60,
        )
        answers.append(response.status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in urls_and_tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == len(urls_and_tokens)
    return answers


def test_an_idle_token_used_by_parallel_requests_is_served_on_every_worker(fleet, own_slapd):
    first, second = fleet
    add_person(own_slapd, "sleeper", "sleeper-password-1")
    created = requests.post(
        first.url + TOKENS,
        json={"name": "nightly", "expires_in_days": 1},
        auth=("sleeper", "sleeper-password-1"),
    )
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    age_check(first, "sleeper", IDLE_SECONDS)
    answers = at_once([(server.url, secret) for server in (first, second)] * PARALLEL)
    assert answers == [200] * 2 * PARALLEL
    for server in (first, second):
        assert audit_lines(server, event="token_refused", user="sleeper") == []


def test_parallel_requests_of_an_idle_token_all_get_a_refusal_the_directory_gives(fleet, own_slapd):
    first, second = fleet
    add_person(own_slapd, "departed", "departed-password-1")
    # Made on the first server, whose worker remembers the login's check for a few
    # seconds; the second server's two workers know nothing of the user.
    created = requests.post(
        first.url + TOKENS,
        json={"name": "nightly", "expires_in_days": 1},
        auth=("departed", "departed-password-1"),
    )
    assert created.status_code == 200, created.text
    secret = created.json()["secret"]
    own_slapd.ldif("ldapdelete", f"uid=departed,{PEOPLE_DN}\n")
    age_check(first, "departed", IDLE_SECONDS)
    answers = at_once([(second.url, secret)] * 2 * PARALLEL)
    # Never 200 on the stale row, never 503 while the directory answers.
    assert answers == [401] * 2 * PARALLEL
    refusals = wait_for_audit(second, 0, event="token_refused", user="departed")
    assert {r["reason"] for r in refusals} == {"owner_gone"}
