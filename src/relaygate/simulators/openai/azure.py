"""Azure OpenAI specifics: accepted ``api-version`` values and content-filter annotations.

Azure adds ``prompt_filter_results`` / ``content_filter_results`` to chat responses, and its streams
start with a chunk whose ``choices`` is empty (and whose ``id``/``model`` are empty strings). A
gateway that indexes ``choices[0]`` blindly breaks on that first chunk, so it is reproduced here.
"""

from __future__ import annotations

from typing import Any

DEFAULT_DEPLOYMENTS: dict[str, str] = {"gpt-4o-mini": "gpt-4o-mini-2024-07-18"}

API_VERSIONS: frozenset[str] = frozenset({
    "2022-12-01", "2023-05-15", "2024-02-01", "2024-06-01", "2024-10-21",
    "2023-03-15-preview", "2023-06-01-preview", "2023-07-01-preview", "2023-08-01-preview",
    "2023-09-01-preview", "2023-10-01-preview", "2023-12-01-preview", "2024-02-15-preview",
    "2024-03-01-preview", "2024-04-01-preview", "2024-05-01-preview", "2024-07-01-preview",
    "2024-08-01-preview", "2024-09-01-preview", "2024-10-01-preview", "2024-12-01-preview",
    "2025-01-01-preview", "2025-02-01-preview", "2025-03-01-preview", "2025-04-01-preview",
})

_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


def content_filter_results(prompt: bool = False) -> dict[str, Any]:
    """All categories "safe"; prompts additionally report jailbreak detection."""
    results: dict[str, Any] = {name: {"filtered": False, "severity": "safe"} for name in _CATEGORIES}
    if prompt:
        results["jailbreak"] = {"filtered": False, "detected": False}
    return results


def prompt_filter_results() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": content_filter_results(prompt=True)}]


def decorate_response(body: dict[str, Any]) -> dict[str, Any]:
    """Add Azure's filter annotations to a non-stream ``chat.completion`` body."""
    for choice in body["choices"]:
        choice["content_filter_results"] = content_filter_results()
    body["prompt_filter_results"] = prompt_filter_results()
    return body


def prompt_filter_chunk() -> dict[str, Any]:
    """The first event of every Azure chat stream."""
    return {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": prompt_filter_results(),
    }


def decorate_chunk(chunk: dict[str, Any], content: bool) -> dict[str, Any]:
    """Content deltas carry full filter results; role and finish chunks carry ``{}``."""
    for choice in chunk["choices"]:
        choice["content_filter_results"] = content_filter_results() if content else {}
    return chunk
