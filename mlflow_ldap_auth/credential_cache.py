"""Per-process caches of login decisions, so a busy client costs one bind per TTL.

* **Positive**: login name -> (keyed hash of the password, the authenticated user),
  for ``cache_ttl_seconds``, at most ``cache_max_size`` entries. A request whose
  password hashes differently is a miss and goes to the directory, so a password
  changed in the directory works at once.
* **Negative**: (login name, keyed hash) of a refused pair, for
  ``negative_cache_ttl_seconds``: a script retrying a stale password does not reach the
  directory again (and cannot lock the account out) within that window.
* **Single flight**: concurrent checks of the same (login, password) wait for the one
  that is already talking to the directory instead of sending their own bind.

No plaintext password is ever stored: the key is HMAC-SHA256 with a random
per-process secret (useless for an offline dictionary attack without that secret) and
is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import TTLCache

from mlflow_ldap_auth.errors import AuthError

T = TypeVar("T")


@dataclass(frozen=True)
class _Positive(Generic[T]):
    digest: bytes
    value: T


class _Flight:
    """One directory check in progress; others with the same key wait on it."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value = None
        self.error: BaseException | None = None


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

    ``check`` raises an ``AuthError`` to refuse; ``InvalidCredentials`` and ``NotAllowed``
    refusals are remembered in the negative cache (``remember_refusal``), others (a
    directory outage) are not.
    """

    def __init__(
        self,
        ttl_seconds: int,
        max_size: int,
        negative_ttl_seconds: int,
        remember_refusal: Callable[[AuthError], bool],
        timer: Callable[[], float] | None = None,
    ) -> None:
        extra = {"timer": timer} if timer else {}
        self._positive: TTLCache[str, _Positive[T]] = TTLCache(max_size, ttl_seconds, **extra)
        self._negative: TTLCache[tuple[str, bytes], AuthError] | None = (
            TTLCache(max_size, negative_ttl_seconds, **extra) if negative_ttl_seconds > 0 else None
        )
        self._remember_refusal = remember_refusal
        self._lock = threading.Lock()
        self._flights: dict[tuple[str, bytes], _Flight] = {}
        self._key = secrets.token_bytes(32)
        self.stats = CacheStats()

    def digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8"), hashlib.sha256).digest()

    def get_or_check(self, login: str, password: str, check: Callable[[str, str], T]) -> T:
        digest = self.digest(password)
        key = (login, digest)
        with self._lock:
            entry = self._positive.get(login)
            if entry is not None and hmac.compare_digest(entry.digest, digest):
                self.stats.hits += 1
                return entry.value
            if self._negative is not None:
                refusal = self._negative.get(key)
                if refusal is not None:
                    self.stats.negative_hits += 1
                    raise refusal
            flight = self._flights.get(key)
            leader = flight is None
            if leader:
                flight = self._flights[key] = _Flight()
                self.stats.misses += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            value = check(login, password)
        except AuthError as exc:
            flight.error = exc
            with self._lock:
                if self._negative is not None and self._remember_refusal(exc):
                    self._negative[key] = exc
            raise
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.value = value
            with self._lock:
                self._positive[login] = _Positive(digest, value)
                if self._negative is not None:
                    self._negative.pop(key, None)
            return value
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

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
