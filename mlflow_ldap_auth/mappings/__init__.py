"""Group mappings: the service behind the REST API and admin page, their store, the file format."""
