"""A worker of ``mlflow server`` builds MLflow's stores as it starts, not at a request."""

from __future__ import annotations

import logging

import pytest
from mlflow.server import handlers

from mlflow_ldap_auth.mlflow_compat import server_process


@pytest.fixture
def builds(monkeypatch) -> list[str]:
    built: list[str] = []
    monkeypatch.setattr(handlers, "_get_tracking_store", lambda: built.append("tracking"))
    monkeypatch.setattr(handlers, "_get_model_registry_store", lambda: built.append("registry"))
    return built


def test_a_worker_builds_the_tracking_and_registry_stores(monkeypatch, builds):
    monkeypatch.setenv(server_process.BACKEND_STORE_ENV, "sqlite:///mlflow.db")
    server_process.open_server_stores()
    assert builds == ["tracking", "registry"]


def test_outside_mlflow_server_no_store_is_built(monkeypatch, builds):
    # Without the server's backend URI MLflow would make a store of its default (./mlruns).
    monkeypatch.delenv(server_process.BACKEND_STORE_ENV, raising=False)
    server_process.open_server_stores()
    assert builds == []


def test_a_store_that_cannot_be_built_is_left_to_the_first_request(monkeypatch, caplog):
    built: list[str] = []

    def unreachable():
        raise OSError("database unreachable")

    monkeypatch.setenv(server_process.BACKEND_STORE_ENV, "postgresql://db.invalid/mlflow")
    monkeypatch.setattr(handlers, "_get_tracking_store", unreachable)
    monkeypatch.setattr(handlers, "_get_model_registry_store", lambda: built.append("registry"))
    with caplog.at_level(logging.WARNING, logger=server_process.__name__):
        server_process.open_server_stores()
    assert built == ["registry"]
    assert "database unreachable" in caplog.text
