"""What is decided about a bind without a server: AD's sub-codes, checks before binding."""

import pytest

from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.ldap import directory
from mlflow_ldap_auth.ldap.binding import (
    AD_BIND_REASONS,
    MAX_USERNAME_LENGTH,
    ad_bind_reason,
    check_login,
)
from mlflow_ldap_auth.ldap.domain import ad_interval_seconds

AD_MESSAGE = (
    "80090308: LdapErr: DSID-0C09042A, comment: AcceptSecurityContext error, data {}, v3839"
)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("52e", "bad_password"),
        ("775", "account_locked"),
        ("533", "account_disabled"),
        ("532", "password_expired"),
        ("773", "must_change_password"),
        ("701", "account_expired"),
        ("525", "user_not_found"),
        ("52E", "bad_password"),  # any case
    ],
)
def test_active_directory_sub_codes_told_apart(code, reason):
    assert ad_bind_reason(AD_MESSAGE.format(code)) == reason


def test_every_known_sub_code_has_its_reason():
    for code, reason in AD_BIND_REASONS.items():
        assert ad_bind_reason(AD_MESSAGE.format(code)) == reason


def test_an_unknown_sub_code_is_named_by_its_code():
    assert ad_bind_reason(AD_MESSAGE.format("52f")) == "ad_code_52f"


@pytest.mark.parametrize("message", [None, "", "invalid credentials", "metadata 52e", "data 5"])
def test_no_sub_code_no_reason(message):
    assert ad_bind_reason(message) is None


def test_the_directory_module_still_offers_ad_bind_reason():
    assert directory.ad_bind_reason is ad_bind_reason


@pytest.mark.parametrize(
    ("login", "password", "reason"),
    [
        ("", "secret", "empty_username"),
        ("   ", "secret", "empty_username"),
        ("alice", "", "empty_password"),
        ("a" * (MAX_USERNAME_LENGTH + 1), "secret", "username_too_long"),
        ("alice", "pass\x01word", "unusable_password"),
        ("alice", "\ud800", "unusable_password"),
    ],
)
def test_logins_that_must_not_reach_a_bind(login, password, reason):
    with pytest.raises(InvalidCredentials) as refused:
        check_login(login, password)
    assert refused.value.reason == reason


def test_an_ordinary_login_passes():
    check_login("a" * MAX_USERNAME_LENGTH, "pässword ok")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("-6000000000", 600), (-18000000000, 1800), ("0", 0), (None, None), ("", None), ("x", None)],
)
def test_ad_time_intervals_in_seconds(value, seconds):
    assert ad_interval_seconds(value) == seconds
