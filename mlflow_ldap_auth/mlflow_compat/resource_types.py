"""MLflow's resource types, one row each: what a person calls them and how to find them.

A row says what the admin page calls the type (``singular`` / ``plural``), what a grant's
pattern holds for one resource (``keyed_by``: an id, a name, a composite key, or only
``*``), and, where the stores can answer, how to find resources of the type: ``lookup``
(many patterns at once -> name and whether each exists), ``search`` (candidate rows for
a name search, ordered by name) and ``find`` (what an admin typed -> the pattern).
``normalise`` is MLflow's own spelling of a key an admin typed (skills), applied before
anything is stored or looked up.

``ROWS`` is written without asking MLflow, so ``resource_names`` can label a listing
without importing MLflow's auth module. ``available()`` is the registry as the running
release offers it: every type MLflow's permission engine accepts (``permissions.TYPE``),
in the order the admin form lists them, each with its row, or a generic one (mappable
with the raw pattern, labelled by its own name, not searchable) for a type this table
does not know yet. A row for a type the release lacks (``skill`` before 3.18) is left
out there. A new MLflow type is one row here, or none.

The store functions use the stores' public methods only (see ``resource_names`` for the
filter grammar's limits, which ``filter_literal`` works around). ``Stores`` hands them the
server's tracking and registry stores; each call runs in the workspace context
``resource_names`` sets.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import unquote

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

WILDCARD = "*"

#: What a grant's pattern holds for one resource.
BY_ID = "id"
BY_NAME = "name"
BY_COMPOSITE_KEY = "composite"
WILDCARD_ONLY = "wildcard"

#: Ids per ``IN (...)`` query: well below SQLite's and MLflow's limits (the registry
#: store answers at most 1,000 rows a call).
CHUNK = 500
#: How many rows a search reads at most to find its matches when the store's answer is
#: wider than the question (quotes, ``%`` or ``_`` in the text, or no filter at all).
SEARCH_SCAN_LIMIT = 5000
SEARCH_PAGE = 200
#: Experiment ids MLflow's SQL store accepts (an INTEGER column; a longer run of digits
#: would overflow it on PostgreSQL). Anything else cannot be an experiment id there.
EXPERIMENT_ID = re.compile(r"[0-9]{1,18}")
#: What a quoted literal in MLflow's filter grammar cannot carry.
UNQUOTABLE = re.compile(r"['\"\\]")
PROMPT_FILTER = "tags.`mlflow.prompt.is_prompt` = 'true'"

#: pattern -> (name, exists), for the patterns a lookup found.
Found = dict[str, tuple[str | None, bool]]


class Stores(NamedTuple):
    """Callables returning the server's tracking and registry stores."""

    tracking: Callable[[], Any]
    registry: Callable[[], Any]


Lookup = Callable[[Stores, list[str]], Found]
Search = Callable[[Stores, str], Iterator[tuple[str, str]]]
Find = Callable[[Stores, str], "str | None"]


@dataclass(frozen=True)
class ResourceType:
    """One resource type. ``lookup``: patterns -> (name, exists) of those found.
    ``search``: (pattern, name) rows whose name may contain the text, ordered by name
    (the caller checks each name). ``find``: the pattern for what an admin typed, None
    if nothing matches. ``normalise``: MLflow's spelling of a typed key
    (``MlflowException`` INVALID_PARAMETER_VALUE if it is no key of this type).
    ``id_shape``: text the add form keeps as an id without asking the store (an
    experiment id MLflow lets a grant name before the experiment exists)."""

    name: str
    singular: str
    plural: str
    keyed_by: str
    lookup: Lookup | None = None
    search: Search | None = None
    find: Find | None = None
    normalise: Callable[[str], str] | None = None
    id_shape: re.Pattern[str] | None = None
    #: How "no such …" names it, if not by ``singular``.
    unknown_as: str | None = None
    #: What ``*`` stands for on the admin page, if not "all <plural>".
    everything: str | None = None

    @property
    def all_text(self) -> str:
        return self.everything or f"all {self.plural}"

    @property
    def searchable(self) -> bool:
        return self.search is not None

    @property
    def per_resource(self) -> bool:
        """Whether a grant can name one resource of this type (not only ``*``)."""
        return self.keyed_by != WILDCARD_ONLY


def generic_row(name: str, keyed_by: str = BY_ID) -> ResourceType:
    """A type with no row here: mapped with the raw pattern, labelled by its name."""
    return ResourceType(name, name, name, keyed_by)


