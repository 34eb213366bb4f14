"""Sessions follow the directory: the session check with the real ``Revalidator`` and
``Directory`` against a real slapd with the ppolicy overlay (a fake clock makes each
check due; the directory's answers are real). A changed password ends the user's
sessions (tokens outlive it), as does a locked account; another user's session keeps
working."""

from __future__ import annotations

import time
from itertools import count

import pytest

from mlflow_ldap_auth import reasons
from mlflow_ldap_auth.auth.admission import Admitted
from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.auth.revalidation import Revalidator
from mlflow_ldap_auth.auth.user_checks import UserChecks
from mlflow_ldap_auth.db import tables
from mlflow_ldap_auth.errors import InvalidCredentials
from mlflow_ldap_auth.ldap.directory import Directory
from mlflow_ldap_auth.sessions.authenticator import SessionAuthenticator
from mlflow_ldap_auth.sessions.store import SessionStore
from servers import USERS_DN, SlapdInstance, add_person
from slapd_instance import RELAXED_POLICY_DN
from test_directory import search_settings

_PEOPLE = count()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class Admission:
    """Admits everyone: MLflow's store is not part of this check."""

    def admit(self, user, source) -> Admitted:
        return Admitted(is_admin=False, changed=False)


@pytest.fixture(scope="module")
def policy_slapd():
    instance = SlapdInstance(password_policy=True).start()
    yield instance
    instance.cleanup()


@pytest.fixture
def world(policy_slapd, tmp_path):
    directory = Directory(search_settings(policy_slapd.ldap_uri))
    engine = tables.create_engine(f"sqlite:///{tmp_path}/auth.db")
    tables.migrate(engine)
    clock = Clock()
    revalidator = Revalidator(
        interval_seconds=300,
        grace_seconds=3600,
        lookup=directory.lookup,
        lookup_many=directory.lookup_many,
        checks=UserChecks(engine),
        admission=Admission(),
        cache=CredentialCache(3600, 100, 30, remember_refusal=lambda e: True, timer=clock),
        is_directory_user=lambda p: p.method == "password",
        clock=clock,
    )
    sessions = SessionAuthenticator(
        SessionStore(engine),
        revalidator,
        idle_seconds=8 * 3600,
        max_seconds=7 * 86_400,
        clock=clock,
    )
    yield policy_slapd, directory, clock, revalidator, sessions
    directory.close()
    engine.dispose()


def signed_in(slapd, directory, revalidator, sessions) -> tuple[str, str]:
    """A new person, signed in as the sign-in page will: bind, record the check, a session."""
    uid = f"session{next(_PEOPLE)}"
    password = f"{uid}-password-1"
    add_person(slapd, uid, password, (USERS_DN,))
    slapd.set_policy(uid, RELAXED_POLICY_DN)
    user = directory.authenticate(uid, password)
    revalidator.record_login(user)
    _, secret = sessions.sign_in(user.username, "10.0.0.1", user.account.password_marker)
    assert sessions.authenticate(secret, None).username == uid
    return uid, secret


def checked_again(clock, revalidator) -> None:
    clock.now += revalidator.due_age + 1
    assert revalidator.tick() >= 2


def reason(sessions, secret) -> str:
    with pytest.raises(InvalidCredentials) as refused:
        sessions.authenticate(secret, None)
    return refused.value.reason


def test_a_changed_password_ends_the_users_session_not_anothers(world):
    slapd, directory, clock, revalidator, sessions = world
    uid, secret = signed_in(slapd, directory, revalidator, sessions)
    other, other_secret = signed_in(slapd, directory, revalidator, sessions)
    time.sleep(1.1)  # pwdChangedTime has one-second resolution
    slapd.set_password(uid, f"{uid}-password-2")
    checked_again(clock, revalidator)
    assert reason(sessions, secret) == reasons.OWNER_PASSWORD_CHANGED
    assert reason(sessions, secret) == reasons.ENDED_SESSION
    assert sessions.authenticate(other_secret, None).username == other
    # A sign-in with the new password opens a session that works.
    user = directory.authenticate(uid, f"{uid}-password-2")
    revalidator.record_login(user)
    _, fresh = sessions.sign_in(uid, None, user.account.password_marker)
    assert sessions.authenticate(fresh, None).username == uid


def test_a_locked_account_ends_the_users_session_not_anothers(world):
    slapd, directory, clock, revalidator, sessions = world
    uid, secret = signed_in(slapd, directory, revalidator, sessions)
    other, other_secret = signed_in(slapd, directory, revalidator, sessions)
    slapd.lock_account(uid)
    checked_again(clock, revalidator)
    assert reason(sessions, secret) == reasons.OWNER_LOCKED
    assert sessions.authenticate(other_secret, None).username == other
    slapd.unlock_account(uid)
    checked_again(clock, revalidator)
    assert reason(sessions, secret) == reasons.ENDED_SESSION  # over for good
