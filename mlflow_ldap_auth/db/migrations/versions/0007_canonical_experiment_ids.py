"""Group mappings on experiment ids stored as MLflow matches them ("002" -> "2").

Before mapping patterns were checked, a mapping on experiment ``"002"`` was stored as
typed: MLflow 3.17 compares it with ``"2"`` and never matches, 3.18 compares it with the
canonical id and never matches either. This rewrites such grants of the plugin's own
roles (``ldap-group:<uuid>``; MLflow's other roles are never touched) to the form MLflow
matches on, so they grant what they say. Where the role holds the canonical grant (or
several spellings of it) already, one grant stays: the one MLflow's fold would give had
they all matched (``DENY`` wins, else the strongest); it keeps its mapping id, the
others are deleted. A pattern that names no experiment (``"2.0"``, a name) cannot be
rewritten: it is logged, left in place and listed as a mapping to delete by hand.

Revision ID: 0007_canonical_experiment_ids
Revises: 0006_token_owners
Create Date: 2026-12-06
"""

import logging
from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from mlflow_ldap_auth.auth.access import MANAGED_ROLE_PREFIX
from mlflow_ldap_auth.mlflow_compat.mlflow_tables import role_permissions, roles
from mlflow_ldap_auth.mlflow_compat.rules import canonical_pattern_spelling

revision = "0007_canonical_experiment_ids"
down_revision = "0006_token_owners"
branch_labels = None
depends_on = None

_logger = logging.getLogger("mlflow_ldap_auth.db.migrations")

#: The types whose patterns hold an experiment id (a scorer's: ``<experiment_id>/<name>``).
_TYPES = ("experiment", "scorer")
#: MLflow's precedence when this revision was written (``DENY`` is handled first).
_PRIORITY = {"NO_PERMISSIONS": 0, "READ": 1, "USE": 2, "EDIT": 3, "MANAGE": 4}


def _kept(grants: list[sa.Row]) -> sa.Row:
    """The grant MLflow's fold gives of several on one resource: DENY, else the strongest
    (the lowest id among equals, so the oldest mapping id stays)."""
    return min(
        grants,
        key=lambda g: (g.permission != "DENY", -_PRIORITY.get(g.permission, 0), g.id),
    )


def upgrade():
    connection = op.get_bind()
    inspector = sa.inspect(connection)
    if not (inspector.has_table("roles") and inspector.has_table("role_permissions")):
        return  # MLflow's tables are not there yet: no grant to rewrite
    grants = connection.execute(
        sa.select(
            role_permissions.c.id,
            role_permissions.c.role_id,
            role_permissions.c.resource_type,
            role_permissions.c.resource_pattern,
            role_permissions.c.permission,
            roles.c.name,
        )
        .join(roles, roles.c.id == role_permissions.c.role_id)
        .where(
            roles.c.name.startswith(MANAGED_ROLE_PREFIX, autoescape=True),
            role_permissions.c.resource_type.in_(_TYPES),
            role_permissions.c.resource_pattern != "*",
        )
        .order_by(role_permissions.c.id)
    ).all()
    same_resource = defaultdict(list)
    for grant in grants:
        canonical = canonical_pattern_spelling(grant.resource_pattern, grant.resource_type)
        if canonical is None:
            _logger.warning(
                "group mapping grant-%s (role %s) on %s %r names no experiment and grants "
                "nothing: delete it",
                grant.id,
                grant.name,
                grant.resource_type,
                grant.resource_pattern,
            )
            continue
        same_resource[(grant.role_id, grant.resource_type, canonical)].append(grant)
    for (_, resource_type, canonical), found in same_resource.items():
        if [g.resource_pattern for g in found] == [canonical]:
            continue
        kept = _kept(found)
        dropped = [g.id for g in found if g.id != kept.id]
        if dropped:
            connection.execute(role_permissions.delete().where(role_permissions.c.id.in_(dropped)))
        connection.execute(
            role_permissions.update()
            .where(role_permissions.c.id == kept.id)
            .values(resource_pattern=canonical)
        )
        _logger.warning(
            "group mapping grant-%s (role %s): %s %s stored as %r, was %s%s",
            kept.id,
            kept.name,
            resource_type,
            kept.permission,
            canonical,
            ", ".join(f"{g.resource_pattern!r} {g.permission}" for g in found),
            f"; merged away: {', '.join(f'grant-{i}' for i in dropped)}" if dropped else "",
        )


def downgrade():
    pass  # the old spellings granted nothing: there is nothing to restore
