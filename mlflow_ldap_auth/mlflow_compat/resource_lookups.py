"""How to find resources of each type in MLflow's stores: lookups, searches and finds.

The store functions behind ``resource_types``' rows (``lookup``: many patterns at once
-> name and whether each exists; ``search``: candidate rows for a name search, ordered
by name; ``find``: what an admin typed -> the pattern) for experiments, registered
models and prompts, the types the tracking store lists whole, and scorers; skills are
in ``skill_keys``. Apart from the table so that a store question is changed in one
place and the table stays a list of types.

The store functions use the stores' public methods only (see ``resource_names`` for the
filter grammar's limits, which ``filter_literal`` works around). ``Stores`` hands them the
server's tracking and registry stores; each call runs in the workspace context
``resource_names`` sets.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple
from urllib.parse import unquote

from mlflow.exceptions import MlflowException

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
