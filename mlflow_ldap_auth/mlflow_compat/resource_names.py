"""The names behind MLflow resource ids, asked of MLflow's own stores.

A group mapping stores what MLflow stores in a grant: ``*`` or the resource's key, which
for an experiment is its numeric id, for a registered model, prompt or MCP server its
name, for a gateway secret / endpoint / model definition its id (``s-…``, ``e-…``,
``d-…``) and for a scorer ``<experiment id>/<url-quoted scorer name>``. An admin reads
and types names, so the admin page asks here: ``labels`` puts a name (or "deleted")
next to every pattern of a listing, ``search`` offers resources by name, ``resolve``
turns what was typed into the pattern MLflow matches grants on.

Everything goes through the stores' public methods (``search_experiments``,
``search_registered_models``, ``search_prompts``, the gateway ``list_*`` methods, ...),
never their tables, so a store MLflow swaps in (a workspace-aware one, another
database) answers the same way. Two things of the stores' query language shape the
code: ``experiment_id IN (...)`` and ``name IN (...)`` answer a listing in one query per
chunk instead of one per resource; and the filter grammar has no escape for quotes and
its ``LIKE`` none for ``%`` and ``_``, so text typed by an admin is never put into a
filter as it is (``_filter_literal``): quotes and backslashes become the one-character
wildcard ``_`` and every row the store returns is checked again in Python against the
exact text. The store's answer can only be wider than the question, never break or
widen the result.

Workspaces: with ``MLFLOW_ENABLE_WORKSPACES`` MLflow's stores scope every query to the
request's workspace (``mlflow.utils.workspace_context``); each call here runs in
``ServerWorkspaceContext(workspace)`` so it sees the given workspace's resources. With
workspaces off every resource is in the default workspace and ``workspace`` is ignored.

``mlflow.server.handlers`` builds the server's stores from its environment, and nothing
here imports it (or any other MLflow server module) at module import time.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE

_logger = logging.getLogger(__name__)

WILDCARD = "*"

EXPERIMENT = "experiment"
REGISTERED_MODEL = "registered_model"
PROMPT = "prompt"
SCORER = "scorer"
GATEWAY_SECRET = "gateway_secret"
GATEWAY_ENDPOINT = "gateway_endpoint"
GATEWAY_MODEL_DEFINITION = "gateway_model_definition"
MCP_SERVER = "mcp_server"

#: The types whose patterns name a resource this module can look up.
NAMED_TYPES = frozenset(
    {
        EXPERIMENT,
        REGISTERED_MODEL,
        PROMPT,
        SCORER,
        GATEWAY_SECRET,
        GATEWAY_ENDPOINT,
        GATEWAY_MODEL_DEFINITION,
        MCP_SERVER,
    }
)
#: The types ``search`` can find by name.
SEARCHABLE_TYPES = NAMED_TYPES - {SCORER}

#: (resource_type, resource_pattern, workspace): how ``labels`` keys its answer.
ResourceKey = tuple[str, str, str]
#: pattern -> (name, exists), for the patterns a lookup found.
_Found = dict[str, tuple[str | None, bool]]

#: Ids per ``IN (...)`` query: well below SQLite's and MLflow's limits (the registry
#: store answers at most 1,000 rows a call).
_CHUNK = 500
#: How many rows ``search`` reads at most to find ``limit`` exact matches when the
#: store's answer is wider than the question (quotes, ``%`` or ``_`` in the text).
_SEARCH_SCAN_LIMIT = 5000
_SEARCH_PAGE = 200
#: Experiment ids MLflow's SQL store accepts (an INTEGER column; a longer run of digits
#: would overflow it on PostgreSQL). Anything else cannot be an experiment id there.
_EXPERIMENT_ID = re.compile(r"[0-9]{1,18}")
#: What a quoted literal in MLflow's filter grammar cannot carry.
_UNQUOTABLE = re.compile(r"['\"\\]")
_PROMPT_FILTER = "tags.`mlflow.prompt.is_prompt` = 'true'"

_ALL_TEXT = {
    EXPERIMENT: "all experiments",
    REGISTERED_MODEL: "all registered models",
    PROMPT: "all prompts",
    SCORER: "all scorers",
    GATEWAY_SECRET: "all gateway secrets",
    GATEWAY_ENDPOINT: "all gateway endpoints",
    GATEWAY_MODEL_DEFINITION: "all gateway model definitions",
    MCP_SERVER: "all MCP servers",
    "workspace": "the whole workspace",
}


@dataclass(frozen=True)
class ResourceLabel:
    """What a (resource_type, pattern, workspace) names.

    ``name``: the resource's name (an experiment's name, a model's name, a gateway
    secret's name, a scorer's name); None for ``*``, for types without names, and when
    it could not be found. ``exists``: True if it exists (``*`` and types without a
    lookup always do), False if not (deleted, or never there), None if the store could
    not be asked (its error is logged, the page still renders).
    """

    resource_type: str
    pattern: str
    name: str | None
    exists: bool | None
    workspace: str = DEFAULT_WORKSPACE

    @property
    def key(self) -> ResourceKey:
        return (self.resource_type, self.pattern, self.workspace)

    @property
    def text(self) -> str:
        """What the admin page shows next to the pattern: ``"fraud-detection"``,
        ``"fraud-detection (deleted)"``, ``"deleted"``, ``"all experiments"``,
        ``"unknown"`` (the store could not be asked)."""
        if self.pattern == WILDCARD:
            return _ALL_TEXT.get(self.resource_type, f"all {self.resource_type}")
        if self.exists is None:
            return "unknown"
        if self.exists is False:
            return f"{self.name} (deleted)" if self.name else "deleted"
        return self.name if self.name is not None else self.pattern


def _default_tracking_store() -> Any:
    from mlflow.server.handlers import _get_tracking_store

    return _get_tracking_store()


def _default_registry_store() -> Any:
    from mlflow.server.handlers import _get_model_registry_store

    return _get_model_registry_store()


def _workspaces_enabled() -> bool:
    from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES

    return bool(MLFLOW_ENABLE_WORKSPACES.get())


@contextlib.contextmanager
def _in_workspace(workspace: str) -> Iterator[None]:
    """The stores' queries, while inside, are scoped to ``workspace`` (if enabled)."""
    if not _workspaces_enabled():
        yield
        return
    from mlflow.utils.workspace_context import ServerWorkspaceContext

    with ServerWorkspaceContext(workspace or DEFAULT_WORKSPACE):
        yield


