"""What a refused rename says, and which names it looks at (``web.rename_guard``)."""

from mlflow_ldap_auth.auth.access import Mapping
from mlflow_ldap_auth.mlflow_compat.rename_routes import Rename
from mlflow_ldap_auth.web.rename_guard import names_touched, refusal_message

DS = "cn=data-science,ou=groups,dc=example,dc=org"
USERS = "cn=mlflow-users,ou=groups,dc=example,dc=org"


def mapping(mapping_id, group, resource_type, pattern, permission="READ") -> Mapping:
    return Mapping(
        id=mapping_id,
        group=group,
        group_uuid="e880ee60-85f8-1041-8769-07c7ca8613bc",
        group_name=None,
        resource_type=resource_type,
        resource_pattern=pattern,
        permission=permission,
        workspace="default",
    )


MAPPINGS = [
    mapping("grant-7", DS, "registered_model", "Churn", "EDIT"),
    mapping("grant-9", USERS, "prompt", "churn-v2"),
]


def test_the_registrys_spelling_of_the_old_name_is_looked_at_too():
    assert names_touched(Rename("churn", "churn-v2"), "Churn") == {"churn", "Churn", "churn-v2"}
    assert names_touched(Rename("churn", "churn-v2"), None) == {"churn", "churn-v2"}
    assert names_touched(Rename("Churn", "churn"), "Churn") == {"Churn", "churn"}


def test_an_admin_reads_each_mapping_and_what_to_do():
    message = refusal_message(Rename("Churn", "churn-v2"), MAPPINGS, for_admin=True)
    assert message.startswith("Cannot rename 'Churn' to 'churn-v2'")
    for text in (DS, "grant-7", "EDIT on registered_model 'Churn'", USERS, "grant-9"):
        assert text in message, message
    assert "Edit or delete those mappings" in message
    assert "ldap-group" not in message and "e880ee60" not in message


def test_anyone_else_reads_that_mappings_hold_the_name_and_whom_to_ask():
    message = refusal_message(Rename("Churn", "churn-v2"), MAPPINGS, for_admin=False)
    assert "group mappings hold 'Churn' and 'churn-v2'" in message, message
    assert "Ask an MLflow admin" in message
    for hidden in (DS, USERS, "grant-7", "grant-9", "ldap-group", "e880ee60"):
        assert hidden not in message, message
