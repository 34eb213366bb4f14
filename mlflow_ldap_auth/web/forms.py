"""flask-wtf forms of the admin page. Field-level checks use MLflow's own rules."""

from __future__ import annotations

import functools

from flask_wtf import FlaskForm
from mlflow.exceptions import MlflowException
from wtforms import HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE
from mlflow_ldap_auth.ldap.dn import is_valid_dn
from mlflow_ldap_auth.mlflow_compat import resource_types, rules
from mlflow_ldap_auth.mlflow_compat.workspaces import DEFAULT_WORKSPACE

WORKSPACE = "workspace"


@functools.cache
def resource_type_choices() -> list[tuple[str, str]]:
    """Types a grant can name one resource of first, then sub-resources (wildcard only),
    workspace, admin: the registry's order, so a type MLflow adds is offered as it comes.

    Built on first call, not at import: the registry asks MLflow's auth module, which
    must not be imported before ``bridge.import_mlflow_auth`` configured it.
    """
    types = resource_types.available()
    return (
        [(t, t) for t, row in types.items() if row.per_resource]
        + [
            (t, f"{t} (* only)")
            for t, row in types.items()
            if not row.per_resource and t != WORKSPACE
        ]
        + [
            (WORKSPACE, f"workspace ({' / '.join(rules.grantable_permissions(WORKSPACE))})"),
            (ADMIN_RESOURCE_TYPE, "MLflow admin"),
        ]
    )


@functools.cache
def search_choices() -> list[tuple[str, str]]:
    """What the add form's resource search offers: (type, what it finds)."""
    return [(t, row.plural) for t, row in resource_types.available().items() if row.searchable]


@functools.cache
def permission_choices() -> list[tuple[str, str]]:
    return [(p, p) for p in rules.offered_permissions()]


@functools.cache
def access_type_choices() -> list[tuple[str, str]]:
    """What "who has access" asks about: one resource of a type (not a workspace, not admin)."""
    return [
        (t, label)
        for t, label in resource_type_choices()
        if t not in (WORKSPACE, ADMIN_RESOURCE_TYPE)
    ]


def form_rules() -> dict:
    """Per resource type: the permissions MLflow accepts and whether only ``*`` is allowed.

    Handed to the page (``data-rules``) so the optional script can narrow the selects;
    the server checks the same rules on submit, with or without the script.
    """
    answer = {}
    for resource_type, _ in resource_type_choices():
        if resource_type == ADMIN_RESOURCE_TYPE:
            answer[resource_type] = {"permissions": ["MANAGE"], "wildcard_only": True}
            continue
        answer[resource_type] = {
            "permissions": list(rules.grantable_permissions(resource_type)),
            "wildcard_only": rules.wildcard_only(resource_type),
        }
    return answer


class MappingForm(FlaskForm):
    group = StringField("Group DN", validators=[DataRequired(), Length(max=2048)])
    resource_type = SelectField("Resource type")
    resource_pattern = StringField(
        "Resource pattern", default="*", validators=[DataRequired(), Length(max=512)]
    )
    permission = SelectField("Permission")
    workspace = StringField("Workspace", default=DEFAULT_WORKSPACE, validators=[Length(max=256)])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resource_type.choices = resource_type_choices()
        self.permission.choices = permission_choices()

    def validate_group(self, field) -> None:
        if not is_valid_dn(field.data or ""):
            raise ValidationError("Not a valid DN, e.g. cn=team,ou=groups,dc=example,dc=org")

    def validate_resource_pattern(self, field) -> None:
        self._check(field.data.strip(), "*", "the pattern *", rules.check_resource_pattern)

    def validate_permission(self, field) -> None:
        self._check(field.data, "MANAGE", "the permission MANAGE", rules.check_permission)

    def _check(self, value: str, admin_value: str, admin_rule: str, mlflow_check) -> None:
        """An admin mapping's fixed value, or MLflow's own rule for the resource type."""
        if self.resource_type.data == ADMIN_RESOURCE_TYPE:
            if value != admin_value:
                raise ValidationError(f"An admin mapping takes {admin_rule}.")
            return
        try:
            mlflow_check(value, self.resource_type.data)
        except MlflowException as exc:
            raise ValidationError(exc.message) from None


class ConfirmForm(FlaskForm):
    """Just the CSRF token: delete and flush are POSTs behind a confirmation."""

    confirm = HiddenField(default="yes")


class TokenForm(FlaskForm):
    """A new access token; the server checks the same rules as the REST API."""

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    expires_in_days = IntegerField("Expires in (days)", default=90)

    def __init__(self, max_days: int, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.max_days = max_days

    def validate_expires_in_days(self, field) -> None:
        if field.data is None:
            raise ValidationError(f"A whole number of days from 1 to {self.max_days}.")
        NumberRange(min=1, max=self.max_days)(self, field)
