"""Reading a directory's lockout policy from its entries (parsing, and what is asked
and remembered, on a fake connection; the real ppolicy directory is read in
``tests/test_lockout.py``)."""

import ldap3

from mlflow_ldap_auth.errors import DirectoryUnavailable
from mlflow_ldap_auth.ldap.lockout_policies import (
    PPOLICY_CONTROL,
    REFRESH_SECONDS,
    RETRY_SECONDS,
    UNREADABLE_THRESHOLD,
    DirectoryLockout,
    DirectoryPolicies,
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


class FakeConnection:
    """Answers searches from ``entries``: {(base, scope): [entries]}."""

    def __init__(self, entries):
        self.entries = entries
        self.searches = []

    def search(self, base, search_filter, scope, attributes):
        self.searches.append(base)
        return self.entries.get((base, scope), [])


class FakeService:
    def __init__(self, connection):
        self.connection = connection
        self.down = False

    def run(self, work):
        if self.down:
            raise DirectoryUnavailable("down")
        return work(self.connection)


PPOLICY_ROOT = {
    "attributes": {"namingContexts": ["dc=x"], "supportedControl": [PPOLICY_CONTROL]},
}


def policy_entry(dn, max_failure):
    attributes = {"pwdLockout": ["TRUE"], "pwdMaxFailure": [str(max_failure)]}
    return {"dn": dn, "attributes": attributes}


def test_policies_of_a_ppolicy_directory_are_read_once_and_refreshed():
    connection = FakeConnection(
        {
            ("", ldap3.BASE): [PPOLICY_ROOT],
            ("dc=x", ldap3.SUBTREE): [
                policy_entry("cn=a,dc=x", 5),
                policy_entry("cn=b,dc=x", 3),
            ],
        }
    )
    clock = [0.0]
    policies = DirectoryPolicies(FakeService(connection), clock=lambda: clock[0])
    # cn=config is hidden: the strictest policy stands for the default one.
    assert policies.for_entry(None).threshold == 3
    assert policies.for_entry("CN=A, DC=X").threshold == 5
    assert policies.strictest().threshold == 3
    read = len(connection.searches)
    for _ in range(3):
        policies.for_entry("cn=a,dc=x")
    assert len(connection.searches) == read  # remembered
    clock[0] += REFRESH_SECONDS
    policies.for_entry(None)
    assert len(connection.searches) > read


def test_a_policy_that_cannot_be_read_is_assumed_and_asked_again(caplog):
    connection = FakeConnection({("", ldap3.BASE): [PPOLICY_ROOT]})
    service = FakeService(connection)
    clock = [0.0]
    policies = DirectoryPolicies(service, clock=lambda: clock[0])
    for _ in range(3):  # remembered as unreadable, warned about once
        hidden = policies.for_entry("cn=hidden,dc=x")
        assert (hidden.threshold, hidden.window_seconds) == (UNREADABLE_THRESHOLD, None)
    assert sum("cn=hidden,dc=x (not readable)" in r.getMessage() for r in caplog.records) == 1
    service.down = True
    clock[0] += REFRESH_SECONDS  # the refresh fails: assumed, and tried again soon
    assert policies.for_entry(None).threshold == UNREADABLE_THRESHOLD
    service.down = False
    clock[0] += RETRY_SECONDS
    connection.entries[("dc=x", ldap3.SUBTREE)] = [policy_entry("cn=b,dc=x", 6)]
    assert policies.for_entry(None).threshold == 6


def test_a_directory_without_ppolicy_or_ad_locks_nobody():
    root = {"attributes": {"namingContexts": ["dc=x"], "supportedControl": ["1.2.3"]}}
    policies = DirectoryPolicies(FakeService(FakeConnection({("", ldap3.BASE): [root]})))
    assert policies.for_entry(None) is None
    assert policies.strictest() is None
