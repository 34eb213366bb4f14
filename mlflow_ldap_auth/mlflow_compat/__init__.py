"""The one boundary to MLflow: every private MLflow name the plugin relies on lives here."""
