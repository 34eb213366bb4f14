"""Login decisions: access rules, credential cache, lockout, provisioning, group sync, audit."""
