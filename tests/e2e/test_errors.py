"""Every refusal comes back in OpenAI's error shape with the status the SDK expects."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.gateway import Gateway, unique_model

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture()
def setup(gateway: Gateway, sim):  # type: ignore[no-untyped-def]
    model = unique_model()
    channel = gateway.channel(sim.base_url, [model])
    gateway.price(model)
    user, key = gateway.funded_key("10.00")
    return gateway, model, user, key, channel


def _error(resp: httpx.Response) -> dict:
    body = resp.json()
    assert set(body["error"]) >= {"message", "type", "param", "code"}, body
    return body["error"]


def test_bad_key_is_401(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, *_ = setup
    with pytest.raises(openai.AuthenticationError) as exc:
        gw.client("sk-wrong").chat.completions.create(model=model, messages=HI)
    assert exc.value.status_code == 401 and exc.value.code == "invalid_api_key"
    resp = httpx.post(f"{gw.url}/v1/chat/completions", json={"model": model, "messages": HI})
    assert resp.status_code == 401 and _error(resp)["code"] == "invalid_api_key"


def test_disabled_and_expired_keys_are_401(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, _ = setup
    gw.api("PATCH", f"/api/keys/{key['id']}", json={"enabled": False})
    with pytest.raises(openai.AuthenticationError):
        gw.client(key["key"]).chat.completions.create(model=model, messages=HI)
    expired = gw.key(user["id"], expires_at="2020-01-01T00:00:00Z")
    with pytest.raises(openai.AuthenticationError) as exc:
        gw.client(expired["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.code == "key_expired"


def test_model_not_allowed_for_key_is_403(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, _key, _ = setup
    narrow = gw.key(user["id"], models=["some-other-model"])
    with pytest.raises(openai.PermissionDeniedError) as exc:
        gw.client(narrow["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.code == "model_not_allowed"


def test_ip_allowlist_is_403_from_elsewhere(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, _key, _ = setup
    remote_only = gw.key(user["id"], allowed_ips=["10.0.0.0/8"])
    with pytest.raises(openai.PermissionDeniedError) as exc:
        gw.client(remote_only["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.code == "ip_not_allowed"
    local = gw.key(user["id"], allowed_ips=["127.0.0.1/32"])
    assert gw.client(local["key"]).chat.completions.create(model=model, messages=HI).choices


def test_insufficient_balance_and_key_budget_are_403_insufficient_quota(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, _key, _ = setup
    _poor, poor_key = gw.funded_key("0.000001")
    with pytest.raises(openai.PermissionDeniedError) as exc:
        gw.client(poor_key["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.code == "insufficient_quota" and exc.value.type == "insufficient_quota"
    rich, _ = gw.funded_key("100.00")
    tight = gw.key(rich["id"], budget="0.000010")
    with pytest.raises(openai.PermissionDeniedError) as exc:
        gw.client(tight["key"]).chat.completions.create(model=model, messages=HI, max_tokens=100)
    assert exc.value.code == "insufficient_quota"


def test_unknown_model_is_404(setup) -> None:  # type: ignore[no-untyped-def]
    gw, _model, _user, key, _ = setup
    with pytest.raises(openai.NotFoundError) as exc:
        gw.client(key["key"]).chat.completions.create(model="no-such-model", messages=HI)
    assert exc.value.code == "model_not_found"


def test_unpriced_model_is_403(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model])
    _user, key = gateway.funded_key()
    with pytest.raises(openai.PermissionDeniedError) as exc:
        gateway.client(key["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.code == "model_not_priced"


@pytest.mark.parametrize(("body", "param"), [
    (b"{not json", None),
    (b"\xff\xfe\x00garbage", None),
    (b"[1, 2, 3]", None),
    (b'{"messages": [{"role": "user", "content": "hi"}]}', "model"),
    (b'{"model": "MODEL"}', "messages"),
    (b'{"model": "MODEL", "messages": []}', "messages"),
    (b'{"model": "MODEL", "messages": ["hi"]}', "messages[0]"),
    (b'{"model": "MODEL", "messages": [{"role": "user", "content": "hi"}], "n": "two"}', "n"),
    (b'{"model": "MODEL", "messages": [{"role": "user", "content": "hi"}], "max_tokens": -5}', "max_tokens"),
    (b'{"model": "MODEL", "messages": [{"role": "user", "content": "hi"}], "n": 100000}', "n"),
    (b'{"model": "MODEL", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', "stream"),
    (b'{"model": "MODEL", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1e309}', None),
    (b"[" * 5000 + b"]" * 5000, None),
])
def test_malformed_bodies_are_400_never_500(setup, body: bytes, param: str | None) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = setup
    resp = httpx.post(f"{gw.url}/v1/chat/completions", content=body.replace(b"MODEL", model.encode()),
                      headers={"Authorization": f"Bearer {key['key']}", "Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    err = _error(resp)
    assert err["type"] == "invalid_request_error" and "Traceback" not in resp.text
    if param:
        assert err["param"] == param


def test_oversized_body_is_413(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = setup
    huge = "x" * (9 * 1024 * 1024)
    resp = httpx.post(f"{gw.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key['key']}"},
                      json={"model": model, "messages": [{"role": "user", "content": huge}]}, timeout=30)
    assert resp.status_code == 413 and _error(resp)["code"] == "request_too_large"


def test_wrong_method_and_unknown_endpoint(setup) -> None:  # type: ignore[no-untyped-def]
    gw, _model, _user, key, _ = setup
    auth = {"Authorization": f"Bearer {key['key']}"}
    assert httpx.get(f"{gw.url}/v1/chat/completions", headers=auth).status_code == 405
    resp = httpx.post(f"{gw.url}/v1/no/such/thing", headers=auth, json={})
    assert resp.status_code == 404 and _error(resp)["code"] == "unknown_url"


def test_upstream_429_after_failover_is_exhausted(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, _ = setup
    sim.knobs.fail_next = 10
    sim.knobs.fail_status = 429
    sim.knobs.retry_after = 7
    with pytest.raises(openai.RateLimitError) as exc:
        gw.client(key["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.status_code == 429
    assert exc.value.response.headers.get("retry-after") == "7"
    [rec] = gw.logs(key_id=key["id"])
    assert rec["status_code"] == 429 and rec["cost"] in ("0", "0.00", "0.0")


def test_upstream_5xx_is_returned_and_not_billed(setup, sim) -> None:  # type: ignore[no-untyped-def]
    gw, model, user, key, _ = setup
    sim.knobs.fail_next = 10
    sim.knobs.fail_status = 500
    with pytest.raises(openai.InternalServerError) as exc:
        gw.client(key["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.status_code == 500
    assert gw.get_user(user["id"])["balance"] in ("10.00", "10")


def test_no_enabled_channel_is_503(setup) -> None:  # type: ignore[no-untyped-def]
    gw, model, _user, key, channel = setup
    gw.api("PATCH", f"/api/channels/{channel['id']}", json={"status": "disabled"})
    with pytest.raises(openai.InternalServerError) as exc:
        gw.client(key["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.status_code == 503 and exc.value.code == "no_available_channel"


def test_bad_channel_credentials_never_look_like_a_bad_caller_key(gateway: Gateway, sim) -> None:  # type: ignore[no-untyped-def]
    model = unique_model()
    gateway.channel(sim.base_url, [model], keys=["sk-not-accepted-upstream"])
    gateway.price(model)
    _user, key = gateway.funded_key()
    with pytest.raises(openai.APIStatusError) as exc:
        gateway.client(key["key"]).chat.completions.create(model=model, messages=HI)
    assert exc.value.status_code == 502 and exc.value.code == "upstream_auth_failed"
