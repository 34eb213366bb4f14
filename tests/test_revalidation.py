"""Accounts follow the directory between logins (docs/tokens.md#when-someone-leaves), on a
real slapd with the ppolicy overlay and real ``mlflow server --workers 2`` processes.

``revalidate_interval_seconds = 10`` (its minimum). Every deadline below is one the
product promises, never a guess at the machine's speed: a change is seen by the user's
next check, due within the interval (the round notices it within a tick), and its result
reaches every worker within ``STATUS_TTL_SECONDS`` and a tick (``TAKES_EFFECT``).
Audit records are awaited as the barrier that a check happened before anything that
could make a check unnecessary (a login with the new password) is done.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from mlflow_ldap_auth.auth.revalidation import RETRY_SECONDS, STATUS_TTL_SECONDS, tick_seconds
from servers import (
    ADMINS_DN,
    USERS_DN,
    SlapdInstance,
    add_person,
    audit_lines,
    start_server,
    wait_for_audit,
    wait_until,
)
from slapd_instance import RELAXED_POLICY_DN

INTERVAL = 10
TICK = tick_seconds(INTERVAL)
#: From a change in the directory to every worker acting on it (see the docstring).
TAKES_EFFECT = INTERVAL + TICK + STATUS_TTL_SECONDS + TICK
#: permission_cache_ttl_seconds (its default): MLflow's answers a worker reuses.
PERMISSION_TTL = 10
#: connect_timeout + receive_timeout of the strict outage server below.
DIRECTORY_TIMEOUTS = 2
TOKENS = "/api/2.0/mlflow/ldap-auth/tokens"
SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"
MAPPINGS = "/api/2.0/mlflow/ldap-auth/group-mappings"


@pytest.fixture(scope="module")
def policy_slapd():
    instance = SlapdInstance(password_policy=True).start()
    yield instance
    instance.cleanup()


@pytest.fixture(scope="module")
def server(policy_slapd, tmp_path_factory):
    with start_server(
        tmp_path_factory,
        policy_slapd,
        workers=2,
        name="revalidation",
        revalidate_interval_seconds=str(INTERVAL),
        allowed_groups=USERS_DN,
        cache_ttl_seconds="3600",
    ) as running:
        yield running


def person(slapd, uid: str, groups=(USERS_DN,)) -> tuple[str, str]:
    password = f"{uid}-password-1"
    add_person(slapd, uid, password, groups)
    return uid, password


def token_for(server, auth) -> str:
    response = requests.post(
        server.url + TOKENS, json={"name": "pipeline", "expires_in_days": 1}, auth=auth
    )
    assert response.status_code == 200, response.text
    return response.json()["secret"]


def fresh(server, path=SEARCH, **kwargs) -> int:
    headers = {"Connection": "close", **kwargs.pop("headers", {})}
    return requests.get(server.url + path, headers=headers, timeout=30, **kwargs).status_code


def with_token(server, secret: str, path=SEARCH) -> int:
    return fresh(server, path, headers={"Authorization": f"Bearer {secret}"})


def on_every_worker(check, expected: int, attempts: int = 6) -> bool:
    return all(check() == expected for _ in range(attempts))


def takes_effect(condition, message: str, started: float) -> None:
    """``condition`` holds within ``TAKES_EFFECT`` of the change made at ``started``."""
    wait_until(condition, message, timeout=TAKES_EFFECT - (time.monotonic() - started))
    assert time.monotonic() - started <= TAKES_EFFECT


def checked(server, started: float, **match) -> list[dict]:
    """A barrier: the ``user_revalidated`` record a check of the change made at
    ``started`` logs, within ``TAKES_EFFECT`` of it."""
    timeout = TAKES_EFFECT - (time.monotonic() - started)
    return wait_for_audit(server, 0, timeout=timeout, event="user_revalidated", **match)


def test_a_removed_user_loses_token_access_within_the_interval_another_keeps_it(
    server, policy_slapd
):
    leaver = person(policy_slapd, "leaver")
    stayer = person(policy_slapd, "stayer")
    leaver_token, stayer_token = token_for(server, leaver), token_for(server, stayer)
    assert with_token(server, leaver_token) == 200
    policy_slapd.ldif("ldapdelete", "uid=leaver,ou=people,dc=example,dc=org\n")
    started = time.monotonic()
    takes_effect(
        lambda: on_every_worker(lambda: with_token(server, leaver_token), 401),
        "a removed user's token still works",
        started,
    )
    assert on_every_worker(lambda: with_token(server, stayer_token), 200)
    checked(server, started, user="leaver", reason="gone")
    assert audit_lines(server, event="token_refused", user="leaver", reason="owner_gone")


def test_a_locked_account_loses_tokens_and_cached_password_then_gets_them_back(
    server, policy_slapd
):
    uid, password = person(policy_slapd, "locked1")
    secret = token_for(server, (uid, password))  # also caches the password
    assert fresh(server, auth=(uid, password)) == 200
    policy_slapd.lock_account(uid)
    started = time.monotonic()
    takes_effect(
        lambda: (
            on_every_worker(lambda: with_token(server, secret), 401)
            and on_every_worker(lambda: fresh(server, auth=(uid, password)), 401)
        ),
        "a locked account still gets in",
        started,
    )
    checked(server, started, user=uid, reason="locked")
    assert audit_lines(server, event="token_refused", user=uid, reason="owner_locked")
    policy_slapd.unlock_account(uid)
    started = time.monotonic()
    takes_effect(
        lambda: on_every_worker(lambda: with_token(server, secret), 200),
        "an unlocked account's token does not work again",
        started,
    )
    checked(server, started, user=uid, reason="usable_again")


def test_a_changed_password_evicts_the_cached_one_but_not_the_tokens(server, policy_slapd):
    uid, old = person(policy_slapd, "rotator")
    # The old password is refused once on each worker below; under the default policy
    # (locks at 3) those two refusals are all the spraying guard allows.
    policy_slapd.set_policy(uid, RELAXED_POLICY_DN)
    secret = token_for(server, (uid, old))
    for _ in range(4):
        assert fresh(server, auth=(uid, old)) == 200  # cached on both workers
    binds_before = len(audit_lines(server, event="login", user=uid))
    time.sleep(1.1)  # pwdChangedTime has one-second resolution
    policy_slapd.set_password(uid, "rotator-new-password-2")
    started = time.monotonic()
    # The check that notices the new password first: a login with the new password
    # records its marker too, and a check after it would see nothing changed.
    checked(server, started, user=uid, reason="password_changed")
    takes_effect(
        lambda: on_every_worker(lambda: fresh(server, auth=(uid, old)), 401),
        "the old password is still accepted from the cache",
        started,
    )
    assert on_every_worker(lambda: with_token(server, secret), 200)
    assert fresh(server, auth=(uid, "rotator-new-password-2")) == 200
    assert len(audit_lines(server, event="login", user=uid)) > binds_before


def test_leaving_allowed_groups_refuses_tokens(server, policy_slapd):
    uid, password = person(policy_slapd, "mover")
    secret = token_for(server, (uid, password))
    policy_slapd.ldif(
        "ldapmodify",
        f"dn: {USERS_DN}\nchangetype: modify\ndelete: member\n"
        f"member: uid={uid},ou=people,dc=example,dc=org\n",
    )
    started = time.monotonic()
    takes_effect(
        lambda: on_every_worker(lambda: with_token(server, secret), 401),
        "a token of a user outside allowed_groups still works",
        started,
    )
    checked(server, started, user=uid, reason="not_allowed")
    assert audit_lines(server, event="token_refused", user=uid, reason="owner_not_allowed")


def test_groups_and_admin_flag_are_resynced_without_a_login(server, policy_slapd):
    uid, password = person(policy_slapd, "promoted")
    secret = token_for(server, (uid, password))
    assert with_token(server, secret, MAPPINGS) == 403  # not an admin yet
    policy_slapd.ldif(
        "ldapmodify",
        f"dn: {ADMINS_DN}\nchangetype: modify\nadd: member\n"
        f"member: uid={uid},ou=people,dc=example,dc=org\n",
    )
    started = time.monotonic()
    checked(server, started, user=uid, reason="groups_changed")
    wait_until(
        lambda: on_every_worker(lambda: with_token(server, secret, MAPPINGS), 200),
        "the admin flag did not follow the directory",
        # the other worker may have MLflow's old answer for its own TTL
        timeout=TAKES_EFFECT + PERMISSION_TTL - (time.monotonic() - started),
    )


def test_during_an_outage_tokens_work_for_the_grace_period_then_503(
    server, policy_slapd, tmp_path_factory
):
    # The module's server keeps token_outage_grace_seconds at its default (an hour): it
    # is the generous one. It runs on the slapd this test freezes in any case.
    generous = server
    strict = start_server(
        tmp_path_factory,
        policy_slapd,
        name="grace-none",
        revalidate_interval_seconds=str(INTERVAL),
        token_outage_grace_seconds="0",
        connect_timeout="1",
        receive_timeout="1",
    )
    with strict:
        auth = person(policy_slapd, "outage")
        kept = token_for(generous, auth)
        before_login = time.monotonic()
        cut = token_for(strict, auth)  # the strict server's first successful check
        os.kill(policy_slapd.pid, signal.SIGSTOP)
        try:
            frozen = time.monotonic()

            def strict_answers_503() -> bool:
                return with_token(strict, cut) == 503

            # The last successful check may be a round's just before the freeze; once it
            # is older than the interval a request answers 503, after at most one
            # look-up that times out (tried twice on a fresh connection).
            wait_until(
                strict_answers_503,
                "grace 0 did not answer 503",
                timeout=TAKES_EFFECT + 2 * DIRECTORY_TIMEOUTS - (time.monotonic() - frozen),
            )
            # Not before the interval: checks record whole seconds.
            assert time.monotonic() - before_login > INTERVAL - 1
            response = requests.get(
                strict.url + SEARCH, headers={"Authorization": f"Bearer {cut}"}, timeout=30
            )
            assert response.status_code == 503 and response.headers["Retry-After"]
            assert with_token(generous, kept) == 200  # within its grace
        finally:
            os.kill(policy_slapd.pid, signal.SIGCONT)
        # The user's next check waits out the pause after a failed one, then takes effect.
        wait_until(
            lambda: with_token(strict, cut) == 200,
            "no recovery after the outage",
            timeout=RETRY_SECONDS + TAKES_EFFECT,
        )
