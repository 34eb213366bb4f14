"""The credential cache: pure logic with a counting check function."""

import gc
import threading
import time
import tracemalloc
import types

import pytest

from mlflow_ldap_auth.auth.credential_cache import CredentialCache
from mlflow_ldap_auth.errors import DirectoryUnavailable, InvalidCredentials


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class CountingCheck:
    def __init__(self, passwords, delay=0.0):
        self.passwords = passwords
        self.calls = 0
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, login, password):
        with self.lock:
            self.calls += 1
        time.sleep(self.delay)
        if self.passwords.get(login) != password:
            raise InvalidCredentials("no")
        return f"user:{login}"


def make(clock, ttl=300, negative=30):
    return CredentialCache(
        ttl_seconds=ttl,
        max_size=100,
        negative_ttl_seconds=negative,
        remember_refusal=lambda e: not isinstance(e, DirectoryUnavailable),
        timer=clock,
    )


def test_positive_hit_within_ttl_then_fresh_check_after():
    clock = Clock()
    cache = make(clock)
    check = CountingCheck({"alice": "pw"})
    for _ in range(5):
        assert cache.get_or_check("alice", "pw", check) == "user:alice"
    assert check.calls == 1
    clock.now = 301
    cache.get_or_check("alice", "pw", check)
    assert check.calls == 2


def test_new_password_is_checked_at_once():
    clock = Clock()
    cache = make(clock)
    passwords = {"alice": "old"}
    check = CountingCheck(passwords)
    cache.get_or_check("alice", "old", check)
    passwords["alice"] = "new"
    assert cache.get_or_check("alice", "new", check) == "user:alice"
    assert check.calls == 2


def test_wrong_password_not_sent_again_within_negative_ttl():
    clock = Clock()
    cache = make(clock, negative=30)
    check = CountingCheck({"alice": "pw"})
    for _ in range(10):
        with pytest.raises(InvalidCredentials):
            cache.get_or_check("alice", "stale", check)
    assert check.calls == 1
    clock.now = 31
    with pytest.raises(InvalidCredentials):
        cache.get_or_check("alice", "stale", check)
    assert check.calls == 2
    # The right password is not blocked by the remembered wrong one.
    assert cache.get_or_check("alice", "pw", check) == "user:alice"


def test_outage_is_not_remembered():
    cache = make(Clock())
    calls = []

    def down(login, password):
        calls.append(login)
        raise DirectoryUnavailable("down")

    for _ in range(3):
        with pytest.raises(DirectoryUnavailable):
            cache.get_or_check("alice", "pw", down)
    assert len(calls) == 3


def test_concurrent_first_requests_cause_one_check():
    cache = make(Clock())
    check = CountingCheck({"alice": "pw"}, delay=0.2)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get_or_check("alice", "pw", check)))
        for _ in range(64)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["user:alice"] * 64
    assert check.calls == 1


def test_no_plaintext_password_held_anywhere_in_the_cache():
    cache = make(Clock())
    secret = "Very-Secret-Password-4711"
    cache.get_or_check("alice", secret, CountingCheck({"alice": secret}))
    with pytest.raises(InvalidCredentials):
        cache.get_or_check("bob", secret + "x", CountingCheck({}))
    gc.collect()
    stored = repr(cache._positive.items()) + repr(cache._negative.items())
    assert secret not in stored
    assert all(secret not in repr(value) for value in vars(cache).values())


def objects_reachable_from(root, limit: int = 200_000) -> list:
    """Everything ``root`` keeps alive, frames and their locals included."""
    seen, stack, found = set(), [root], []
    while stack and len(found) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, type):
            continue
        seen.add(id(obj))
        found.append(obj)
        if isinstance(obj, types.FrameType):
            stack.extend(obj.f_locals.values())
        stack.extend(gc.get_referents(obj))
    return found


def password_is_reachable(root, secret: str) -> bool:
    return any(
        (isinstance(obj, str) and secret in obj)
        or (isinstance(obj, bytes) and secret.encode() in obj)
        for obj in objects_reachable_from(root)
    )


def refusing_check(login, password):
    raise InvalidCredentials("bind refused", reason="bad_password")


def test_a_remembered_refusal_keeps_no_way_back_to_the_password():
    cache = make(Clock())
    secret = "Stale-Password-From-A-Script-0815"
    for _ in range(50):  # the first call binds, the other 49 are negative hits
        with pytest.raises(InvalidCredentials) as refused:
            cache.get_or_check("alice", secret, refusing_check)
        assert refused.value.reason == "bad_password"
    del refused
    gc.collect()
    assert cache.stats.negative_hits == 49
    assert not password_is_reachable(cache, secret)


def test_retry_storm_keeps_memory_flat():
    cache = make(Clock())
    with pytest.raises(InvalidCredentials):
        cache.get_or_check("alice", "stale", refusing_check)

    def storm(count):
        for _ in range(count):
            try:
                cache.get_or_check("alice", "stale", refusing_check)
            except InvalidCredentials:
                pass

    storm(1000)  # warm up allocator caches
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        storm(20_000)
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert growth < 64 * 1024, f"{growth} bytes kept after 20,000 negative hits"


def test_negative_cache_is_bounded_by_its_size():
    cache = make(Clock())
    for n in range(500):
        with pytest.raises(InvalidCredentials):
            cache.get_or_check(f"user{n}", "pw", refusing_check)
    assert cache.status()["negative_size"] <= 100
