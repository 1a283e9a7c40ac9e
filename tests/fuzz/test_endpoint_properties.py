"""The same breakage as the chat properties, on the rest of the surface: Anthropic's ``/v1/messages``
(errors in Anthropic's shape), DeepL's ``/v2/translate``, the other JSON endpoints, upload forms and
query strings. Every answer is a 2xx or a 4xx in the path's error shape."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import MAX_BODY_BYTES, MODELS, FuzzEnv
from tests.fuzz.harness import check_response, error_of, fuzz_settings
from tests.fuzz.mutations import EDGE_STRINGS, Path, as_parsed, at, encode, is_int_in, replace, values

HI = [{"role": "user", "content": "hi"}]
ANTHROPIC_MESSAGES = [
    {"role": "user", "content": [{"type": "text", "text": "hi"},
                                 {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                              "data": "iVBORw0KGgo="}}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
]
# path -> (a valid body, the places to break it)
ENDPOINTS: dict[str, tuple[dict[str, Any], list[Path]]] = {
    "/v1/messages": (
        {"model": MODELS["chat"], "max_tokens": 16, "messages": ANTHROPIC_MESSAGES, "system": "be brief",
         "tools": [{"name": "f", "input_schema": {"type": "object"}}], "tool_choice": {"type": "auto"},
         "stop_sequences": ["x"], "metadata": {"user_id": "u"}, "temperature": 0.5},
        [("model",), ("max_tokens",), ("messages",), ("stream",), ("system",), ("tools",), ("tools", 0),
         ("tools", 0, "input_schema"), ("tool_choice",), ("tool_choice", "type"), ("stop_sequences",),
         ("metadata",), ("temperature",), ("top_k",), ("thinking",), ("messages", 0), ("messages", 0, "role"),
         ("messages", 0, "content"), ("messages", 0, "content", 0), ("messages", 0, "content", 1, "source"),
         ("messages", 0, "content", 1, "source", "type"), ("messages", 1, "content", 0, "input"),
         ("messages", 1, "content", 0, "name"), ("messages", 2, "content", 0, "content"),
         ("messages", 2, "content", 0, "is_error")]),
    "/v1/messages/count_tokens": (
        {"model": MODELS["chat"], "messages": ANTHROPIC_MESSAGES, "system": "x"},
        [("model",), ("messages",), ("system",), ("tools",), ("messages", 0, "content"),
         ("messages", 1, "content", 0, "input")]),
    "/v1/completions": (
        {"model": MODELS["completions"], "prompt": "say hi", "max_tokens": 8},
        [("model",), ("prompt",), ("suffix",), ("stream",), ("stream_options",), ("n",), ("best_of",),
         ("max_tokens",), ("logprobs",), ("echo",), ("stop",), ("logit_bias",)]),
    "/v1/embeddings": (
        {"model": MODELS["embeddings"], "input": ["hello", "world"]},
        [("model",), ("input",), ("input", 0), ("encoding_format",), ("dimensions",), ("user",)]),
    "/v1/moderations": (
        {"model": MODELS["moderations"], "input": "hello"},
        [("model",), ("input",)]),
    "/v1/images/generations": (
        {"model": MODELS["images"], "prompt": "a cat", "n": 1, "size": "256x256", "response_format": "b64_json"},
        [("model",), ("prompt",), ("n",), ("size",), ("quality",), ("response_format",), ("style",), ("stream",)]),
    "/v1/images/edits": (
        {"model": MODELS["images"], "prompt": "a cat", "n": 1, "images": [{"image_url": "data:image/png;base64,x"}]},
        [("model",), ("prompt",), ("n",), ("size",), ("quality",), ("images",), ("stream",)]),
    "/v1/audio/speech": (
        {"model": MODELS["speech"], "input": "hello", "voice": "alloy"},
        [("model",), ("input",), ("voice",), ("response_format",), ("speed",), ("stream_format",)]),
    "/v1/fine_tuning/jobs": (
        {"model": MODELS["fine_tuning"], "training_file": "file-nope"},
        [("model",), ("training_file",), ("validation_file",), ("hyperparameters",), ("suffix",)]),
    "/v2/translate": (
        {"text": ["hello"], "target_lang": "DE"},
        [("text",), ("text", 0), ("target_lang",), ("source_lang",), ("model",), ("formality",),
         ("show_billed_characters",)]),
}
CASES = [(path, where) for path, (_, wheres) in ENDPOINTS.items() for where in wheres]


def _anthropic_refusal(path: Path, value: Any) -> bool:
    """Values ``/v1/messages`` itself must refuse with a 400."""
    if path == ("model",):
        return not (isinstance(value, str) and value.strip() and len(value) <= 256)
    if path == ("max_tokens",):
        return not is_int_in(value, 1, 10_000_000)
    if path == ("messages",):
        return not (isinstance(value, list) and value)
    if path == ("stream",):
        return value is not None and not isinstance(value, bool)
    if path == ("messages", 0, "role"):
        return value not in ("user", "assistant")
    if path == ("messages", 0, "content"):
        return not isinstance(value, str | list)
    return False


@fuzz_settings(300)
@given(case=st.sampled_from(CASES), value=values)
def test_one_field_replaced(fuzz: FuzzEnv, case: tuple[str, Path], value: Any) -> None:
    endpoint, where = case
    body = replace(ENDPOINTS[endpoint][0], where, value)
    raw = encode(body)
    resp = fuzz.http.post(endpoint, content=raw, headers={"Content-Type": "application/json"})
    check_response(resp, f"{endpoint}: one field replaced")
    assert (resp.status_code == 413) == (len(raw) > MAX_BODY_BYTES), (len(raw), resp.status_code, resp.text[:200])
    parsed = as_parsed(body)
    if resp.status_code != 413 and parsed is None:
        assert resp.status_code == 400, resp.text[:300]
    if endpoint == "/v1/messages" and parsed is not None and resp.status_code != 413 \
            and _anthropic_refusal(where, at(parsed, where)):
        assert resp.status_code == 400, (where, value, resp.text[:300])
        assert error_of(resp)["type"] == "invalid_request_error"


def _form_value(value: Any) -> str:
    return value if isinstance(value, str) else encode(value).decode("utf-8", "replace")


UPLOADS: dict[str, tuple[dict[str, str], str]] = {
    "/v1/audio/transcriptions": ({"model": MODELS["transcriptions"], "response_format": "json"}, "file"),
    "/v1/audio/translations": ({"model": MODELS["transcriptions"]}, "file"),
    "/v1/images/edits": ({"model": MODELS["images"], "prompt": "a cat", "n": "1"}, "image"),
    "/v1/images/variations": ({"model": MODELS["images"], "n": "1", "response_format": "b64_json"}, "image"),
    "/v1/files": ({"purpose": "fine-tune"}, "file"),
}
FORM_FIELDS = ["model", "n", "prompt", "response_format", "size", "quality", "purpose", "stream", "language",
               "temperature", "timestamp_granularities[]"]
WAV = (b"RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80>\x00\x00\x00}\x00\x00\x02\x00\x10\x00"
       b"data\x00\x00\x00\x00")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
# Forms and query strings are UTF-8 on the wire: no lone surrogates here (the JSON properties send them).
_texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30)
form_values = st.one_of(_texts, st.sampled_from([s for s in EDGE_STRINGS if s != "\ud800"]
                                                + ["0", "11", "99999999999999999999", "\u00b2", "1.5", " 3"]))


@fuzz_settings(120)
@given(endpoint=st.sampled_from(sorted(UPLOADS)), name=st.sampled_from(FORM_FIELDS), value=form_values,
       content=st.sampled_from([WAV, PNG, b"", b"\xff" * 100]), filename=st.sampled_from(["a.wav", "a.png", "",
                                                                                          "\u00e9.jsonl", "../x"]))
def test_upload_forms(fuzz: FuzzEnv, endpoint: str, name: str, value: str, content: bytes, filename: str) -> None:
    fields, file_field = UPLOADS[endpoint]
    data = {**fields, name: _form_value(value)}
    files = {file_field: (filename, content, "application/octet-stream")}
    resp = fuzz.http.post(endpoint, data=data, files=files)
    check_response(resp, f"{endpoint}: forms")


QUERIES = ["/v1/files", "/v1/fine_tuning/jobs", "/v1/models", "/v1/files/file-x", "/v1/files/file-x/content",
           "/v1/fine_tuning/jobs/ftjob-x", "/v1/fine_tuning/jobs/ftjob-x/events"]


@fuzz_settings(80)
@given(path=st.sampled_from(QUERIES), name=st.sampled_from(["limit", "order", "after", "purpose", "metadata[k]"]),
       value=form_values)
def test_query_strings(fuzz: FuzzEnv, path: str, name: str, value: str) -> None:
    resp = fuzz.http.get(path, params={name: value})
    check_response(resp, "query strings")


@fuzz_settings(60)
@given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
       path=st.one_of(st.sampled_from(QUERIES + list(ENDPOINTS) + list(UPLOADS) + ["/v1", "/v1/", "/v1/x",
                                                                                    "/v1/images/files/x.png"]),
                      st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e, exclude_characters="?#%"),
                              max_size=20)
                      .map(lambda s: "/v1/" + s)))
def test_methods_and_paths(fuzz: FuzzEnv, method: str, path: str) -> None:
    resp = fuzz.http.request(method, path, content=b"{}")
    if method == "HEAD":
        assert resp.status_code < 500
        return
    check_response(resp, "methods and paths")


@pytest.mark.parametrize("value", ["\u00b2", "\u00b9\u00b2", "\u2460"])
def test_unicode_digits_in_limits_and_counts_are_400(fuzz: FuzzEnv, value: str) -> None:
    """``str.isdigit`` is true for superscripts, which ``int()`` refuses: such a limit was a 500."""
    for path in ("/v1/files", "/v1/fine_tuning/jobs"):
        resp = fuzz.http.get(path, params={"limit": value})
        check_response(resp)
        assert resp.status_code == 400 and error_of(resp)["param"] == "limit", resp.text
    resp = fuzz.http.post("/v1/images/generations", json={"model": MODELS["images"], "prompt": "x", "n": value})
    check_response(resp)
    assert resp.status_code == 400 and error_of(resp)["param"] == "n", resp.text


def test_file_upload_for_an_unknown_model_is_404(fuzz: FuzzEnv) -> None:
    """Naming a model nobody serves is the caller's mistake: it was a 503 "no channel stores files"."""
    resp = fuzz.http.post("/v1/files", data={"purpose": "fine-tune", "model": "no-such-model"},
                          files={"file": ("a.jsonl", b"{}\n", "application/jsonl")})
    check_response(resp)
    assert resp.status_code == 404 and error_of(resp)["code"] == "model_not_found", resp.text
    resp = fuzz.http.post("/v1/files", data={"purpose": "fine-tune", "model": MODELS["fine_tuning"]},
                          files={"file": ("a.jsonl", b'{"messages": []}\n', "application/jsonl")})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("model", [False, 0, "", [], {}])
def test_a_falsy_model_is_not_the_default(fuzz: FuzzEnv, model: Any) -> None:
    """Only an absent (or null) model means the endpoint's default; ``"model": false`` was relayed as dall-e-2."""
    for path, body in (("/v1/images/generations", {"prompt": "x"}), ("/v1/moderations", {"input": "x"})):
        resp = fuzz.http.post(path, json={**body, "model": model})
        check_response(resp)
        assert resp.status_code == 400 and error_of(resp)["param"] == "model", (path, model, resp.text)
    resp = fuzz.http.post("/v1/moderations", json={"input": "x", "model": None})
    assert resp.status_code == 200, resp.text
