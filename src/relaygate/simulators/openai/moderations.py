"""``POST /v1/moderations``.

Deterministic flagging (case-insensitive, on the text of each input):

* the trigger word ``flagme`` anywhere flags ``violence`` (and so ``flagged``);
* ``flag:<category>`` (any category key, e.g. ``flag:self-harm/intent``, ``flag:hate``) flags that
  category; a ``.../sub`` category also flags its parent (``hate/threatening`` -> ``hate``);
* for multimodal input, an ``image_url`` whose URL contains ``flagme`` flags ``sexual`` and
  ``violence`` with ``["image"]`` as applied input type.

Flagged categories score 0.9 + a little, the others a tiny hash-derived score (< 0.001). A string or
a list of strings yields one result per string; a list of multimodal parts yields one result.
Legacy ``text-moderation-*`` models report ``illicit``/``illicit/violent`` as null.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

from aiohttp import web

from . import params
from .errors import APIError
from .messages import invalid_type
from .plumbing import api, check_model, ok, read_json_object
from .state import SimState

CATEGORIES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "illicit", "illicit/violent",
    "self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
IMAGE_CATEGORIES = frozenset({"self-harm", "self-harm/instructions", "self-harm/intent", "sexual", "violence",
                              "violence/graphic"})
TRIGGER = "flagme"
DEFAULT_MODEL = "omni-moderation-latest"
_FLAG = re.compile(r"flag:([a-z\-/]+)")


@api(faults=True)
async def create(request: web.Request, state: SimState) -> web.StreamResponse:
    body = await read_json_object(request)
    model = params.string(body, "model") or DEFAULT_MODEL
    items = parse_input(params.require(body, "input"))
    reported = check_model(state, model)
    legacy = model.startswith("text-moderation")
    results = [classify(texts, images, legacy) for texts, images in items]
    return ok(state, {"id": "modr-" + uuid.uuid4().hex[:24], "model": reported, "results": results})


def parse_input(value: Any) -> list[tuple[list[str], list[str]]]:
    """(texts, image urls) per result."""
    if isinstance(value, str):
        return [([value], [])]
    if not isinstance(value, list):
        raise invalid_type("input", "one of a string, array of strings, or array of objects", value)
    if all(isinstance(v, str) for v in value):
        return [([v], []) for v in value] or [([""], [])]
    texts: list[str] = []
    images: list[str] = []
    for i, part in enumerate(value):
        if not isinstance(part, dict):
            raise invalid_type(f"input[{i}]", "an object", part)
        kind = part.get("type")
        if kind == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind == "image_url" and isinstance((part.get("image_url") or {}).get("url"), str):
            images.append(part["image_url"]["url"])
        else:
            raise APIError(400, f"Invalid value for 'input[{i}]': expected a text or image_url part.",
                           param=f"input[{i}]", code="invalid_value")
    return [(texts, images)]


def flagged_categories(text: str) -> set[str]:
    lowered = text.lower()
    found = {"violence"} if TRIGGER in lowered else set()
    for name in _FLAG.findall(lowered):
        if name in CATEGORIES:
            found.add(name)
            found.add(name.split("/")[0])
    return found


def classify(texts: list[str], images: list[str], legacy: bool) -> dict[str, Any]:
    joined = "\n".join(texts)
    text_flags = flagged_categories(joined)
    image_flags = {"sexual", "violence"} if any(TRIGGER in url.lower() for url in images) else set()
    digest = hashlib.sha256(joined.encode() + b"|" + "|".join(images).encode()).digest()
    categories: dict[str, Any] = {}
    scores: dict[str, float] = {}
    applied: dict[str, list[str]] = {}
    for i, name in enumerate(CATEGORIES):
        flagged = name in text_flags or name in image_flags
        categories[name] = flagged
        scores[name] = round((0.9 if flagged else 0.0) + digest[i] / 255 * (0.09 if flagged else 0.0009), 6)
        kinds = ["text"] if texts else []
        if images and name in IMAGE_CATEGORIES:
            kinds.append("image")
        applied[name] = kinds
    if legacy:
        categories["illicit"] = categories["illicit/violent"] = None
    return {"flagged": any(v is True for v in categories.values()), "categories": categories,
            "category_scores": scores, "category_applied_input_types": applied}
