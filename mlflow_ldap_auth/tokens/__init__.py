"""Personal access tokens for pipelines (docs/tokens.md): format, store, request check, service."""
