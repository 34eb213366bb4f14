"""Browser sessions: the secret format and the table.

Audit records: docs/reference/audit.md#sessions.
"""
