"""Flask's "is this an ``async def``?" test, made once per hook and view.

Before it calls any hook or view, Flask asks ``app.ensure_sync(function)``, which runs
``inspect.iscoroutinefunction`` every time: about eight function calls, for each of the
app's hooks (the plugin's and MLflow's, about fifteen) and the view, on every request.
Whether a function is a coroutine function never changes, so ``install`` remembers per
function that a plain one is returned as it is, in a bounded LRU (the hooks and views
of an app are a fixed set); any other function (an ``async def``) goes to Flask's own
``ensure_sync`` every time, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask

#: Functions remembered (an app has a few hundred views and hooks).
MAX_FUNCTIONS = 4096


def install(app: Flask) -> None:
    flask_ensure_sync = app.ensure_sync

    @functools.lru_cache(maxsize=MAX_FUNCTIONS)
    def is_plain(function: Callable[..., Any]) -> bool:
        return flask_ensure_sync(function) is function

    def ensure_sync(function: Callable[..., Any]) -> Callable[..., Any]:
        try:
            plain = is_plain(function)
        except TypeError:  # not hashable: Flask's own answer
            plain = False
        return function if plain else flask_ensure_sync(function)

    app.ensure_sync = ensure_sync  # type: ignore[method-assign,assignment]
