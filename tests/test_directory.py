"""The directory layer against the real slapd."""

import subprocess
import threading
import time

import pytest

from mlflow_ldap_auth.config import LdapSettings
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials
from mlflow_ldap_auth.ldap.directory import Directory
from mlflow_ldap_auth.ldap.group_search import AHEAD_MAX_PARENTS
from mlflow_ldap_auth.ldap.servers import PROBE_INTERVAL_SECONDS
from servers import (
    DATA_SCIENCE_DN,
    GROUPS_DN,
    PEOPLE_DN,
    SERVICE_DN,
    SERVICE_PASSWORD,
    SlapdInstance,
    add_person,
    blackhole_server,
    connections_to,
    free_port,
)

ALICE_DN = f"uid=alice,{PEOPLE_DN}"


def search_settings(*uris, **overrides) -> LdapSettings:
    values = dict(
        server_uris=tuple(uris),
        bind_dn=SERVICE_DN,
        bind_password=SERVICE_PASSWORD,
        user_search_base=PEOPLE_DN,
        group_search_base=GROUPS_DN,
        connect_timeout=2,
        receive_timeout=2,
    )
    values.update(overrides)
    return LdapSettings(**values)


def template_settings(*uris, **overrides) -> LdapSettings:
    return search_settings(
        *uris,
        bind_dn=None,
        bind_password=None,
        user_search_base=None,
        user_dn_template="uid={username}," + PEOPLE_DN,
        **overrides,
    )


@pytest.fixture
def make_directory():
    """Directories made by a test, closed after it (no pooled socket left open)."""
    made = []

    def make(settings):
        made.append(Directory(settings))
        return made[-1]

    yield make
    for directory in made:
        directory.close()


@pytest.fixture
def directory(slapd, make_directory):
    return make_directory(search_settings(slapd.ldap_uri))


def test_search_then_bind_returns_canonical_user_and_groups(directory):
    user = directory.authenticate("ALICE", "alice-password")
    assert user.username == "alice"
    assert user.dn == ALICE_DN
    assert DATA_SCIENCE_DN in user.group_dns


def test_nested_group_reached_through_its_child(directory):
    user = directory.authenticate("bob", "bob-password")
    assert DATA_SCIENCE_DN not in user.direct_group_dns
    assert DATA_SCIENCE_DN in user.group_dns
    assert (DATA_SCIENCE_DN, f"cn=ml-platform,{GROUPS_DN}") in user.group_parents


def test_nested_groups_off(slapd, make_directory):
    directory = make_directory(search_settings(slapd.ldap_uri, nested_groups=False))
    assert DATA_SCIENCE_DN not in directory.authenticate("bob", "bob-password").group_dns


def test_wrong_password_and_unknown_user_are_invalid_credentials(directory):
    with pytest.raises(InvalidCredentials) as wrong:
        directory.authenticate("alice", "nope")
    with pytest.raises(InvalidCredentials) as unknown:
        directory.authenticate("nobody", "nope")
    assert wrong.value.reason == "bad_password"
    assert unknown.value.reason == "unknown_user"


def test_empty_password_refused_without_any_ldap_operation(slapd, directory):
    # This slapd (olcAllows bind_anon_dn) *accepts* a DN with an empty password as an
    # anonymous bind, so only the plugin's own check stands between it and a login.
    accepted = subprocess.run(
        ["ldapwhoami", "-x", "-H", slapd.ldap_uri, "-D", ALICE_DN, "-w", ""],
        capture_output=True,
        text=True,
    )
    assert accepted.returncode == 0, accepted.stderr
    before = directory.operations.snapshot()
    with pytest.raises(InvalidCredentials):
        directory.authenticate("alice", "")
    assert directory.operations.snapshot() == before


@pytest.mark.parametrize(
    "login",
    ["*", "al*", "alice)(uid=*", "*)(|(uid=*", "alice\\", "alice\x00", "(uid=alice)", "a*e"],
)
def test_filter_metacharacters_never_match_another_entry(directory, login):
    with pytest.raises(InvalidCredentials):
        directory.authenticate(login, "alice-password")


