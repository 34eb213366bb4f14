"""Value kinds: each key checked on its own, with the messages operators see."""

import pytest

from mlflow_ldap_auth.config_values import (
    INVALID,
    BindName,
    Choice,
    DnList,
    ExistingFile,
    Filter,
    Fixed,
    Flag,
    LdapUris,
    Names,
    Template,
    WholeNumber,
)


def parse(kind, text):
    problems: list[str] = []
    return kind.parse(text, problems), problems


@pytest.mark.parametrize(("text", "value"), [("Yes", True), ("on", True), ("0", False)])
def test_flag(text, value):
    assert parse(Flag(), text) == (value, [])


def test_flag_refuses_other_words():
    assert parse(Flag(), "perhaps") == (INVALID, ["expected true or false, got 'perhaps'"])


def test_whole_number_and_its_minimum():
    assert parse(WholeNumber(minimum=0), "0") == (0, [])
    assert parse(WholeNumber(), "0") == (INVALID, ["must be at least 1, got 0"])
    assert parse(WholeNumber(), "soon") == (INVALID, ["expected a whole number, got 'soon'"])


def test_choice_in_any_case_gives_the_spelling_of_the_option():
    kind = Choice(("READ", "NO_PERMISSIONS"))
    assert parse(kind, "no_permissions") == ("NO_PERMISSIONS", [])
    assert parse(Choice(("search", "token_groups")), "Token_Groups") == ("token_groups", [])
    assert parse(kind, "WRITE") == (INVALID, ["must be one of READ, NO_PERMISSIONS, got 'WRITE'"])


def test_bind_name_takes_a_dn_a_upn_or_a_down_level_name():
    for name in ("cn=svc,dc=example,dc=org", "svc@corp.example.com", "CORP\\svc"):
        assert parse(BindName(), name) == (name, [])
    value, problems = parse(BindName(), "cn=a,,dc=x")
    assert value == "cn=a,,dc=x" and problems[0].startswith("not a valid DN: 'cn=a,,dc=x' (")


def test_dn_list_leaves_out_and_reports_bad_dns():
    value, problems = parse(DnList(), "cn=a,dc=x ; not a dn; ;cn=b,dc=x")
    assert value == ("cn=a,dc=x", "cn=b,dc=x")
    assert len(problems) == 1 and problems[0].startswith("not a valid DN: 'not a dn'")
    assert parse(Names(), " CORP ;; EMEA ") == (("CORP", "EMEA"), [])


def test_ldap_uris():
    assert parse(LdapUris(), "ldap://a ldaps://b:636") == (("ldap://a", "ldaps://b:636"), [])
    value, problems = parse(LdapUris(), "http://x ldap://y:port ldaps://z")
    assert value == ("ldaps://z",)
    assert problems == [
        "'http://x' is not an ldap:// or ldaps:// URI",
        "'ldap://y:port' has an invalid port",
    ]


def test_template_placeholders():
    kind = Template(frozenset({"username"}))
    assert parse(kind, "uid={username},dc=x") == ("uid={username},dc=x", [])
    assert parse(kind, "uid=x")[1] == ["must contain one of ['username']"]
    assert parse(kind, "{user}")[1] == ["unknown placeholder(s) ['user']; allowed: ['username']"]
    assert parse(kind, "{username")[1][0].startswith("bad placeholder syntax:")


def test_filter_reports_placeholders_and_parentheses_together():
    kind = Filter(frozenset({"username"}))
    assert parse(kind, "(uid={username})") == ("(uid={username})", [])
    assert parse(kind, "uid={user}")[1] == [
        "unknown placeholder(s) ['user']; allowed: ['username']",
        "an LDAP filter must be enclosed in parentheses",
    ]
    assert parse(kind, "((uid={username})")[1] == ["unbalanced parentheses"]


def test_fixed_and_existing_file(tmp_path):
    assert parse(Fixed("a:b"), "a:b") == ("a:b", [])
    assert parse(Fixed("a:b"), "c:d") == (
        INVALID,
        ["ldap-auth supplies its own (a:b); remove the key"],
    )
    missing = str(tmp_path / "ca.pem")
    assert parse(ExistingFile(), missing) == (missing, [f"no such file: {missing}"])
