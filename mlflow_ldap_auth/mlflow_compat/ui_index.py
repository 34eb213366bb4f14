"""Which of MLflow's answers is its web UI's page (``index.html``).

MLflow's UI is a single-page app with hash routes (``/#/experiments/1``): every page
of it is one answer, the ``index.html`` that MLflow's ``serve`` view sends for
``<static-prefix>/`` with ``send_from_directory``. That is a conditional file answer:
``ETag`` and ``Last-Modified`` of the file, ``Cache-Control: no-cache``, a 304 for a
matching ``If-None-Match``, a 206 for a ``Range``, the body streamed from the file
(``direct_passthrough``). MLflow adds no content-security policy and compresses
nothing at this layer. The view's endpoint name is checked by the contract test.
"""

from __future__ import annotations

#: The Flask endpoint of MLflow's UI page (``mlflow.server.serve``).
INDEX_ENDPOINT = "serve"


def is_ui_page(endpoint: str | None, blueprint: str | None) -> bool:
    """Is the request routed to MLflow's UI page (``request.endpoint`` and ``.blueprint``)?"""
    return endpoint == INDEX_ENDPOINT and blueprint is None