@pytest.mark.parametrize(
    "login",
    ["alice,ou=people", "alice+cn=Alice Liddell", "*", 'alice"', "alice;x", "<alice>", "=alice"],
)
def test_dn_metacharacters_escaped_in_template(slapd, login, make_directory):
    directory = make_directory(template_settings(slapd.ldap_uri))
    with pytest.raises(InvalidCredentials):
        directory.authenticate(login, "alice-password")
    assert directory.authenticate("alice", "alice-password").username == "alice"


def test_direct_bind_template_costs_three_operations(slapd, make_directory):
    directory = make_directory(template_settings(slapd.ldap_uri, nested_groups=False))
    user = directory.authenticate("alice", "alice-password")
    assert user.username == "alice" and DATA_SCIENCE_DN in user.group_dns
    # bind + own entry + groups, and once per worker the rootDSE (lockout policies).
    assert directory.operations.snapshot() == {"binds": 1, "searches": 3}
    assert cold_login_operations(directory, "bob", "bob-password") == {
        "binds": 1,
        "searches": 2,
    }


def cold_login_operations(directory, login, password):
    before = directory.operations.snapshot()
    directory.authenticate(login, password)
    after = directory.operations.snapshot()
    return {kind: after[kind] - before[kind] for kind in after}


def test_cold_login_with_open_service_connection_costs_three_operations(slapd, make_directory):
    directory = make_directory(search_settings(slapd.ldap_uri))  # nested_groups on
    directory.authenticate("jsmith", "jsmith-password")  # opens the service connection
    # bind + user search + group search; memberOf tells that no group has a parent.
    assert cold_login_operations(directory, "alice", "alice-password") == {
        "binds": 1,
        "searches": 2,
    }
    # bob is in ml-platform, a member of data-science: alice's search read data-science
    # (her direct group), so the level above ml-platform comes from memory.
    remembered = directory.authenticate("bob", "bob-password")
    directory.forget_groups()
    # Forgotten: one more search per level of nesting.
    assert cold_login_operations(directory, "bob", "bob-password") == {
        "binds": 1,
        "searches": 3,
    }
    searched = directory.authenticate("bob", "bob-password")
    assert remembered == searched
    assert (DATA_SCIENCE_DN, f"cn=ml-platform,{GROUPS_DN}") in searched.group_parents
    # Remembered again by that walk.
    assert cold_login_operations(directory, "bob", "bob-password") == {
        "binds": 1,
        "searches": 2,
    }


def test_upper_levels_are_searched_when_the_filter_tests_more_than_membership(
    slapd, make_directory
):
    directory = make_directory(
        search_settings(
            slapd.ldap_uri, group_search_filter="(&(objectClass=groupOfNames)(member={user_dn}))"
        )
    )
    directory.authenticate("alice", "alice-password")
    for _ in range(2):
        assert cold_login_operations(directory, "bob", "bob-password") == {
            "binds": 1,
            "searches": 3,
        }


def test_direct_bind_reads_every_level_as_the_user(slapd, make_directory):
    directory = make_directory(template_settings(slapd.ldap_uri))  # nested_groups on
    directory.authenticate("alice", "alice-password")
    assert directory.group_entries is None
    # bind + own entry + two group levels, every time.
    for _ in range(2):
        assert cold_login_operations(directory, "bob", "bob-password") == {
            "binds": 1,
            "searches": 3,
        }


def test_nested_groups_without_memberof_support(make_directory):
    with SlapdInstance(memberof=False) as plain:
        directory = make_directory(search_settings(plain.ldap_uri))
        user = directory.authenticate("bob", "bob-password")
        assert DATA_SCIENCE_DN in user.group_dns
        assert DATA_SCIENCE_DN not in user.direct_group_dns
        flat = directory.authenticate("alice", "alice-password")
        assert flat.direct_group_dns == flat.group_dns


def slapd_operations(slapd) -> dict[str, int]:
    """Binds and searches slapd logged so far (one ``BIND ... method=`` / ``SRCH base=`` each)."""
    lines = slapd.stats_lines()
    return {
        "binds": sum(" BIND dn=" in line and " method=" in line for line in lines),
        "searches": sum(" SRCH base=" in line for line in lines),
    }


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {kind: after[kind] - before[kind] for kind in after}


