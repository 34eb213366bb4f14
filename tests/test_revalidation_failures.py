"""A check that fails while the directory answers (docs/tokens.md#when-someone-leaves), on
a real slapd and a real ``mlflow server``: not an outage, so no hour of grace.

The server finds users at ``user_dn_template`` (a read at the user's DN). A user whose
entry was replaced by a referral (moved to another directory, a pointer left behind)
cannot be read any more: slapd answers the read with a referral. That user's tokens
stop working once the last successful check is older than the interval, and the users
checked in the same batch get their own verdicts as usual.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
import requests

from mlflow_ldap_auth.auth.revalidation import RETRY_SECONDS, STATUS_TTL_SECONDS, tick_seconds
from servers import (
    PEOPLE_DN,
    add_person,
    audit_lines,
    start_server,
    wait_for_audit,
    wait_until,
)

INTERVAL = 10
TICK = tick_seconds(INTERVAL)
#: A user's next check is due within the interval; its result reaches every worker
#: within STATUS_TTL_SECONDS and a tick.
TAKES_EFFECT = INTERVAL + TICK + STATUS_TTL_SECONDS + TICK
TOKENS = "/api/2.0/mlflow/ldap-auth/tokens"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


@pytest.fixture(scope="module")
def server(own_slapd, tmp_path_factory):
    with start_server(
        tmp_path_factory,
        own_slapd,
        name="check-failures",
        workers=2,
        revalidate_interval_seconds=str(INTERVAL),
        user_search_base=None,
        user_dn_template="uid={username}," + PEOPLE_DN,
    ) as running:
        yield running


def token_of(server, slapd, uid: str) -> str:
    password = f"{uid}-password-1"
    add_person(slapd, uid, password)
    response = requests.post(
        server.url + TOKENS, json={"name": "pipeline", "expires_in_days": 1}, auth=(uid, password)
    )
    assert response.status_code == 200, response.text
    return response.json()["secret"]


def with_token(server, secret: str) -> int:
    headers = {"Authorization": f"Bearer {secret}", "Connection": "close"}
    return requests.get(server.url + SEARCH, headers=headers, timeout=60).status_code


def on_every_worker(check, expected: int, attempts: int = 6) -> bool:
    return all(check() == expected for _ in range(attempts))


def replace_with_referral(slapd, uid: str) -> None:
    """What a directory shows for an entry moved elsewhere: a referral at its DN."""
    dn = f"uid={uid},{PEOPLE_DN}"
    slapd.ldif("ldapdelete", dn + "\n")
    slapd.ldif(
        "ldapadd",
        f"dn: {dn}\nobjectClass: referral\nobjectClass: extensibleObject\nuid: {uid}\n"
        f"ref: ldap://directory.elsewhere.example/{dn}\n",
        "-M",  # ManageDsaIT: add the referral object itself
    )


def remove_referral(slapd, uid: str) -> None:
    slapd.ldif("ldapdelete", f"uid={uid},{PEOPLE_DN}\n", "-M")


def due_together(server, usernames: list[str]) -> None:
    """Make the users' last checks one moment, due now and not yet older than the
    interval: the next round checks them in one batch."""
    with sqlite3.connect(server.directory / "auth.db", timeout=30) as connection:
        marks = ",".join("?" * len(usernames))
        updated = connection.execute(
            f"UPDATE ldap_auth_user_checks SET checked_at = ? WHERE username IN ({marks})",
            (int(time.time()) - INTERVAL + 2 * TICK, *usernames),
        ).rowcount
    assert updated == len(usernames)


def test_an_entry_that_cannot_be_read_refuses_its_tokens_within_the_interval(server, own_slapd):
    steady, leaver, moved = (token_of(server, own_slapd, u) for u in ("steady", "leaver", "moved"))
    assert with_token(server, moved) == 200
    own_slapd.ldif("ldapdelete", f"uid=leaver,{PEOPLE_DN}\n")
    replace_with_referral(own_slapd, "moved")
    due_together(server, ["steady", "leaver", "moved"])
    started = time.monotonic()
    wait_until(
        lambda: (
            on_every_worker(lambda: with_token(server, moved), 401)
            and on_every_worker(lambda: with_token(server, leaver), 401)
        ),
        "the tokens of a user the directory no longer returns keep working",
        timeout=TAKES_EFFECT,
    )
    assert time.monotonic() - started <= TAKES_EFFECT
    assert on_every_worker(lambda: with_token(server, steady), 200)
    failed = wait_for_audit(server, 0, event="user_revalidated", user="moved", timeout=TAKES_EFFECT)
    assert [(r["reason"], r["result"]) for r in failed] == [("check_failed", "error")]
    refused = audit_lines(server, event="token_refused", user="moved")
    assert {r["reason"] for r in refused} == {"owner_check_failed"}
    assert {r["reason"] for r in audit_lines(server, event="token_refused", user="leaver")} == {
        "owner_gone"
    }
    # Back in this directory: usable again at the next retry.
    remove_referral(own_slapd, "moved")
    add_person(own_slapd, "moved", "moved-password-1")
    wait_until(
        lambda: on_every_worker(lambda: with_token(server, moved), 200),
        "a user readable again does not get the tokens back",
        timeout=RETRY_SECONDS + TAKES_EFFECT,
    )
    wait_for_audit(
        server,
        0,
        event="user_revalidated",
        user="moved",
        reason="usable_again",
        timeout=TAKES_EFFECT,
    )
