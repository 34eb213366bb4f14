"""flask-wtf forms of the admin page. Field-level checks use MLflow's own rules."""

from __future__ import annotations

from flask_wtf import FlaskForm
from mlflow.exceptions import MlflowException
from mlflow.server.auth.permissions import (
    VALID_RESOURCE_TYPES,
    _validate_permission_for_resource_type,
    _validate_resource_pattern,
)
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from mlflow_ldap_auth.auth.access import ADMIN_RESOURCE_TYPE
from mlflow_ldap_auth.ldap.dn import is_valid_dn

# Concrete resource types first, then sub-resources (wildcard only), workspace, admin.
_FIRST = [
    "experiment",
    "registered_model",
    "prompt",
    "scorer",
    "gateway_secret",
    "gateway_endpoint",
    "gateway_model_definition",
    "mcp_server",
]
RESOURCE_TYPE_CHOICES = (
    [(t, t) for t in _FIRST if t in VALID_RESOURCE_TYPES]
    + [(t, f"{t} (* only)") for t in sorted(VALID_RESOURCE_TYPES - set(_FIRST) - {"workspace"})]
    + [("workspace", "workspace (USE / MANAGE)"), (ADMIN_RESOURCE_TYPE, "MLflow admin")]
)
PERMISSION_CHOICES = [(p, p) for p in ("READ", "USE", "EDIT", "MANAGE", "DENY")]


def form_rules() -> dict:
    """Per resource type: the permissions MLflow accepts and whether only ``*`` is allowed.

    Handed to the page (``data-rules``) so the optional script can narrow the selects;
    the server checks the same rules on submit, with or without the script.
    """
    rules = {}
    for resource_type, _ in RESOURCE_TYPE_CHOICES:
        if resource_type == ADMIN_RESOURCE_TYPE:
            rules[resource_type] = {"permissions": ["MANAGE"], "wildcard_only": True}
            continue
        allowed = []
        for permission, _ in PERMISSION_CHOICES:
            try:
                _validate_permission_for_resource_type(permission, resource_type)
                allowed.append(permission)
            except MlflowException:
                pass
        try:
            _validate_resource_pattern("x", resource_type)
            wildcard_only = False
        except MlflowException:
            wildcard_only = True
        rules[resource_type] = {"permissions": allowed, "wildcard_only": wildcard_only}
    return rules


class MappingForm(FlaskForm):
    group = StringField("Group DN", validators=[DataRequired(), Length(max=2048)])
    resource_type = SelectField("Resource type", choices=RESOURCE_TYPE_CHOICES)
    resource_pattern = StringField(
        "Resource pattern", default="*", validators=[DataRequired(), Length(max=512)]
    )
    permission = SelectField("Permission", choices=PERMISSION_CHOICES)
    workspace = StringField("Workspace", default="default", validators=[Length(max=256)])

    def validate_group(self, field) -> None:
        if not is_valid_dn(field.data or ""):
            raise ValidationError("Not a valid DN, e.g. cn=team,ou=groups,dc=example,dc=org")

    def validate_resource_pattern(self, field) -> None:
        if self.resource_type.data == ADMIN_RESOURCE_TYPE:
            if field.data != "*":
                raise ValidationError("An admin mapping takes the pattern *.")
            return
        try:
            _validate_resource_pattern(field.data.strip(), self.resource_type.data)
        except MlflowException as exc:
            raise ValidationError(exc.message) from None

    def validate_permission(self, field) -> None:
        if self.resource_type.data == ADMIN_RESOURCE_TYPE:
            if field.data != "MANAGE":
                raise ValidationError("An admin mapping takes the permission MANAGE.")
            return
        try:
            _validate_permission_for_resource_type(field.data, self.resource_type.data)
        except MlflowException as exc:
            raise ValidationError(exc.message) from None


class ConfirmForm(FlaskForm):
    """Just the CSRF token: delete and flush are POSTs behind a confirmation."""

    confirm = HiddenField(default="yes")
