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

How each type's resources are found in MLflow's stores is in ``resource_lookups`` (and
``skill_keys`` for skills); this module is the table.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

from mlflow_ldap_auth.mlflow_compat.resource_lookups import (
    PROMPT_FILTER,
    Find,
    Lookup,
    Search,
    Stores,
    _experiment_rows,
    _experiments_by_id,
    _find_experiment,
    _listed,
    _mcp_servers,
    _models,
    _scorers,
    filter_literal,
)
from mlflow_ldap_auth.mlflow_compat.skill_keys import (
    _find_skill,
    _skill_rows,
    _skills_by_key,
    normalise_skill_key,
)

__all__ = [
    "PROMPT_FILTER",
    "ROWS",
    "ResourceType",
    "Stores",
    "available",
    "filter_literal",
    "generic_row",
    "normalise_skill_key",
    "row",
]

WILDCARD = "*"

#: What a grant's pattern holds for one resource.
BY_ID = "id"
BY_NAME = "name"
BY_COMPOSITE_KEY = "composite"
WILDCARD_ONLY = "wildcard"


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
