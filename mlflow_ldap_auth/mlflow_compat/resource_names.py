"""The names behind MLflow resource ids, asked of MLflow's own stores.

A group mapping stores what MLflow stores in a grant: ``*`` or the resource's key, which
for an experiment is its numeric id, for a registered model, prompt or MCP server its
name, for a gateway secret / endpoint / model definition its id (``s-…``, ``e-…``,
``d-…``), for a skill ``name`` or ``@organization/name`` and for a scorer
``<experiment id>/<url-quoted scorer name>``. What each type's key is and how the
stores find it is one row per type in ``resource_types``; this module batches, scopes
to workspaces and answers. An admin reads
and types names, so the admin page asks here: ``labels`` puts a name (or "deleted")
next to every pattern of a listing, ``search`` offers resources by name, ``resolve``
turns what was typed into the pattern MLflow matches grants on.

Everything goes through the stores' public methods (``search_experiments``,
``search_registered_models``, the gateway ``list_*`` methods, ``search_skills``, ...),
never their tables, so a store MLflow swaps in (a workspace-aware one, another
database) answers the same way. Two things of the stores' query language shape the
code: ``experiment_id IN (...)`` and ``name IN (...)`` answer a listing in one query per
chunk instead of one per resource; and the filter grammar has no escape for quotes and
its ``LIKE`` none for ``%`` and ``_``, so text typed by an admin is never put into a
filter as it is (``resource_types.filter_literal``): quotes and backslashes become the one-character
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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

from mlflow_ldap_auth.mlflow_compat import resource_types
from mlflow_ldap_auth.mlflow_compat.resource_types import WILDCARD, Stores
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE

_logger = logging.getLogger(__name__)

#: (resource_type, resource_pattern, workspace): how ``labels`` keys its answer.
ResourceKey = tuple[str, str, str]


@dataclass(frozen=True)
class ResourceLabel:
    """What a (resource_type, pattern, workspace) names.

    ``name``: the resource's name (an experiment's name, a model's name, a gateway
    secret's name, a scorer's name, a skill's key); None for ``*``, for types without
    names, and when it could not be found. ``exists``: True if it exists (``*`` and
    types without a lookup always do), False if not (deleted, or never there), None if
    the store could not be asked (its error is logged, the page still renders).
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
            return resource_types.row(self.resource_type).all_text
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


def _not_found(what: str, text: str, workspace: str) -> MlflowException:
    where = f" in workspace '{workspace}'" if _workspaces_enabled() else ""
    return MlflowException(f"No {what} '{text}'{where}.", RESOURCE_DOES_NOT_EXIST)


class ResourceNames:
    """Names of MLflow resources, from the server's tracking and registry stores.

    ``tracking_store`` / ``registry_store``: callables returning the stores (default:
    the server's, ``mlflow.server.handlers``); tests pass real stores on their own
    database. Gateway objects, MCP servers, scorers and skills live in the tracking
    store.
    """

    def __init__(
        self,
        tracking_store: Callable[[], Any] | None = None,
        registry_store: Callable[[], Any] | None = None,
    ) -> None:
        self._stores = Stores(
            tracking_store or _default_tracking_store,
            registry_store or _default_registry_store,
        )

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
        prompts / skills (``experiment_id IN``, ``name IN``, exact skill identities)
        and one listing for gateway objects, MCP servers and scorers, whatever the
        number of items. A deleted experiment (lifecycle stage ``deleted``, still
        restorable) has its name and ``exists=False``, as has a pattern naming nothing
        (an experiment "pattern" that is not an id, a ``registered_model`` pattern that
        names a prompt and the other way round: MLflow would not apply such a grant).
        ``*`` and types without a lookup (``workspace``, ``run``, ...) exist with name
        None; so do types MLflow does not know (whether a type is valid is ``rules``'
        question, and asking it here would import MLflow's auth module). Never raises
        for a store failure: the affected labels get ``exists=None`` and the failure is
        logged.
        """
        wanted: dict[tuple[str, str], set[str]] = {}
        answer: dict[ResourceKey, ResourceLabel] = {}
        for resource_type, pattern, workspace in items:
            key = (resource_type, pattern, workspace)
            if key in answer:
                continue
            if pattern == WILDCARD or resource_types.row(resource_type).lookup is None:
                answer[key] = ResourceLabel(resource_type, pattern, None, True, workspace)
            else:
                answer[key] = ResourceLabel(resource_type, pattern, None, None, workspace)
                wanted.setdefault((resource_type, workspace), set()).add(pattern)
        for (resource_type, workspace), patterns in wanted.items():
            lookup = resource_types.row(resource_type).lookup
            assert lookup is not None  # only types with a lookup are wanted
            try:
                with _in_workspace(workspace):
                    found = lookup(self._stores, sorted(patterns))
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
        MCP servers, skills (by ``name`` or ``@organization/name``). Each label's
        ``pattern`` is what a mapping stores (an experiment's id, a gateway object's
        id, a model's name). ``query`` is text, not a pattern: ``%``, ``_``, quotes and
        backslashes match themselves. An empty query lists the first ``limit``. Case
        folding is the database's first (ASCII on SQLite), then Python's. When the
        store's answer is wider than the query (``%``, ``_``, quotes in it; skills,
        which are listed) at most 5,000 rows are read to fill ``limit``. Store failures
        raise.
        """
        search = resource_types.row(resource_type).search
        if search is None:
            raise MlflowException(
                f"Resources of type '{resource_type}' cannot be searched by name.",
                INVALID_PARAMETER_VALUE,
            )
        if limit <= 0:
            return []
        needle = query.casefold()
        found = []
        with _in_workspace(workspace):
            for pattern, name in search(self._stores, query):
                if needle in name.casefold():
                    found.append(ResourceLabel(resource_type, pattern, name, True, workspace))
                    if len(found) >= limit:
                        break
        return found

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
        id. Skill: MLflow's key (``name`` or ``@organization/name``) once the skill is
        known to exist; a malformed key is INVALID_PARAMETER_VALUE. Other types (scorer,
        wildcard-only types) are returned unchanged: MLflow's pattern validation
        (``rules.check_resource_pattern``) is the caller's. Text is not trimmed.
        ``MlflowException`` RESOURCE_DOES_NOT_EXIST when nothing matches.
        """
        if text == WILDCARD:
            return text
        row = resource_types.row(resource_type)
        if row.normalise is not None:
            text = row.normalise(text)
        if row.find is None:
            return text
        with _in_workspace(workspace):
            found = row.find(self._stores, text)
        if found is None:
            raise _not_found(row.unknown_as or row.singular, text, workspace)
        return found

    def normalise(self, resource_type: str, text: str) -> str:
        """MLflow's spelling of a key typed for ``resource_type`` (``*`` and types
        without one: ``text``); INVALID_PARAMETER_VALUE if it is no key of the type."""
        row = resource_types.row(resource_type)
        if text == WILDCARD or row.normalise is None:
            return text
        return row.normalise(text)