# -- helpers shared by the store functions --------------------------------------------
def filter_literal(text: str) -> str:
    """``text`` as a quoted literal for MLflow's filter grammar, where a LIKE pattern
    may match more than ``text`` but never less: the grammar has no escapes, so each
    quote and backslash becomes ``_`` (any one character). Callers check the rows the
    store returns against the exact text."""
    return "'" + UNQUOTABLE.sub("_", text) + "'"


def chunks(values: list, size: int = CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def in_list(values: list[str]) -> str:
    """``('a','b')``: only for values ``UNQUOTABLE`` does not match."""
    return "(" + ",".join(f"'{value}'" for value in values) + ")"


def _pages(page_of: Callable[[str | None], Any]) -> Iterator[Any]:
    """Every item of a paged store answer, at most ``SEARCH_SCAN_LIMIT`` read."""
    token = None
    read = 0
    while read < SEARCH_SCAN_LIMIT:
        page = page_of(token)
        read += len(page)
        yield from page
        token = page.token
        if not token:
            return


# -- experiments ----------------------------------------------------------------------
def _experiments_by_id(stores: Stores, ids: list[str]) -> Found:
    from mlflow.entities import LifecycleStage, ViewType

    store = stores.tracking()
    found: Found = {}
    numeric = [i for i in ids if EXPERIMENT_ID.fullmatch(i)]
    for chunk in chunks(numeric):
        page = store.search_experiments(
            view_type=ViewType.ALL,
            max_results=len(chunk),
            filter_string=f"experiment_id IN {in_list(chunk)}",
        )
        for experiment in page:
            found[experiment.experiment_id] = (
                experiment.name,
                experiment.lifecycle_stage == LifecycleStage.ACTIVE,
            )
    return found


def _experiment_rows(stores: Stores, query: str) -> Iterator[tuple[str, str]]:
    from mlflow.entities import ViewType

    store = stores.tracking()
    like = filter_literal(f"%{query}%")
    pages = _pages(
        lambda token: store.search_experiments(
            view_type=ViewType.ACTIVE_ONLY,
            max_results=SEARCH_PAGE,
            filter_string=f"name ILIKE {like}",
            order_by=["name ASC"],
            page_token=token,
        )
    )
    return ((e.experiment_id, e.name) for e in pages)


def _find_experiment(stores: Stores, text: str) -> str | None:
    """An all-digit ``text`` that is the id of an experiment stays that id, even if
    another experiment is *named* ``text`` (ids win: an id is what MLflow matches grants
    on, and a name can be changed); other text is an experiment's name (deleted ones
    too: they can be restored)."""
    if EXPERIMENT_ID.fullmatch(text) and text in _experiments_by_id(stores, [text]):
        return text
    experiment = stores.tracking().get_experiment_by_name(text)
    return None if experiment is None else str(experiment.experiment_id)


# -- registered models and prompts (one table, told apart by a tag) -------------------
def _model_names(stores: Stores, names: list[str], prompts: bool) -> set[str]:
    """The ``names`` that are registered models (prompts if ``prompts``)."""
    store = stores.registry()
    prefix = f"{PROMPT_FILTER} AND " if prompts else ""
    found: set[str] = set()
    one_by_one = [n for n in names if n and UNQUOTABLE.search(n)]
    for chunk in chunks([n for n in names if n and not UNQUOTABLE.search(n)]):
        try:
            page = store.search_registered_models(
                filter_string=f"{prefix}name IN {in_list(chunk)}", max_results=len(chunk)
            )
        except MlflowException:
            # The grammar refused a name in the list (it should not): ask one by one.
            one_by_one += chunk
            continue
        found.update(model.name for model in page)
    for name in one_by_one:
        # A LIKE wide enough to hold the name (quotes become "_"), then the exact name.
        like = f"{prefix}name LIKE {filter_literal(name)}"

        def page_of(token: str | None, like: str = like) -> Any:
            return store.search_registered_models(
                filter_string=like, max_results=SEARCH_PAGE, page_token=token
            )

        rows = _pages(page_of)
        found.update(model.name for model in rows if model.name == name)
    return found & set(names)


def _models(prompts: bool) -> tuple[Lookup, Search, Find]:
    def lookup(stores: Stores, names: list[str]) -> Found:
        return {name: (name, True) for name in _model_names(stores, names, prompts)}

    def search(stores: Stores, query: str) -> Iterator[tuple[str, str]]:
        store = stores.registry()
        prefix = f"{PROMPT_FILTER} AND " if prompts else ""
        like = filter_literal(f"%{query}%")
        pages = _pages(
            lambda token: store.search_registered_models(
                filter_string=f"{prefix}name ILIKE {like}",
                max_results=SEARCH_PAGE,
                order_by=["name ASC"],
                page_token=token,
            )
        )
        return ((m.name, m.name) for m in pages)

    def find(stores: Stores, text: str) -> str | None:
        return text if _model_names(stores, [text], prompts) else None

    return lookup, search, find


# -- types the stores list whole: gateway objects, MCP servers --------------------------
def _listed(listing: Callable[[Any], dict[str, str | None]]) -> tuple[Lookup, Search, Find]:
    """Lookup, search and find for a type the tracking store lists whole (these are few,
    and the stores offer no lookup of many at once). ``listing``: key -> name."""

    def lookup(stores: Stores, patterns: list[str]) -> Found:
        every = listing(stores.tracking())
        return {p: (every[p], True) for p in patterns if p in every}

    def search(stores: Stores, query: str) -> Iterator[tuple[str, str]]:
        every = listing(stores.tracking()).items()
        return iter(sorted(((key, name) for key, name in every if name), key=lambda r: r[1]))

    def find(stores: Stores, text: str) -> str | None:
        """A key stays; a name becomes the key (the first, if several share it)."""
        every = listing(stores.tracking())
        if text in every:
            return text
        keys = sorted(key for key, name in every.items() if name == text)
        return keys[0] if keys else None

    return lookup, search, find


def _mcp_servers(store: Any) -> dict[str, str | None]:
    pages = _unbounded_pages(
        lambda token: store.search_mcp_servers(max_results=1000, page_token=token)
    )
    return {server.name: server.name for server in pages}


def _unbounded_pages(page_of: Callable[[str | None], Any]) -> Iterator[Any]:
    token = None
    while True:
        page = page_of(token)
        yield from page
        token = page.token
        if not token:
            return


# -- scorers: ``<experiment id>/<url-quoted scorer name>`` -------------------------------
def _scorers(stores: Stores, patterns: list[str]) -> Found:
    """A scorer exists if its experiment is active (in this workspace) and has a scorer
    of that name."""
    parsed = {}
    for pattern in patterns:
        experiment_id, sep, quoted = pattern.partition("/")
        if sep and quoted and EXPERIMENT_ID.fullmatch(experiment_id):
            parsed[pattern] = (experiment_id, unquote(quoted))
    experiments = _experiments_by_id(stores, sorted({e for e, _ in parsed.values()}))
    active = [e for e, (_, is_active) in experiments.items() if is_active]
    present = set()
    if active:
        present = {
            (str(s.experiment_id), s.scorer_name)
            for s in stores.tracking().list_scorers_across_experiments(active)
        }
    return {
        pattern: (name, (experiment_id, name) in present)
        for pattern, (experiment_id, name) in parsed.items()
    }


# -- skills (MLflow 3.18): ``name`` or ``@organization/name`` ----------------------------
def normalise_skill_key(text: str) -> str:
    """MLflow's key for a skill an admin typed: the store's own parse and format, with
    its rules for names (lowercase letters, digits, hyphens) and organizations, so a
    grant is never stored under a spelling no skill can have."""
    from mlflow.server.auth.permissions import (
        _format_skill_registry_resource_key,
        _parse_skill_registry_resource_key,
    )
    from mlflow.utils.validation import _validate_organization_name, _validate_skill_name

    try:
        organization, name = _parse_skill_registry_resource_key(text)
        _validate_organization_name(organization)
        _validate_skill_name(name)
    except MlflowException as exc:
        raise MlflowException(
            f"{text!r} is not a skill: type its name or @organization/name. {exc.message}",
            INVALID_PARAMETER_VALUE,
        ) from None
    return _format_skill_registry_resource_key(organization, name)


def _skill_key(skill: Any) -> str:
    from mlflow.server.auth.permissions import _format_skill_registry_resource_key

    return _format_skill_registry_resource_key(skill.organization, skill.name)


def _skill_identity(key: str) -> tuple[str, str] | None:
    """(organization, name) of a well-formed key, else None (it names no skill)."""
    from mlflow.server.auth.permissions import _parse_skill_registry_resource_key

    try:
        return _parse_skill_registry_resource_key(key)
    except MlflowException:
        return None


def _skill_store(stores: Stores) -> Any:
    store = stores.tracking()
    if not hasattr(store, "search_skills"):
        raise MlflowException("This MLflow release has no skill registry.", INVALID_PARAMETER_VALUE)
    return store


def _skills_by_key(stores: Stores, keys: list[str]) -> Found:
    """One exact-identity query per 500 keys."""
    store = _skill_store(stores)
    identities = {key: _skill_identity(key) for key in keys}
    wanted = sorted({i for i in identities.values() if i is not None})
    found: set[str] = set()
    for chunk in chunks(wanted):
        page = store.search_skills(max_results=len(chunk), include_skill_identities=chunk)
        found.update(_skill_key(skill) for skill in page)
    return {key: (key, True) for key in keys if key in found}


def _skill_rows(stores: Stores, query: str) -> Iterator[tuple[str, str]]:
    """Every skill (at most ``SEARCH_SCAN_LIMIT``), by key: the text may match the
    organization or the name, which the store's filter cannot ask in one question."""
    store = _skill_store(stores)
    pages = _pages(lambda token: store.search_skills(max_results=SEARCH_PAGE, page_token=token))
    return iter(sorted((key, key) for key in map(_skill_key, pages)))


def _find_skill(stores: Stores, key: str) -> str | None:
    return key if key in _skills_by_key(stores, [key]) else None


# -- the table --------------------------------------------------------------------------
def _rows() -> tuple[ResourceType, ...]:
    model_lookup, model_search, model_find = _models(prompts=False)
    prompt_lookup, prompt_search, prompt_find = _models(prompts=True)

    def gateway(name: str, singular: str, plural: str, listing) -> ResourceType:
        lookup, search, find = _listed(listing)
        return ResourceType(name, singular, plural, BY_ID, lookup, search, find)

    mcp_lookup, mcp_search, mcp_find = _listed(_mcp_servers)
    return (
        ResourceType(
            "experiment",
            "experiment",
            "experiments",
            BY_ID,
            _experiments_by_id,
            _experiment_rows,
            _find_experiment,
            id_shape=re.compile(r"\d+"),  # any digits: validate_fields refuses non-ASCII ones
            unknown_as="experiment with id or name",
        ),
        ResourceType(
            "registered_model",
            "registered model",
            "registered models",
            BY_NAME,
            model_lookup,
            model_search,
            model_find,
        ),
        ResourceType(
            "prompt", "prompt", "prompts", BY_NAME, prompt_lookup, prompt_search, prompt_find
        ),
        ResourceType("scorer", "scorer", "scorers", BY_COMPOSITE_KEY, _scorers),
        gateway(
            "gateway_secret",
            "gateway secret",
            "gateway secrets",
            lambda store: {s.secret_id: s.secret_name for s in store.list_secret_infos()},
        ),
        gateway(
            "gateway_endpoint",
            "gateway endpoint",
            "gateway endpoints",
            lambda store: {e.endpoint_id: e.name for e in store.list_gateway_endpoints()},
        ),
        gateway(
            "gateway_model_definition",
            "gateway model definition",
            "gateway model definitions",
            lambda store: {
                d.model_definition_id: d.name for d in store.list_gateway_model_definitions()
            },
        ),
        ResourceType(
            "mcp_server",
            "MCP server",
            "MCP servers",
            BY_NAME,
            mcp_lookup,
            mcp_search,
            mcp_find,
        ),
        ResourceType(
            "skill",
            "skill",
            "skills",
            BY_NAME,
            _skills_by_key,
            _skill_rows,
            _find_skill,
            normalise=normalise_skill_key,
        ),
        ResourceType(
            "workspace",
            "workspace",
            "workspaces",
            WILDCARD_ONLY,
            everything="the whole workspace",
        ),
    )


#: Every row this module knows, by type name, in the admin form's order.
ROWS: dict[str, ResourceType] = {row.name: row for row in _rows()}


def row(name: str) -> ResourceType:
    """The row of ``name``: its own, else a generic one (whether MLflow accepts the
    type is ``available()``'s question)."""
    return ROWS.get(name) or generic_row(name)


@functools.cache
def available() -> dict[str, ResourceType]:
    """The types MLflow's permission engine accepts on the running release, each with
    its row: the ones this module knows first (its order), then the others by name,
    each a generic row. Whether a grant names one resource or only ``*`` is what
    MLflow's ``TYPE`` says, for known rows too."""
    from mlflow.server.auth.permissions import TYPE, PatternKind

    answer = {}
    for name in [*(n for n in ROWS if n in TYPE), *sorted(set(TYPE) - set(ROWS))]:
        known = ROWS.get(name)
        if known is None:
            known = generic_row(name, BY_ID if PatternKind.ID in TYPE[name] else WILDCARD_ONLY)
        elif PatternKind.ID not in TYPE[name]:
            known = dataclasses.replace(known, keyed_by=WILDCARD_ONLY)  # MLflow's word wins
        answer[name] = known
    return answer
