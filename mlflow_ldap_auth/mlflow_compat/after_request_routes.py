"""MLflow's after-request hook, its route look-up remembered per path and method.

MLflow's auth module registers ``_after_request`` on the Flask app: for an answer below
400 it finds the handler of the route (``AFTER_REQUEST_HANDLERS`` by exact path and
method, else the first of ``PARAMETERIZED_AFTER_REQUEST_HANDLERS`` whose method is the
request's and whose regex matches the path) and lets it filter the answer (search
results cut to what the user may read, grants for what the user created). Finding none,
which is every request of almost every route, reads ``request`` through werkzeug's proxy
twice per parameterized rule: about 120 function calls, 1 % of a warm request's CPU.

Which handler applies depends only on the path and the method, and both tables are
complete once MLflow's ``create_app`` has run (they are filled as its auth module is
imported and as it adds the ``--static-prefix`` routes). ``install`` replaces the hook,
in its place among the app's ``after_request`` functions, by one that answers exactly
as MLflow's (the same status test, the same handler, MLflow's exception answer) with
the look-up in a bounded LRU per (path, method) (``path_memo``). Without MLflow's hook in the list
(another release), nothing is replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType

from flask import Flask, Response, request
from mlflow.server.handlers import catch_mlflow_exception

from mlflow_ldap_auth.mlflow_compat.path_memo import remembered_by_route

_logger = logging.getLogger(__name__)


def handler_lookup(module: ModuleType, max_size: int = 4096) -> Callable:
    """``(path, method) -> handler or None``, as ``_after_request`` finds it, remembered."""
    exact = module.AFTER_REQUEST_HANDLERS
    parameterized = module.PARAMETERIZED_AFTER_REQUEST_HANDLERS

    def handler_for(path: str, method: str):
        handler = exact.get((path, method))
        if handler is None:
            for (pattern, rule_method), candidate in parameterized.items():
                if rule_method == method and pattern.fullmatch(path):
                    return candidate
        return handler

    return remembered_by_route(handler_for, max_size)


def install(app: Flask, module: ModuleType) -> bool:
    """Put the remembering hook in place of MLflow's ``_after_request`` (after its
    ``create_app``); False when MLflow's is not registered."""
    hooks = app.after_request_funcs.get(None, [])
    original = module._after_request
    if original not in hooks:
        _logger.warning("MLflow's after-request hook not found: it runs as it is")
        return False
    handler_for = handler_lookup(module)

    @catch_mlflow_exception
    def after_request(resp: Response):
        if 400 <= resp.status_code < 600:
            return resp
        handler = handler_for(request.path, request.method)
        if handler is not None:
            handler(resp)
        return resp

    hooks[hooks.index(original)] = after_request
    return True
