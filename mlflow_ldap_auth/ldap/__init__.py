"""The directory: LDAP servers, binds, user lookup and group resolution (no Flask, no MLflow)."""
