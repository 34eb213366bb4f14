"""HTTP: request authentication, answers, the admin guard, the REST API and the admin page."""
