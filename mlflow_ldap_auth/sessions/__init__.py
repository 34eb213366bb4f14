"""Browser sessions: the secret format, the table, the per-request check, the endings.

Audit records: docs/reference/audit.md#sessions.
"""
