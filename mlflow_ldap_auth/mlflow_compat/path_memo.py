"""Answers that depend only on a request's route, remembered within a bound of bytes.

Several checks on the request path depend only on the path and the method (whether
MLflow's middleware will authenticate it, which after-request handler applies, whether
it is a native FastAPI route, a gateway route) and are remembered per route in an LRU.
The path is the client's choice, so an LRU bounded in entries alone is not bounded in
memory: 4,096 paths of up to the 16 KiB a request's head may have (uvicorn's h11) are
64 MB per cache, filled by one client in seconds. ``remembered_by_route`` keeps only
answers whose string arguments total at most ``MAX_KEY_CHARS``; a longer route is
answered each time, as it would be without the memory (no route of MLflow or the
plugin comes near that length).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: The most characters of a key (the sum of its strings) that is remembered.
MAX_KEY_CHARS = 1024


def remembered_by_route(function: Callable[..., T], max_size: int = 4096) -> Callable[..., T]:
    """``function`` with its answers remembered per arguments (all hashable), in an LRU
    of ``max_size`` entries, for keys of at most ``MAX_KEY_CHARS`` characters."""
    remembered = functools.lru_cache(maxsize=max_size)(function)

    @functools.wraps(function)
    def answer(*args):
        # A loop, not a generator: this runs several times on every request.
        chars = 0
        for arg in args:
            if isinstance(arg, str):
                chars += len(arg)
        if chars > MAX_KEY_CHARS:
            return function(*args)
        return remembered(*args)

    answer.cache_info = remembered.cache_info  # type: ignore[attr-defined]
    return answer
