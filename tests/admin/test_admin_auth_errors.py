"""Authentication, the error shape, and bad input never turning into a 500."""

from __future__ import annotations

import httpx
import pytest

from .helpers import assert_error, unique

ROUTES = [
    ("GET", "/api/channels"), ("POST", "/api/channels"), ("GET", "/api/channels/1"),
    ("PATCH", "/api/channels/1"), ("DELETE", "/api/channels/1"), ("POST", "/api/channels/1/test"),
    ("GET", "/api/users"), ("POST", "/api/users"), ("GET", "/api/users/1"), ("PATCH", "/api/users/1"),
    ("DELETE", "/api/users/1"), ("GET", "/api/keys"), ("POST", "/api/keys"), ("GET", "/api/keys/1"),
    ("PATCH", "/api/keys/1"), ("DELETE", "/api/keys/1"), ("GET", "/api/prices"),
    ("PUT", "/api/prices/gpt-4o"), ("GET", "/api/prices/gpt-4o"), ("DELETE", "/api/prices/gpt-4o"),
    ("GET", "/api/logs"), ("GET", "/api/usage"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_requires_the_admin_key(anon: httpx.Client, method: str, path: str) -> None:
    err = assert_error(anon.request(method, path, json={}), 401, "authentication_error")
    assert "admin-test-key" not in err["message"]
    wrong = anon.request(method, path, json={}, headers={"Authorization": "Bearer not-the-key"})
    assert_error(wrong, 401, "authentication_error")


def test_wrong_schemes_and_tokens_are_refused(anon: httpx.Client) -> None:
    for header in ("admin-test-key", "Basic admin-test-key", "Bearer", "Bearer admin-test-keyX",
                   "Bearer ADMIN-TEST-KEY"):
        resp = anon.get("/api/users", headers={"Authorization": header})
        assert_error(resp, 401, "authentication_error")
        assert resp.headers.get("www-authenticate", "").lower().startswith("bearer")


def test_a_user_api_key_never_authorises_admin_routes(client: httpx.Client, anon: httpx.Client) -> None:
    user = client.post("/api/users", json={"name": unique("u"), "balance": "1.00"}).json()
    secret = client.post("/api/keys", json={"user_id": user["id"]}).json()["key"]
    assert secret.startswith("sk-")
    assert_error(anon.get("/api/users", headers={"Authorization": f"Bearer {secret}"}), 401,
                 "authentication_error")
    assert_error(anon.post("/api/users", json={"name": "x"}, headers={"Authorization": f"Bearer {secret}"}),
                 401, "authentication_error")


def test_docs_and_schema_are_served(anon: httpx.Client) -> None:
    schema = anon.get("/api/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/channels", "/api/users/{user_id}", "/api/keys", "/api/prices/{model}", "/api/logs",
                 "/api/usage"):
        assert path in paths
    docs = anon.get("/api/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_malformed_json_is_a_400(client: httpx.Client) -> None:
    for body in (b'{"name": ', b"not json", b'{"name": "x",}'):
        resp = client.post("/api/users", content=body, headers={"Content-Type": "application/json"})
        err = assert_error(resp, 400, "invalid_request_error")
        assert "json" in err["message"].lower()


@pytest.mark.parametrize("body", [b"", b"[]", b'"text"', b"42", b"null"])
def test_a_body_that_is_not_an_object_is_a_400(client: httpx.Client, body: bytes) -> None:
    resp = client.post("/api/users", content=body, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "invalid_request_error")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/users", {"name": 123}, "name"),
    ("/api/users", {"name": "x", "balance": "ten"}, "balance"),
    ("/api/users", {"name": "x", "balance": "-1"}, "balance"),
    ("/api/users", {"name": "x", "balance": True}, "balance"),
    ("/api/users", {"name": "x", "balance": "NaN"}, "balance"),
    ("/api/users", {"name": ""}, "name"),
    ("/api/users", {"name": "x" * 129}, "name"),
    ("/api/users", {"name": "a\u0000b"}, "name"),
    ("/api/users", {"name": "x", "enabled": "maybe"}, "enabled"),
    ("/api/users", {"name": "x", "balanse": "1.00"}, "balanse"),
    ("/api/users", {}, "name"),
    ("/api/channels", {"name": "c", "type": "nosuch", "base_url": "https://h/v1"}, "type"),
    ("/api/channels", {"name": "c", "type": "openai"}, "base_url"),
    ("/api/channels", {"name": "c", "type": "openai", "base_url": "ftp://h"}, "base_url"),
    ("/api/channels", {"name": "c", "type": "openai", "base_url": "https://h", "priority": "high"},
     "priority"),
    ("/api/channels", {"name": "c", "type": "openai", "base_url": "https://h", "priority": 2**40},
     "priority"),
    ("/api/channels", {"name": "c", "type": "openai", "base_url": "https://h", "keys": "sk-1"}, "keys"),
    ("/api/channels", {"name": "c", "type": "openai", "base_url": "https://h", "weight": -1}, "weight"),
    ("/api/channels", {"name": "c", "type": "openai", "base_url": "https://h", "timeout_s": 0},
     "timeout_s"),
    ("/api/channels", {"name": "c", "type": "openai", "base_url": "https://h", "config": []}, "config"),
    ("/api/channels", {"name": "c", "type": "openai", "base_url": "https://h", "status": "auto_disabled"},
     "status"),
    ("/api/keys", {"user_id": "abc"}, "user_id"),
    ("/api/keys", {"user_id": 1, "allowed_ips": ["10.0.0.0/33"]}, "allowed_ips[0]"),
    ("/api/keys", {"user_id": 1, "allowed_ips": ["1.2.3.4", "not-an-ip"]}, "allowed_ips[1]"),
    ("/api/keys", {"user_id": 1, "budget": "1.0.0"}, "budget"),
    ("/api/keys", {"user_id": 1, "expires_at": "next tuesday"}, "expires_at"),
    ("/api/keys", {"user_id": 1, "models": "gpt-4o"}, "models"),
])
def test_validation_errors_are_400_naming_the_field(client: httpx.Client, path: str, body: dict,
                                                    field: str) -> None:
    err = assert_error(client.post(path, json=body), 400, "invalid_request_error")
    assert field in err["message"], err
    assert err["param"] == field, err


def test_nan_is_refused_everywhere(client: httpx.Client) -> None:
    body = b'{"name": "c", "type": "openai", "base_url": "https://h", "config": {"x": NaN}}'
    resp = client.post("/api/channels", content=body, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "invalid_request_error")
    body = b'{"name": "c", "type": "openai", "base_url": "https://h", "timeout_s": Infinity}'
    resp = client.post("/api/channels", content=body, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "invalid_request_error")


@pytest.mark.parametrize("path", ["/api/users/999999", "/api/keys/999999", "/api/channels/999999",
                                  "/api/users/99999999999999", "/api/prices/no-such-model"])
def test_unknown_ids_are_404(client: httpx.Client, path: str) -> None:
    assert_error(client.get(path), 404, "not_found_error")
    assert_error(client.delete(path), 404, "not_found_error")
    if not path.startswith("/api/prices"):
        assert_error(client.patch(path, json={"name": "x"}), 404, "not_found_error")


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert_error(client.get("/api/nothing-here"), 404, "not_found_error")
    assert_error(client.put("/api/users"), 405)


def test_non_numeric_id_is_a_client_error(client: httpx.Client) -> None:
    resp = client.get("/api/users/abc")
    assert_error(resp, 400, "invalid_request_error")


WEIRD: list[object] = [None, True, -1, 0, 2**63, 1e308, -1e-9, "", "x" * 5000, "\u0000", [], {}, ["\u0000"],
                       {"a": None}, "2030-01-01T00:00:00Z", "10.0.0.0/8"]
FIELDS = {
    "/api/channels": ["name", "type", "base_url", "keys", "models", "model_mapping", "group", "priority",
                      "weight", "config", "timeout_s", "enabled", "status"],
    "/api/users": ["name", "group", "balance", "enabled"],
    "/api/keys": ["user_id", "name", "models", "budget", "expires_at", "allowed_ips", "enabled"],
}


@pytest.mark.parametrize("path", list(FIELDS))
def test_weird_values_never_cause_a_server_error(client: httpx.Client, path: str) -> None:
    user = client.post("/api/users", json={"name": unique("weird")}).json()
    base = {"/api/channels": {"name": "w", "type": "openai", "base_url": "https://h/v1"},
            "/api/users": {"name": "w"}, "/api/keys": {"user_id": user["id"]}}[path]
    created = client.post(path, json=base)
    assert created.status_code == 201, created.text
    item = f"{path}/{created.json()['id']}"
    for field in FIELDS[path]:
        for value in WEIRD:
            for resp in (client.post(path, json={**base, field: value}), client.patch(item, json={field: value})):
                assert resp.status_code < 500, (field, value, resp.text)
                if resp.status_code >= 400:
                    assert_error(resp, resp.status_code)
    for value in WEIRD:
        for field in ("input", "output", "per_request", "cache_read", "max_output_tokens"):
            resp = client.put("/api/prices/weird-model", json={field: value})
            assert resp.status_code in (200, 400), (field, value, resp.text)
    for params in ({"since": "9999-12-31T23:59:59"}, {"until": "1e300"}, {"model": "\u0000"},
                   {"user_id": 2**40}, {"since": "0001-01-01"}, {"limit": 2**70}):
        for route in ("/api/logs", "/api/usage"):
            resp = client.get(route, params=params)
            assert resp.status_code in (200, 400), (route, params, resp.text)
