"""The test slapd's password-policy overlay: ``SlapdInstance(password_policy=True)``.

Proves against the real server, through ldap3 as the plugin would see it, what tests of
account-locked and password-changed detection rely on: wrong passwords lock an account
(``pwdAccountLockedTime``), the helpers lock, unlock and re-password accounts, a password
change moves ``pwdChangedTime``, and the service account reads those operational
attributes when it names them.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import ldap3
import pytest

from servers import SERVICE_DN, SERVICE_PASSWORD, SlapdInstance, add_person
from slapd_instance import PERMANENTLY_LOCKED, POLICY_DN, POLICY_MAX_FAILURE, SlapdError

POLICY_STATE = ["pwdAccountLockedTime", "pwdChangedTime", "pwdFailureTime"]
#: ppolicy response control, and its value for error accountLocked (0): SEQUENCE { [1] 1 }
PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1"
ACCOUNT_LOCKED = b"0\x03\x81\x01\x01"


@pytest.fixture(scope="module")
def policy_slapd():
    instance = SlapdInstance(password_policy=True).start()
    yield instance
    instance.cleanup()


def bind(slapd: SlapdInstance, dn: str, password: str, controls=None) -> ldap3.Connection:
    """A connection after a simple bind of ``dn`` (bound or not: see ``.bound``/``.result``)."""
    connection = ldap3.Connection(
        ldap3.Server(slapd.ldap_uri, connect_timeout=5),
        user=dn,
        password=password,
        receive_timeout=5,
    )
    connection.bind(controls=controls)
    return connection


def binds(slapd: SlapdInstance, dn: str, password: str) -> bool:
    connection = bind(slapd, dn, password)
    try:
        if not connection.bound:
            assert connection.result["result"] == 49, connection.result
        return connection.bound
    finally:
        connection.unbind()


def policy_state(slapd: SlapdInstance, dn: str, attributes=POLICY_STATE) -> dict[str, list[str]]:
    """The named attributes of ``dn`` as the service account reads them (absent: [])."""
    connection = bind(slapd, SERVICE_DN, SERVICE_PASSWORD)
    try:
        assert connection.bound, connection.result
        assert connection.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes)
        raw = connection.response[0]["raw_attributes"]
        return {name: [value.decode() for value in values] for name, values in raw.items()}
    finally:
        connection.unbind()


def test_wrong_passwords_lock_the_account(policy_slapd):
    dn = add_person(policy_slapd, "ppolicy-fails", "right-password")
    for _ in range(POLICY_MAX_FAILURE - 1):
        assert not binds(policy_slapd, dn, "wrong-password")
    state = policy_state(policy_slapd, dn)
    assert len(state["pwdFailureTime"]) == POLICY_MAX_FAILURE - 1
    assert state["pwdAccountLockedTime"] == []
    assert binds(policy_slapd, dn, "right-password")  # below the limit: still open
    assert policy_state(policy_slapd, dn)["pwdFailureTime"] == []  # a success forgets them

    for _ in range(POLICY_MAX_FAILURE):
        assert not binds(policy_slapd, dn, "wrong-password")
    state = policy_state(policy_slapd, dn)
    assert len(state["pwdFailureTime"]) == POLICY_MAX_FAILURE
    [locked_at] = state["pwdAccountLockedTime"]
    assert locked_at != PERMANENTLY_LOCKED  # the time of the last failure, not the sentinel
    assert datetime.strptime(locked_at, "%Y%m%d%H%M%SZ").year == datetime.now(timezone.utc).year

    assert not binds(policy_slapd, dn, "right-password")
    # With the request control the refusal says why (olcPPolicyUseLockout); 49 either way.
    connection = bind(policy_slapd, dn, "right-password", controls=[(PPOLICY_OID, False, None)])
    assert not connection.bound
    assert connection.result["result"] == 49
    assert connection.result["controls"][PPOLICY_OID]["value"] == ACCOUNT_LOCKED
    connection.unbind()


def test_lock_and_unlock_account(policy_slapd):
    dn = add_person(policy_slapd, "ppolicy-admin-lock", "right-password")
    assert policy_slapd.lock_account("ppolicy-admin-lock") == dn
    assert policy_state(policy_slapd, dn)["pwdAccountLockedTime"] == [PERMANENTLY_LOCKED]
    assert not binds(policy_slapd, dn, "right-password")

    assert policy_slapd.unlock_account("ppolicy-admin-lock") == dn
    assert policy_state(policy_slapd, dn) == {name: [] for name in POLICY_STATE}
    assert binds(policy_slapd, dn, "right-password")
    policy_slapd.unlock_account("ppolicy-admin-lock")  # on an open account: no error


def test_unlock_forgets_the_failures_that_locked(policy_slapd):
    dn = add_person(policy_slapd, "ppolicy-relock", "right-password")
    for _ in range(POLICY_MAX_FAILURE):
        assert not binds(policy_slapd, dn, "wrong-password")
    assert policy_state(policy_slapd, dn)["pwdAccountLockedTime"]
    policy_slapd.unlock_account("ppolicy-relock")
    # Had pwdFailureTime been kept, this one failure would lock the account again.
    assert not binds(policy_slapd, dn, "wrong-password")
    state = policy_state(policy_slapd, dn)
    assert state["pwdAccountLockedTime"] == []
    assert len(state["pwdFailureTime"]) == 1
    assert binds(policy_slapd, dn, "right-password")


def _now_second() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%SZ")


def _wait_for_next_second(after: str) -> None:
    """Return once a whole second has begun after the generalized time ``after``.

    Not merely "a later second than ``after``": slapd stamps an operation with the
    second it was received, so the clock must be one full second past ``after`` before
    the next change is sent, however slowly this process runs.
    """
    while _now_second() <= after:
        time.sleep(0.02)
    started = _now_second()
    while _now_second() <= started:
        time.sleep(0.02)


def test_set_password_moves_pwd_changed_time(policy_slapd):
    dn = add_person(policy_slapd, "ppolicy-change", "first-password")
    # An add sets no pwdChangedTime when the policy has no pwdMaxAge/pwdMinAge.
    assert policy_state(policy_slapd, dn)["pwdChangedTime"] == []

    assert policy_slapd.set_password("ppolicy-change", "second-password") == dn
    [first_change] = policy_state(policy_slapd, dn)["pwdChangedTime"]
    assert binds(policy_slapd, dn, "second-password")
    assert not binds(policy_slapd, dn, "first-password")

    _wait_for_next_second(first_change)  # pwdChangedTime counts whole seconds
    policy_slapd.set_password("ppolicy-change", "third-password")
    [second_change] = policy_state(policy_slapd, dn)["pwdChangedTime"]
    assert second_change > first_change
    assert binds(policy_slapd, dn, "third-password")
    assert not binds(policy_slapd, dn, "second-password")
    # olcPPolicyHashCleartext: the modify's cleartext was stored hashed.
    [stored] = policy_slapd.read_attributes(dn, "userPassword")["userPassword"]
    assert stored.startswith("{SSHA}")


def test_password_change_unlocks_and_forgets_failures(policy_slapd):
    """slapd's ppolicy removes pwdAccountLockedTime and pwdFailureTime on a change."""
    admin_locked = add_person(policy_slapd, "ppolicy-reset-admin", "old-password")
    policy_slapd.lock_account("ppolicy-reset-admin")
    failed = add_person(policy_slapd, "ppolicy-reset-failed", "old-password")
    for _ in range(POLICY_MAX_FAILURE):
        assert not binds(policy_slapd, failed, "wrong-password")
    assert policy_state(policy_slapd, failed)["pwdAccountLockedTime"]

    for uid, dn in [("ppolicy-reset-admin", admin_locked), ("ppolicy-reset-failed", failed)]:
        policy_slapd.set_password(uid, "reset-password")
        state = policy_state(policy_slapd, dn)
        assert state["pwdAccountLockedTime"] == state["pwdFailureTime"] == []
        assert len(state["pwdChangedTime"]) == 1
        assert binds(policy_slapd, dn, "reset-password")


