"""The per-route memories on the request path are bounded in bytes, not only entries."""

from __future__ import annotations

from mlflow_ldap_auth.mlflow_compat.path_memo import MAX_KEY_CHARS, remembered_by_route


def test_a_route_is_answered_once_and_then_from_memory():
    calls = []
    answer = remembered_by_route(lambda path, method: calls.append(path) or len(path))
    assert [answer("/api/2.0/mlflow/runs/get", "GET") for _ in range(3)] == [24] * 3
    assert calls == ["/api/2.0/mlflow/runs/get"]


def test_a_client_sending_long_paths_fills_no_memory():
    """4,096 paths of 16 KiB would be 64 MB per memory; a long path is answered each
    time and never kept."""
    calls = []
    answer = remembered_by_route(lambda path, method: calls.append(path) or True, max_size=4096)
    for number in range(50):
        path = f"/api/2.0/mlflow/{number}/" + "x" * 16_000
        assert answer(path, "GET") is True
        assert answer(path, "GET") is True
    assert len(calls) == 100
    assert answer.cache_info().currsize == 0
    at_bound = "/" + "y" * (MAX_KEY_CHARS - len("GET") - 1)
    answer(at_bound, "GET")
    answer(at_bound, "GET")
    assert answer.cache_info().currsize == 1
    assert len(calls) == 101


def test_every_per_route_memory_on_the_request_path_is_bounded_in_bytes():
    """Each of them goes through ``remembered_by_route`` (no bare ``lru_cache`` keyed by a
    client's path)."""
    import inspect

    from mlflow_ldap_auth.mlflow_compat import after_request_routes, bridge, permission_middleware
    from mlflow_ldap_auth.web import preauth

    for module in (after_request_routes, bridge, permission_middleware, preauth):
        source = inspect.getsource(module)
        assert "remembered_by_route(" in source or "@remembered_by_route" in source, module
        assert "lru_cache" not in source, module
