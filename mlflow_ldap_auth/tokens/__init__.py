"""Personal access tokens for pipelines (SPEC §9): format, store, request check, service."""