def test_operation_spy_agrees_with_slapd_log(slapd, make_directory):
    directory = make_directory(search_settings(slapd.ldap_uri))  # nested_groups on
    spy_before = directory.operations.snapshot()
    log_before = slapd_operations(slapd)
    # service bind, search, rootDSE (lockout policies, once), bind, search
    directory.authenticate("alice", "alice-password")
    # search, bind, group search (the level above from alice's search, remembered)
    directory.authenticate("bob", "bob-password")
    with pytest.raises(InvalidCredentials):
        directory.authenticate("alice", "nope")  # search, refused bind
    directory.forget_groups()
    assert directory.lookup("bob") is not None  # search, two group levels
    spied = difference(directory.operations.snapshot(), spy_before)
    assert spied == {"binds": 4, "searches": 9}
    deadline = time.monotonic() + 10
    while difference(slapd_operations(slapd), log_before) != spied:
        assert time.monotonic() < deadline, (spied, difference(slapd_operations(slapd), log_before))
        time.sleep(0.1)
    time.sleep(0.2)  # nothing the spy missed arrives late
    assert difference(slapd_operations(slapd), log_before) == spied


def test_ldaps_verifies_certificate_and_host(slapd, make_directory):
    good = make_directory(search_settings(slapd.ldaps_uri, tls_ca_cert_file=slapd.ca_cert_file))
    assert good.authenticate("alice", "alice-password").username == "alice"
    no_ca = make_directory(search_settings(slapd.ldaps_uri))
    with pytest.raises(DirectoryUnavailable, match="certificate verification failed"):
        no_ca.authenticate("alice", "alice-password")
    # The certificate names 127.0.0.1 and localhost, not 127.0.0.2.
    wrong_host = make_directory(
        search_settings(
            slapd.ldaps_uri.replace("127.0.0.1", "127.0.0.2"), tls_ca_cert_file=slapd.ca_cert_file
        )
    )
    with pytest.raises(DirectoryUnavailable):
        wrong_host.authenticate("alice", "alice-password")
    unverified = make_directory(search_settings(slapd.ldaps_uri, tls_verify=False))
    assert unverified.authenticate("alice", "alice-password").username == "alice"


def test_start_tls(slapd, make_directory):
    directory = make_directory(
        search_settings(slapd.ldap_uri, start_tls=True, tls_ca_cert_file=slapd.ca_cert_file)
    )
    assert directory.authenticate("alice", "alice-password").username == "alice"
    with pytest.raises(DirectoryUnavailable):
        make_directory(search_settings(slapd.ldap_uri, start_tls=True)).authenticate(
            "alice", "alice-password"
        )


def test_failover_to_the_next_server(slapd, make_directory):
    dead = f"ldap://127.0.0.1:{free_port()}"
    directory = make_directory(search_settings(dead, slapd.ldap_uri))
    assert directory.authenticate("alice", "alice-password").username == "alice"
    status = {s["uri"]: s["reachable"] for s in directory.server_status()}
    assert status == {dead: False, slapd.ldap_uri: True}


def test_hung_server_times_out_and_fails_over(slapd, make_directory):
    with blackhole_server() as hung:
        directory = make_directory(search_settings(hung.uri, slapd.ldap_uri, receive_timeout=1))
        started = time.monotonic()
        assert directory.authenticate("alice", "alice-password").username == "alice"
        assert time.monotonic() - started < 6


def test_all_servers_down_is_unavailable_not_invalid(slapd, make_directory):
    with blackhole_server() as hung:
        dead = f"ldap://127.0.0.1:{free_port()}"
        directory = make_directory(search_settings(dead, hung.uri, receive_timeout=1))
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable):
            directory.authenticate("alice", "alice-password")
        assert time.monotonic() - started < 6


def test_wrong_service_password_is_unavailable_not_users_fault(slapd, make_directory):
    directory = make_directory(search_settings(slapd.ldap_uri, bind_password="wrong"))
    with pytest.raises(DirectoryUnavailable, match="service account"):
        directory.authenticate("alice", "alice-password")


def test_lookup_without_password(directory):
    user = directory.lookup("bob")
    assert user.username == "bob" and DATA_SCIENCE_DN in user.group_dns
    assert directory.lookup("nobody") is None
    assert directory.lookup("*") is None


def timed_refusal(directory, login="alice", password="alice-password") -> float:
    started = time.monotonic()
    with pytest.raises(DirectoryUnavailable):
        directory.authenticate(login, password)
    return time.monotonic() - started


