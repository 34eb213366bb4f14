"""Per-process caches of login decisions, so a busy client costs one bind per TTL.

* **Positive**: login name -> (keyed hash of the password, a version, the authenticated
  user), for ``cache_ttl_seconds``, at most ``cache_max_size`` entries. A request whose
  password hashes differently is a miss and goes to the directory, so a password
  changed in the directory works at once. The *version* is for secrets that can change
  behind the cache's back (the break-glass admin's stored password hash): an entry
  remembered under another version is a miss.
* **Negative**: (login name, keyed hash, version) of a refused pair, for
  ``negative_ttl_seconds``: a script retrying a stale password does not reach the
  directory again (and cannot lock the account out) within that window.
* **Single flight**: concurrent checks of the same (login, password) wait for the one
  that is already talking to the directory instead of sending their own bind.

What a cache keeps is what an attacker who can read process memory gets, so it keeps
as little as possible: no plaintext password (the key is HMAC-SHA256 with a random
per-process secret, compared in constant time), and for a refusal only a ``Refusal``
record (which exception class, its reason), never the exception itself: an exception
holds its traceback, whose frames hold the password in their locals, and re-raising
one object adds frames to it on every hit. Each hit raises a new, frame-less exception.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from cachetools import TTLCache

from mlflow_ldap_auth.errors import AuthError

T = TypeVar("T")


@dataclass(frozen=True)
class _Positive(Generic[T]):
    digest: bytes
    version: Hashable
    value: T


@dataclass(frozen=True)
class Refusal:
    """What is remembered of a refused check: enough to answer it again, nothing more."""

    kind: type[AuthError]
    reason: str

    @classmethod
    def of(cls, error: AuthError) -> Refusal:
        return cls(type(error), error.reason)

    def error(self, message: str) -> AuthError:
        return self.kind(message, reason=self.reason)


class _Flight(Generic[T]):
    """One directory check in progress; others with the same key wait on it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.refusal: Refusal | None = None
        self.failed = False  # the leader raised something that is not an AuthError


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    negative_hits: int = 0

    def as_dict(self, size: int, negative_size: int) -> dict:
        lookups = self.hits + self.misses + self.negative_hits
        return {
            "size": size,
            "negative_size": negative_size,
            "hits": self.hits,
            "negative_hits": self.negative_hits,
            "misses": self.misses,
            "hit_ratio": round((self.hits + self.negative_hits) / lookups, 4) if lookups else 0.0,
        }


class CredentialCache(Generic[T]):
    """Thread-safe front of an expensive ``check(login, password) -> T``.

    ``check`` raises an ``AuthError`` to refuse; refusals for which
    ``remember_refusal(error)`` is true are kept in the negative cache, others (a
    directory outage, a throttled attempt) are not.
    """

    def __init__(
        self,
        ttl_seconds: int,
        max_size: int,
        negative_ttl_seconds: int,
        remember_refusal: Callable[[AuthError], bool],
        timer: Callable[[], float] | None = None,
        count_lookup: Callable[[str], None] = lambda _result: None,
    ) -> None:
        timer = timer or time.monotonic  # TTLCache's own default
        self._positive: TTLCache[str, _Positive[T]] = TTLCache(max_size, ttl_seconds, timer)
        self._negative: TTLCache[tuple[str, bytes, Hashable], Refusal] | None = (
            TTLCache(max_size, negative_ttl_seconds, timer) if negative_ttl_seconds > 0 else None
        )
        self._remember_refusal = remember_refusal
        self._lock = threading.Lock()
        self._flights: dict[tuple[str, bytes, Hashable], _Flight[T]] = {}
        self._key = secrets.token_bytes(32)
        self.stats = CacheStats()
        #: Told "hit", "miss" or "negative_hit" for every lookup (the metrics).
        self._count_lookup = count_lookup

    def digest(self, password: str) -> bytes:
        # One call into OpenSSL (``hmac.new(...).digest()``: an HMAC object first).
        return hmac.digest(self._key, password.encode("utf-8", "surrogatepass"), "sha256")

    def get_or_check(
        self,
        login: str,
        password: str,
        check: Callable[[str, str], T],
        version: Hashable = None,
    ) -> T:
        digest = self.digest(password)
        key = (login, digest, version)
        refusal: Refusal | None = None
        flight: _Flight[T] | None = None
        with self._lock:
            entry = self._positive.get(login)
            if (
                entry is not None
                and entry.version == version
                and hmac.compare_digest(entry.digest, digest)
            ):
                self.stats.hits += 1
            else:
                entry = None
                refusal = self._negative.get(key) if self._negative is not None else None
                if refusal is not None:
                    self.stats.negative_hits += 1
                else:
                    flight = self._flights.get(key)
                    leader = flight is None
                    if leader:
                        flight = self._flights[key] = _Flight()
                        self.stats.misses += 1
        if entry is not None:
            self._count_lookup("hit")
            return entry.value
        if refusal is not None:
            self._count_lookup("negative_hit")
            raise refusal.error("refused again within negative_cache_ttl_seconds")
        self._count_lookup("miss")  # a follower of a check in flight missed too
        # Neither a hit nor a remembered refusal: the lock joined or started a flight.
        assert flight is not None
        if not leader:
            flight.done.wait()
            if flight.refusal is not None:
                raise flight.refusal.error("refused (concurrent check)")
            if flight.failed:
                raise RuntimeError("the concurrent credential check failed unexpectedly")
            # Neither refused nor failed: the leader set the value (T may itself be None).
            return cast(T, flight.value)
        try:
            value = check(login, password)
        except AuthError as error:
            flight.refusal = Refusal.of(error)
            if self._negative is not None and self._remember_refusal(error):
                with self._lock:
                    self._negative[key] = flight.refusal
            raise
        except BaseException:
            flight.failed = True
            raise
        else:
            flight.value = value
            with self._lock:
                self._positive[login] = _Positive(digest, version, value)
                if self._negative is not None:
                    self._negative.pop(key, None)
            return value
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    def peek(self, login: str, password: str) -> T | None:
        """The remembered success for this pair, or None; never checks anything itself."""
        digest = self.digest(password)
        with self._lock:
            entry = self._positive.get(login)
            if (
                entry is not None
                and entry.version is None
                and hmac.compare_digest(entry.digest, digest)
            ):
                self.stats.hits += 1
            else:
                return None
        self._count_lookup("hit")
        return entry.value

    def remembered(self) -> list[T]:
        """The values of every unexpired success (a snapshot)."""
        with self._lock:
            self._positive.expire()
            return [entry.value for entry in self._positive.values()]

    def evict(self, predicate: Callable[[T], bool]) -> int:
        """Forget every remembered success whose value matches; how many were forgotten."""
        with self._lock:
            doomed = [login for login, entry in self._positive.items() if predicate(entry.value)]
            for login in doomed:
                del self._positive[login]
        return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._positive.clear()
            if self._negative is not None:
                self._negative.clear()

    def status(self) -> dict:
        with self._lock:
            self._positive.expire()
            negative_size = 0
            if self._negative is not None:
                self._negative.expire()
                negative_size = len(self._negative)
            return self.stats.as_dict(len(self._positive), negative_size)