def test_service_account_reads_policy_state_by_name(policy_slapd):
    dn = add_person(policy_slapd, "ppolicy-read", "right-password")
    policy_slapd.set_password("ppolicy-read", "new-password")  # first: it clears the rest
    assert not binds(policy_slapd, dn, "wrong-password")
    policy_slapd.lock_account("ppolicy-read")

    state = policy_state(policy_slapd, dn)
    assert state["pwdAccountLockedTime"] == [PERMANENTLY_LOCKED]
    assert len(state["pwdChangedTime"]) == 1
    assert len(state["pwdFailureTime"]) == 1
    # The root DN sees the same values.
    assert policy_slapd.read_attributes(dn, *POLICY_STATE) == {
        name: values for name, values in state.items() if values
    }
    # Operational: absent from "*", present in "+" (all operational attributes).
    assert not set(POLICY_STATE) & set(policy_state(policy_slapd, dn, ["*"]))
    assert set(POLICY_STATE) <= set(policy_state(policy_slapd, dn, ["+"]))
    # The policy itself is readable too.
    policy = policy_state(policy_slapd, POLICY_DN, ["pwdMaxFailure", "pwdLockout"])
    assert policy == {"pwdMaxFailure": [str(POLICY_MAX_FAILURE)], "pwdLockout": ["TRUE"]}


def test_service_account_never_locks(policy_slapd):
    for _ in range(POLICY_MAX_FAILURE + 1):
        assert not binds(policy_slapd, SERVICE_DN, "wrong-password")
    assert binds(policy_slapd, SERVICE_DN, SERVICE_PASSWORD)
    assert policy_slapd.read_attributes(SERVICE_DN, "pwdAccountLockedTime") == {}


def test_helpers_refuse_a_directory_without_policy():
    instance = SlapdInstance(seed=False)  # never started: the check comes first
    try:
        with pytest.raises(SlapdError, match="no password policy"):
            instance.lock_account("alice")
    finally:
        instance.cleanup()
