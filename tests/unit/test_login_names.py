"""Login forms (DOMAIN\\user, UPNs): pure rules, no servers."""

import pytest

from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.ldap.login_names import DomainNames, LoginName, resolve

AD = DomainNames(
    netbios=frozenset({"corp"}), realms=frozenset({"corp.example.com", "mlflow.example"})
)
OPENLDAP = DomainNames()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("alice", LoginName("alice")),
        ("CORP\\alice", LoginName("alice")),
        ("corp\\ALICE", LoginName("ALICE")),
        ("alice@corp.example.com", LoginName("alice", upn="alice@corp.example.com")),
        ("alice@CORP.EXAMPLE.COM", LoginName("alice", upn="alice@CORP.EXAMPLE.COM")),
        ("jane.doe@mlflow.example", LoginName("jane.doe", upn="jane.doe@mlflow.example")),
        ("LEGACY\\alice", LoginName("alice")),  # from login_domains
    ],
)
def test_forms_of_this_domain_become_the_account_name(typed, expected):
    assert resolve(typed, AD, frozenset({"legacy"})) == expected


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("EMEA\\alice", "foreign_domain"),  # another domain of the forest: someone else
        ("alice@emea.example.com", "foreign_realm"),
        ("alice@corp.example.com.evil", "foreign_realm"),
        ("alice@example.com", "foreign_realm"),
    ],
)
def test_other_domains_and_realms_are_refused(typed, reason):
    with pytest.raises(InvalidCredentials) as refused:
        resolve(typed, AD, frozenset())
    assert refused.value.reason == reason


def test_a_directory_that_is_not_ad_searches_what_was_typed():
    assert resolve("alice@example.org", OPENLDAP, frozenset()) == LoginName("alice@example.org")
    assert resolve("EMEA\\alice", OPENLDAP, frozenset()) == LoginName("EMEA\\alice")
    assert resolve("CORP\\alice", OPENLDAP, frozenset({"corp"})) == LoginName("alice")