def test_every_server_failed_recently_fails_fast_without_network(make_directory):
    """Fast is told by the reason and by the connections made (none), not by time."""
    with blackhole_server() as hung:
        port = hung.socket.getsockname()[1]
        directory = make_directory(search_settings(hung.uri, receive_timeout=1, connect_timeout=1))
        started = time.monotonic()
        assert timed_refusal(directory) >= 0.9  # the first one waits for the timeout
        tried = connections_to(port)
        assert tried
        for _ in range(5):
            probe_due = time.monotonic() - started >= PROBE_INTERVAL_SECONDS
            with pytest.raises(DirectoryUnavailable) as refused:
                directory.authenticate("alice", "alice-password")
            assert probe_due or refused.value.reason == "circuit_open"  # the circuit is open
        # No network at all, but for a probe once PROBE_INTERVAL_SECONDS have passed.
        probes = int((time.monotonic() - started) // PROBE_INTERVAL_SECONDS)
        assert len(connections_to(port) - tried) <= probes


def test_only_one_probe_at_a_time_while_every_server_is_down(make_directory, monkeypatch):
    import mlflow_ldap_auth.ldap.servers as servers_module

    monkeypatch.setattr(servers_module, "PROBE_INTERVAL_SECONDS", 0.5)
    with blackhole_server() as hung:
        port = hung.socket.getsockname()[1]
        directory = make_directory(search_settings(hung.uri, receive_timeout=1, connect_timeout=1))
        timed_refusal(directory)
        time.sleep(0.6)  # a probe is due
        tried = connections_to(port)
        refusals = []
        lock = threading.Lock()
        barrier = threading.Barrier(10)

        def attempt():
            barrier.wait()
            with pytest.raises(DirectoryUnavailable) as refused:
                directory.authenticate("alice", "alice-password")
            with lock:
                refusals.append(refused.value.reason)

        threads = [threading.Thread(target=attempt) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # The one probe connected (and waited); the nine others were refused at once,
        # told by their reason and the connections made rather than by their time.
        assert len(connections_to(port) - tried) == 1
        assert refusals.count("circuit_open") == 9, refusals


def test_logins_work_again_within_10_s_after_a_server_answers(make_directory):
    port = free_port()
    directory = make_directory(search_settings(f"ldap://127.0.0.1:{port}"))
    timed_refusal(directory)
    with SlapdInstance(port=port) as revived:
        back = time.monotonic()
        while True:
            try:
                assert directory.authenticate("alice", "alice-password").username == "alice"
                break
            except DirectoryUnavailable:
                assert time.monotonic() - back < 10
                time.sleep(0.2)
        assert revived.pid


def test_a_down_server_is_not_tried_on_every_request_while_another_answers(slapd, make_directory):
    """Told by the connections made to the hung server, not by time: under load six
    logins against the live one once took 1.7 s, more than one wait for the hung one."""
    with blackhole_server() as hung:
        port = hung.socket.getsockname()[1]
        directory = make_directory(
            search_settings(hung.uri, slapd.ldap_uri, receive_timeout=1, connect_timeout=1)
        )
        started = time.monotonic()
        directory.authenticate("alice", "alice-password")  # pays the black hole once
        tried = connections_to(port)
        assert tried  # the first login did try it
        for login, password in [("bob", "bob-password"), ("carol", "carol-password")] * 3:
            directory.close()  # every login opens new connections (server order applies)
            assert directory.authenticate(login, password).username == login
        # The down server is probed in the background once per PROBE_INTERVAL_SECONDS
        # after its failure; a login never connects to it itself.
        probes = int((time.monotonic() - started) // PROBE_INTERVAL_SECONDS)
        assert len(connections_to(port) - tried) <= probes


@pytest.mark.parametrize("password", ["pass\x01word", "new\nline", "nul\x00", "\ud800"])
def test_passwords_ldap_cannot_send_are_refused_before_any_operation(directory, password):
    before = directory.operations.snapshot()
    with pytest.raises(InvalidCredentials) as refused:
        directory.authenticate("alice", password)
    assert refused.value.reason == "unusable_password"
    assert directory.operations.snapshot() == before


def test_a_batched_lookup_finds_what_single_lookups_find_in_far_fewer_searches(
    slapd, make_directory
):
    """Revalidation's ``lookup_many`` on the seeded directory (nested groups included)."""
    names = ["alice", "bob", "carol", "dave", "jsmith", "nobody-at-all", "a*"]
    single = make_directory(search_settings(slapd.ldap_uri))
    single.lookup("alice")  # opens the pooled service connection (its one bind)
    before = single.operations.snapshot()["searches"]
    expected = {name: single.lookup(name) for name in names}
    single_searches = single.operations.snapshot()["searches"] - before
    batched = make_directory(search_settings(slapd.ldap_uri))
    batched.lookup("alice")
    before = batched.operations.snapshot()
    found = batched.lookup_many(names)
    after = batched.operations.snapshot()
    assert after["binds"] == before["binds"]  # no binds at all: the service connection
    batch_searches = after["searches"] - before["searches"]
    assert set(found) == set(names)
    for name in names:
        if expected[name] is None:
            assert found[name] is None, name
            continue
        want, got = expected[name], found[name]
        assert (got.dn, got.username, got.account) == (want.dn, want.username, want.account)
        assert got.group_dns == want.group_dns and got.direct_group_dns == want.direct_group_dns
        assert set(got.group_uuids) == set(want.group_uuids)
    assert expected["bob"].group_dns > expected["bob"].direct_group_dns  # nesting was walked
    # 1 user search + 1 search per nesting level for the five, + 1 each for the two
    # names the batch did not settle; one by one it is 2-4 searches per user.
    assert batch_searches <= 3 + 2 * 2 + 2, batch_searches
    assert batch_searches < single_searches / 2, (batch_searches, single_searches)


def test_a_user_in_many_groups_reads_each_level_by_name_and_misses_none(slapd, make_directory):
    """More parents than ``AHEAD_MAX_PARENTS``: each level is read by name alone (no
    look-ahead of three clauses per parent), one search per level, and the groups and
    paths found are those the member lists give (the batched walk reads member lists,
    not ``memberOf``)."""
    teams = [f"cn=wide-team-{n:02d},{GROUPS_DN}" for n in range(AHEAD_MAX_PARENTS + 2)]
    depts = [f"cn=wide-dept-{n:02d},{GROUPS_DN}" for n in range(len(teams) - 1)]
    division = f"cn=wide-division,{GROUPS_DN}"
    user_dn = add_person(slapd, "wide", "wide-password")
    # The last two teams share a department: two paths to one group.
    parent_of = {team: depts[min(n, len(depts) - 1)] for n, team in enumerate(teams)}
    ldif = [group_ldif(team, [user_dn]) for team in teams]
    ldif += [group_ldif(dept, [t for t, d in parent_of.items() if d == dept]) for dept in depts]
    ldif.append(group_ldif(division, depts))
    slapd.ldif("ldapadd", "\n".join(ldif))
    directory = make_directory(search_settings(slapd.ldap_uri))
    directory.authenticate("wide", "wide-password")  # opens the service connection
    directory.forget_groups()
    # user search + direct groups + the departments by name + the division by name.
    assert cold_login_operations(directory, "wide", "wide-password") == {
        "binds": 1,
        "searches": 4,
    }
    directory.forget_groups()
    found = directory.authenticate("wide", "wide-password")
    lowered = {dn.lower() for dn in found.group_dns}
    assert lowered == {dn.lower() for dn in [*teams, *depts, division]}
    assert {dn.lower() for dn in found.direct_group_dns} == {dn.lower() for dn in teams}
    paths = {(parent.lower(), child.lower()) for parent, child in found.group_parents}
    assert paths == {(d.lower(), t.lower()) for t, d in parent_of.items()} | {
        (division.lower(), d.lower()) for d in depts
    }
    assert len(found.group_uuids) == len(lowered)
    batched = make_directory(search_settings(slapd.ldap_uri)).lookup_many(["wide", "alice"])
    walked = batched["wide"]
    assert walked is not None
    assert walked.group_dns == found.group_dns
    assert set(walked.group_parents) == set(found.group_parents)
    assert set(walked.group_uuids) == set(found.group_uuids)


def group_ldif(dn: str, members: list[str]) -> str:
    name = dn.split(",", 1)[0].split("=", 1)[1]
    lines = "".join(f"member: {member}\n" for member in members)
    return f"dn: {dn}\nobjectClass: groupOfNames\ncn: {name}\n{lines}"
