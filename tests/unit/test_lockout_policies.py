"""Reading a directory's lockout policy from its entries (pure parsing; the ppolicy
directory itself is read in ``tests/test_lockout.py``)."""

from mlflow_ldap_auth.ldap.lockout_policies import (
    UNREADABLE_THRESHOLD,
    DirectoryLockout,
    ad_lockout,
    ppolicy_lockout,
    strictest,
    unreadable,
)


def test_a_ppolicy_entry_locks_only_with_pwd_lockout_and_a_maximum():
    policy = {"pwdLockout": ["TRUE"], "pwdMaxFailure": ["3"], "pwdFailureCountInterval": ["300"]}
    assert ppolicy_lockout(policy, "p") == DirectoryLockout(3, 300, "p")
    # No interval (or 0): failures are kept until a successful bind.
    assert ppolicy_lockout({**policy, "pwdFailureCountInterval": ["0"]}, "p").window_seconds is None
    assert (
        ppolicy_lockout({"pwdLockout": ["TRUE"], "pwdMaxFailure": ["5"]}, "p").window_seconds
        is None
    )
    assert ppolicy_lockout({**policy, "pwdLockout": ["FALSE"]}, "p") is None
    assert ppolicy_lockout({"pwdMaxFailure": ["3"]}, "p") is None  # pwdLockout defaults FALSE
    assert ppolicy_lockout({**policy, "pwdMaxFailure": ["0"]}, "p") is None


def test_ad_thresholds_and_windows():
    assert ad_lockout("5", "-18000000000", "d") == DirectoryLockout(5, 1800, "d")
    assert ad_lockout(5, -6000000000, "d") == DirectoryLockout(5, 600, "d")
    assert ad_lockout("0", "-18000000000", "d") is None  # lockoutThreshold 0: never locks
    assert ad_lockout(None, None, "d") is None


def test_the_strictest_policy_is_at_least_as_strict_as_each():
    assert strictest([None, None]) is None
    combined = strictest([DirectoryLockout(5, 300, "a"), None, DirectoryLockout(3, 60, "b")])
    assert (combined.threshold, combined.window_seconds) == (3, 300)
    kept = strictest([DirectoryLockout(5, 300, "a"), unreadable("b")])
    assert (kept.threshold, kept.window_seconds) == (UNREADABLE_THRESHOLD, None)