def _filter_literal(text: str) -> str:
    """``text`` as a quoted literal for MLflow's filter grammar, where a LIKE pattern
    may match more than ``text`` but never less: the grammar has no escapes, so each
    quote and backslash becomes ``_`` (any one character). Callers check the rows the
    store returns against the exact text."""
    return "'" + _UNQUOTABLE.sub("_", text) + "'"


def _chunks(values: list[str], size: int = _CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _in_list(values: Iterable[str]) -> str:
    """``('a','b')``: only for values ``_UNQUOTABLE`` does not match."""
    return "(" + ",".join(f"'{value}'" for value in values) + ")"


def _not_found(what: str, text: str, workspace: str) -> MlflowException:
    where = f" in workspace '{workspace}'" if _workspaces_enabled() else ""
    return MlflowException(f"No {what} '{text}'{where}.", RESOURCE_DOES_NOT_EXIST)


class ResourceNames:
    """Names of MLflow resources, from the server's tracking and registry stores.

    ``tracking_store`` / ``registry_store``: callables returning the stores (default:
    the server's, ``mlflow.server.handlers``); tests pass real stores on their own
    database. Gateway objects, MCP servers and scorers live in the tracking store.
    """

    def __init__(
        self,
        tracking_store: Callable[[], Any] | None = None,
        registry_store: Callable[[], Any] | None = None,
    ) -> None:
        self._tracking = tracking_store or _default_tracking_store
        self._registry = registry_store or _default_registry_store

    # -- labels ----------------------------------------------------------------------
    def label(
        self, resource_type: str, pattern: str, workspace: str = DEFAULT_WORKSPACE
    ) -> ResourceLabel:
        """The label of one pattern (``labels`` for a listing: it batches)."""
        return self.labels([(resource_type, pattern, workspace)])[
            (resource_type, pattern, workspace)
        ]

    def labels(self, items: Iterable[ResourceKey]) -> dict[ResourceKey, ResourceLabel]:
        """Labels for (resource_type, pattern, workspace) triples, keyed by the triple.

        Batched: per type and workspace one query per 500 experiments / models /
        prompts (``experiment_id IN``, ``name IN``) and one listing for gateway
        objects, MCP servers and scorers, whatever the number of items. A deleted
        experiment (lifecycle stage ``deleted``, still restorable) has its name and
        ``exists=False``, as has a pattern naming nothing (an experiment "pattern" that
        is not an id, a ``registered_model`` pattern that names a prompt and the other
        way round: MLflow would not apply such a grant). ``*`` and types without names
        (``workspace``, ``run``, ...) exist with name None; so do types MLflow does not
        know (whether a type is valid is ``rules``' question, and asking it here would
        import MLflow's auth module). Never raises for a store failure: the
        affected labels get ``exists=None`` and the failure is logged.
        """
        wanted: dict[tuple[str, str], set[str]] = {}
        answer: dict[ResourceKey, ResourceLabel] = {}
        for resource_type, pattern, workspace in items:
            key = (resource_type, pattern, workspace)
            if key in answer:
                continue
            if pattern == WILDCARD or resource_type not in NAMED_TYPES:
                answer[key] = ResourceLabel(resource_type, pattern, None, True, workspace)
            else:
                answer[key] = ResourceLabel(resource_type, pattern, None, None, workspace)
                wanted.setdefault((resource_type, workspace), set()).add(pattern)
        for (resource_type, workspace), patterns in wanted.items():
            try:
                with _in_workspace(workspace):
                    found = self._lookup(resource_type, sorted(patterns))
            except Exception:  # a store failure must not break the page
                _logger.warning(
                    "Could not look up the names of %d %s resources in workspace %r",
                    len(patterns),
                    resource_type,
                    workspace,
                    exc_info=True,
                )
                continue
            for pattern in patterns:
                name, exists = found.get(pattern, (None, False))
                answer[(resource_type, pattern, workspace)] = ResourceLabel(
                    resource_type, pattern, name, exists, workspace
                )
        return answer

    def _lookup(self, resource_type: str, patterns: list[str]) -> _Found:
        """pattern -> (name, exists) for the patterns found (missing ones: not found)."""
        if resource_type == EXPERIMENT:
            return self._experiments_by_id(patterns)
        if resource_type in (REGISTERED_MODEL, PROMPT):
            names = self._existing_model_names(patterns, prompts=resource_type == PROMPT)
            return {name: (name, True) for name in names}
        if resource_type == MCP_SERVER:
            servers = set(self._mcp_server_names())
            return {name: (name, True) for name in patterns if name in servers}
        if resource_type == SCORER:
            return self._scorers(patterns)
        ids = self._gateway_names(resource_type)
        return {pattern: (ids[pattern], True) for pattern in patterns if pattern in ids}

    def _experiments_by_id(self, ids: list[str]) -> _Found:
        from mlflow.entities import LifecycleStage, ViewType

        store = self._tracking()
        found: _Found = {}
        numeric = [i for i in ids if _EXPERIMENT_ID.fullmatch(i)]
        for chunk in _chunks(numeric):
            page = store.search_experiments(
                view_type=ViewType.ALL,
                max_results=len(chunk),
                filter_string=f"experiment_id IN {_in_list(chunk)}",
            )
            for experiment in page:
                found[experiment.experiment_id] = (
                    experiment.name,
                    experiment.lifecycle_stage == LifecycleStage.ACTIVE,
                )
        return found

    def _existing_model_names(self, names: list[str], prompts: bool) -> set[str]:
        """The ``names`` that are registered models (prompts if ``prompts``)."""
        store = self._registry()
        prefix = f"{_PROMPT_FILTER} AND " if prompts else ""
        found: set[str] = set()
        one_by_one = [n for n in names if n and _UNQUOTABLE.search(n)]
        for chunk in _chunks([n for n in names if n and not _UNQUOTABLE.search(n)]):
            try:
                page = store.search_registered_models(
                    filter_string=f"{prefix}name IN {_in_list(chunk)}", max_results=len(chunk)
                )
            except MlflowException:
                # The grammar refused a name in the list (it should not): ask one by one.
                one_by_one += chunk
                continue
            found.update(model.name for model in page)
        for name in one_by_one:
            # A LIKE wide enough to hold the name (quotes become "_"), then the exact name.
            rows = self._models_like(store, f"{prefix}name LIKE {_filter_literal(name)}")
            found.update(row for row in rows if row == name)
        return found & set(names)

    @staticmethod
    def _models_like(store: Any, filter_string: str) -> Iterator[str]:
        token = None
        read = 0
        while read < _SEARCH_SCAN_LIMIT:
            page = store.search_registered_models(
                filter_string=filter_string, max_results=_SEARCH_PAGE, page_token=token
            )
            read += len(page)
            yield from (model.name for model in page)
            token = page.token
            if not token:
                return

    def _gateway_names(self, resource_type: str) -> dict[str, str | None]:
        """id -> name of every gateway object of ``resource_type`` (a listing: these are
        few, and the stores offer no lookup of many ids at once)."""
        store = self._tracking()
        if resource_type == GATEWAY_SECRET:
            return {s.secret_id: s.secret_name for s in store.list_secret_infos()}
        if resource_type == GATEWAY_ENDPOINT:
            return {e.endpoint_id: e.name for e in store.list_gateway_endpoints()}
        if resource_type == GATEWAY_MODEL_DEFINITION:
            return {d.model_definition_id: d.name for d in store.list_gateway_model_definitions()}
        raise MlflowException(f"No names for {resource_type}", INVALID_PARAMETER_VALUE)

    def _mcp_server_names(self) -> Iterator[str]:
        store = self._tracking()
        token = None
        while True:
            page = store.search_mcp_servers(max_results=1000, page_token=token)
            yield from (server.name for server in page)
            token = page.token
            if not token:
                return

    def _scorers(self, patterns: list[str]) -> _Found:
        """``<experiment id>/<quoted name>``: the scorer's name; it exists if its
        experiment is active (in this workspace) and has a scorer of that name."""
        parsed = {}
        for pattern in patterns:
            experiment_id, sep, quoted = pattern.partition("/")
            if sep and quoted and _EXPERIMENT_ID.fullmatch(experiment_id):
                parsed[pattern] = (experiment_id, unquote(quoted))
        experiments = self._experiments_by_id(sorted({e for e, _ in parsed.values()}))
        active = [e for e, (_, is_active) in experiments.items() if is_active]
        present = set()
        if active:
            store = self._tracking()
            present = {
                (str(s.experiment_id), s.scorer_name)
                for s in store.list_scorers_across_experiments(active)
            }
        return {
            pattern: (name, (experiment_id, name) in present)
            for pattern, (experiment_id, name) in parsed.items()
        }

    # -- search ----------------------------------------------------------------------
    def search(
        self,
        resource_type: str,
        query: str,
        limit: int = 20,
        workspace: str = DEFAULT_WORKSPACE,
    ) -> list[ResourceLabel]:
        """Resources of ``resource_type`` whose name contains ``query``, ignoring case,
        ordered by name, at most ``limit``: active experiments, registered models (not
        prompts), prompts, gateway secrets / endpoints / model definitions (by name),
        MCP servers. Each label's ``pattern`` is what a mapping stores (an experiment's
        id, a gateway object's id, a model's name). ``query`` is text, not a pattern:
        ``%``, ``_``, quotes and backslashes match themselves. An empty query lists the
        first ``limit``. Case folding is the database's first (ASCII on SQLite), then
        Python's. When the store's answer is wider than the query (``%``, ``_``, quotes
        in it) at most 5,000 rows are read to fill ``limit``. Store failures raise.
        """
        if resource_type not in SEARCHABLE_TYPES:
            raise MlflowException(
                f"Resources of type '{resource_type}' cannot be searched by name.",
                INVALID_PARAMETER_VALUE,
            )
        if limit <= 0:
            return []
        needle = query.casefold()
        with _in_workspace(workspace):
            if resource_type in (EXPERIMENT, REGISTERED_MODEL, PROMPT):
                rows = self._search_rows(resource_type, query)
            elif resource_type == MCP_SERVER:
                rows = ((name, name) for name in sorted(self._mcp_server_names()))
            else:
                named = self._gateway_names(resource_type).items()
                rows = iter(sorted(((i, n) for i, n in named if n), key=lambda r: r[1]))
            found = []
            for pattern, name in rows:
                if needle in name.casefold():
                    found.append(ResourceLabel(resource_type, pattern, name, True, workspace))
                    if len(found) >= limit:
                        break
        return found

    def _search_rows(self, resource_type: str, query: str) -> Iterator[tuple[str, str]]:
        """(pattern, name) of rows whose name may contain ``query``, ordered by name."""
        like = _filter_literal(f"%{query}%")
        if resource_type == EXPERIMENT:
            from mlflow.entities import ViewType

            store = self._tracking()

            def page_of(token: str | None) -> tuple[list[tuple[str, str]], str | None]:
                page = store.search_experiments(
                    view_type=ViewType.ACTIVE_ONLY,
                    max_results=_SEARCH_PAGE,
                    filter_string=f"name ILIKE {like}",
                    order_by=["name ASC"],
                    page_token=token,
                )
                return [(e.experiment_id, e.name) for e in page], page.token

        else:
            store = self._registry()
            prefix = f"{_PROMPT_FILTER} AND " if resource_type == PROMPT else ""

            def page_of(token: str | None) -> tuple[list[tuple[str, str]], str | None]:
                page = store.search_registered_models(
                    filter_string=f"{prefix}name ILIKE {like}",
                    max_results=_SEARCH_PAGE,
                    order_by=["name ASC"],
                    page_token=token,
                )
                return [(m.name, m.name) for m in page], page.token

        token = None
        read = 0
        while read < _SEARCH_SCAN_LIMIT:
            rows, token = page_of(token)
            read += len(rows)
            yield from rows
            if not token:
                return

    # -- resolve ---------------------------------------------------------------------
    def resolve(self, resource_type: str, text: str, workspace: str = DEFAULT_WORKSPACE) -> str:
        """The pattern MLflow stores for what an admin typed.

        ``*`` stays ``*``. Experiment: an all-digit ``text`` that is the id of an
        experiment stays that id, even if another experiment is *named* ``text`` (ids
        win: an id is what MLflow matches grants on, and a name can be changed); other
        text is an experiment's name, and its id is returned (deleted experiments too:
        they can be restored). Registered model / prompt / MCP server: the exact name,
        once it is known to exist as that type (a prompt's name is no registered model).
        Gateway secret / endpoint / model definition: an id stays, a name becomes the
        id. Other types (scorer, wildcard-only types) are returned unchanged: MLflow's
        pattern validation (``rules.check_resource_pattern``) is the caller's. Text is
        not trimmed. ``MlflowException`` RESOURCE_DOES_NOT_EXIST when nothing matches.
        """
        if text == WILDCARD or resource_type not in SEARCHABLE_TYPES:
            return text
        with _in_workspace(workspace):
            if resource_type == EXPERIMENT:
                return self._resolve_experiment(text, workspace)
            if resource_type in (REGISTERED_MODEL, PROMPT):
                prompts = resource_type == PROMPT
                if self._existing_model_names([text], prompts=prompts):
                    return text
                raise _not_found("prompt" if prompts else "registered model", text, workspace)
            if resource_type == MCP_SERVER:
                if text in set(self._mcp_server_names()):
                    return text
                raise _not_found("MCP server", text, workspace)
            names = self._gateway_names(resource_type)
            if text in names:
                return text
            ids = sorted(i for i, name in names.items() if name == text)
            if ids:
                return ids[0]
            raise _not_found(resource_type.replace("_", " "), text, workspace)

    def _resolve_experiment(self, text: str, workspace: str) -> str:
        if _EXPERIMENT_ID.fullmatch(text) and text in self._experiments_by_id([text]):
            return text
        experiment = self._tracking().get_experiment_by_name(text)
        if experiment is None:
            raise _not_found("experiment with id or name", text, workspace)
        return str(experiment.experiment_id)
