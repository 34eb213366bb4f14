"""LDAP / Active Directory authentication for the MLflow tracking server."""

__version__ = "0.4.0"
