"""Experiment ids in grants and requests, spelled the way MLflow matches them.

An experiment pattern is stored as the id MLflow reads (``"007"`` and ``"+7"`` are
``"7"``), and a request that names an experiment in another spelling is told apart
(``misspelled_experiment_id``, for ``web.experiment_id_guard`` on MLflow 3.17). Kept
apart from the permission checks because most of it is pure (the migration
``0007_canonical_experiment_ids`` asks ``canonical_pattern_spelling`` without MLflow's
auth module). Callers import these through ``rules``.
"""

from __future__ import annotations

import math
import re

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from mlflow_ldap_auth.mlflow_compat.permission_checks import _permissions_module

EXPERIMENT = "experiment"
SCORER = "scorer"
#: The largest experiment id a tracking store can hold (its id column is an integer of at
#: most 64 bits); a larger number names no experiment anywhere.
MAX_EXPERIMENT_ID = 2**63 - 1
#: An experiment id as an operator types it: ASCII digits, maybe zero-padded or with a
#: ``+``. Python's ``int()`` (MLflow's reader) also takes ``_`` separators and non-ASCII
#: digits ("\uff12"): those are refused, so a stored pattern always reads as what it grants.
_EXPERIMENT_ID_TEXT = re.compile(r"\+?[0-9]+", re.ASCII)


def _invalid(message: str) -> MlflowException:
    return MlflowException(message, INVALID_PARAMETER_VALUE)


def _experiment_id_spelling(text: str) -> str | None:
    """``text`` as the experiment id MLflow reads it (``"007"`` -> ``"7"``); None when it
    is no experiment id (a name, ``"2.0"``, ``"-2"``, a number beyond any id)."""
    if not _EXPERIMENT_ID_TEXT.fullmatch(text):
        return None
    digits = text.lstrip("+").lstrip("0") or "0"
    if len(digits) > len(str(MAX_EXPERIMENT_ID)) or int(digits) > MAX_EXPERIMENT_ID:
        return None
    return digits


def canonical_pattern_spelling(resource_pattern: str, resource_type: str) -> str | None:
    """The form MLflow stores and matches ``resource_pattern`` in; None when it cannot
    name a resource of ``resource_type``.

    Pure (MLflow is not imported): the database migration that rewrites grants stored
    before patterns were checked asks here too. An experiment pattern is an experiment
    id, ``"007"`` and ``"+7"`` are ``"7"``; a scorer pattern ``<experiment_id>/<name>``
    gets the same for its experiment part; ``*`` and other types stay as they are.
    """
    if resource_pattern == "*":
        return resource_pattern
    if resource_type == EXPERIMENT:
        return _experiment_id_spelling(resource_pattern)
    if resource_type == SCORER:
        experiment_id, slash, name = resource_pattern.partition("/")
        canonical = _experiment_id_spelling(experiment_id)
        if not slash or not name or canonical is None:
            return None
        return f"{canonical}/{name}"
    return resource_pattern


def canonical_resource_pattern(resource_pattern: str, resource_type: str) -> str:
    """``resource_pattern`` in the form MLflow stores grants in and matches requests on.

    MLflow 3.18 reads ``"007"``, ``"+7"`` as experiment 7 and stores such a grant as
    ``"7"``; 3.17 stores what it is given and then never matches it. Both get ``"7"``
    here (``canonical_pattern_spelling``, then MLflow's ``canonical_resource_id`` where
    the release has it). Text that names no experiment (a name, ``"2.0"``, ``"0x2"``,
    ``"-2"``, non-ASCII digits, a number beyond any id) is ``MlflowException`` 400:
    stored, it would grant nothing.
    """
    canonical = canonical_pattern_spelling(resource_pattern, resource_type)
    if canonical is None:
        shown = resource_pattern if len(resource_pattern) <= 40 else resource_pattern[:40] + "..."
        if resource_type == SCORER:
            expected = "'<experiment_id>/<scorer name>'"
        else:
            expected = "an experiment id (digits, e.g. '42'), not a name,"
        raise _invalid(
            f"resource_pattern of {resource_type} must be {expected} or '*', got {shown!r} "
            f"(an experiment id is at most {MAX_EXPERIMENT_ID})"
        )
    if canonical == "*" or resource_type not in (EXPERIMENT, SCORER):
        return canonical
    mlflow_canonical = getattr(_permissions_module(), "canonical_resource_id", None)
    return canonical if mlflow_canonical is None else mlflow_canonical(resource_type, canonical)


def request_ids_canonicalised() -> bool:
    """Does MLflow's permission check read an experiment id in a request the way its
    tracking store does (``"02"``, ``"+2"`` as experiment 2)? Since 3.18
    (``canonical_resource_id``); 3.17 compares the id as spelled, so a grant or a DENY
    on ``"2"`` does not apply to a request for ``"02"`` that the store serves as 2."""
    return hasattr(_permissions_module(), "canonical_resource_id")


def misspelled_experiment_id(value: object) -> bool:
    """Does a request name an experiment by ``value`` in another spelling than the one
    grants are matched on?

    Pure. True for text Python's ``int()`` (the SQL tracking store's reader) reads as
    another number than the text itself (``"02"``, ``"+2"``, ``" 2"``, ``"1_0"``,
    full-width digits, ``"-0"``), for other numeric text (``"2.0"``, ``"2e0"``: MLflow
    refuses them itself today; a database's own conversion would read them as 2) and for
    a JSON number or boolean where MLflow expects the id as a string. False for an id as
    MLflow writes it (``"2"``), for text that names no experiment (``"abc"``, ``"nan"``;
    ``"-2"`` stays ``"-2"``), for an empty value (MLflow's checks read it as "no
    experiment") and for anything else (MLflow refuses it itself).
    """
    if isinstance(value, (bool, int, float)):
        return True
    if not isinstance(value, str) or not value:
        return False
    try:
        return str(int(value)) != value
    except ValueError:
        pass
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False
