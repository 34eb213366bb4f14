"""Account state from entry attributes: AD's bits and times, OpenLDAP's ppolicy."""

import time

import pytest

from mlflow_ldap_auth.ldap.account_state import (
    DISABLED,
    EXPIRED,
    LOCKED,
    OK,
    account_state,
)

NOW = time.time()


def filetime(epoch: float) -> bytes:
    return str(int((epoch + 11_644_473_600) * 10_000_000)).encode()


@pytest.mark.parametrize(
    ("attributes", "status"),
    [
        ({}, OK),
        ({"userAccountControl": [b"512"]}, OK),
        ({"userAccountControl": [b"514"]}, DISABLED),  # NORMAL_ACCOUNT | ACCOUNTDISABLE
        ({"useraccountcontrol": [b"66050"]}, DISABLED),  # any case, DONT_EXPIRE too
        ({"userAccountControl": [b"512"], "msDS-User-Account-Control-Computed": [b"16"]}, LOCKED),
        # The DC says the lockout is over: an old lockoutTime does not lock.
        (
            {"msDS-User-Account-Control-Computed": [b"0"], "lockoutTime": [b"133000000000000000"]},
            OK,
        ),
        # Without the computed attribute, a non-zero lockoutTime locks.
        ({"lockoutTime": [b"133000000000000000"]}, LOCKED),
        ({"lockoutTime": [b"0"]}, OK),
        ({"accountExpires": [filetime(NOW - 60)]}, EXPIRED),
        ({"accountExpires": [filetime(NOW + 86_400)]}, OK),
        ({"accountExpires": [b"0"]}, OK),
        ({"accountExpires": [b"9223372036854775807"]}, OK),
        ({"pwdAccountLockedTime": [b"000001010000Z"]}, LOCKED),
        ({"pwdAccountLockedTime": [b"20261202154045Z"]}, LOCKED),
        ({"userAccountControl": [b"not-a-number"]}, OK),
    ],
)
def test_status(attributes, status):
    assert account_state(attributes, NOW).status == status


def test_disabled_wins_over_locked():
    attributes = {"userAccountControl": [b"514"], "pwdAccountLockedTime": [b"000001010000Z"]}
    assert account_state(attributes, NOW).status == DISABLED


def test_password_markers():
    assert account_state({}, NOW).password_marker is None
    ppolicy = account_state({"pwdChangedTime": [b"20261202154045Z"]}, NOW)
    assert ppolicy.password_marker == "20261202154045Z" and ppolicy.usable
    ad = account_state({"pwdLastSet": [b"134090000000000000"]}, NOW)
    assert ad.password_marker == "134090000000000000"
    assert account_state({"pwdLastSet": [b"1"]}, NOW) != account_state({"pwdLastSet": [b"2"]}, NOW)


def test_non_bytes_values_are_ignored():
    # Decoded strings are not raw attributes: only ldap3's raw bytes are read.
    assert account_state({"userAccountControl": ["514"]}, NOW).status == OK
