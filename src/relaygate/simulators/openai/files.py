"""Files API: upload (multipart), list, retrieve, delete, content — stored in memory per simulator.

* ``purpose`` must be one of the real input purposes; ``fine-tune`` and ``batch`` uploads must be
  ``.jsonl`` files whose every non-empty line is a JSON object (checked at upload, as the real API
  does; the ``messages`` shape is checked when a fine-tuning job is created).
* ``expires_after[anchor]=created_at`` + ``expires_after[seconds]`` (3600-2592000) set ``expires_at``;
  ``batch`` files default to 30 days; null ``expires_at`` / ``status_details`` are omitted (the spec
  types them as non-null when present).
* Listing: newest first by default (``order=asc`` for oldest first), ``purpose`` filter, ``limit``
  (1-10000, default 10000) and ``after`` cursor; ``first_id``/``last_id`` are null on an empty page.
* ``GET /files/{id}/content`` returns the raw bytes (``application/octet-stream``); ``assistants``
  files cannot be downloaded (real 400). Fine-tuning result files are created here by jobs.
* Size: the multipart body is capped by the ``max_upload_bytes`` knob (413), standing in for the
  real 512 MB limit.
"""

from __future__ import annotations

import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from .errors import APIError
from .messages import invalid_value, missing
from .plumbing import api, form_int, headers, ok, read_form
from .state import SimState

PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
_ALPHABET = string.ascii_letters + string.digits
_THIRTY_DAYS = 30 * 24 * 3600


@dataclass
class StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int
    expires_at: int | None = None

    def object(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "object": "file", "bytes": len(self.data),
                               "created_at": self.created_at, "filename": self.filename,
                               "purpose": self.purpose, "status": "processed"}
        if self.expires_at is not None:
            out["expires_at"] = self.expires_at
        return out


def new_id(prefix: str, length: int = 22) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def add_file(state: SimState, filename: str, purpose: str, data: bytes, expires_at: int | None = None) -> StoredFile:
    stored = StoredFile(new_id("file-"), filename, purpose, data, int(time.time()), expires_at)
    state.files[stored.id] = stored
    return stored


def get_file(state: SimState, file_id: str) -> StoredFile:
    stored = state.files.get(file_id)
    if stored is None:
        raise APIError(404, f"No such File object: {file_id}", param="id")
    return stored


def jsonl_objects(data: bytes) -> list[Any]:
    """Parsed non-empty lines; raises the real upload error on the first line that is not a JSON object."""
    out = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            raise APIError(400, "Expected file to have JSONL format, where every line is a valid JSON dictionary. "
                           f"Line {number} is not a dictionary.", param="file")
        out.append(value)
    return out


@api(faults=True)
async def upload(request: web.Request, state: SimState) -> web.StreamResponse:
    form = await read_form(request, state)
    purpose = form.get("purpose")
    if not purpose:
        raise missing("purpose")
    if purpose not in PURPOSES:
        raise invalid_value("purpose", purpose, PURPOSES)
    upload_file = form.file("file")
    if upload_file is None:
        raise missing("file")
    if purpose in ("fine-tune", "batch"):
        api_name = "Fine-Tuning" if purpose == "fine-tune" else "Batch"
        if not upload_file.filename.lower().endswith(".jsonl"):
            raise APIError(400, f"Invalid file format for {api_name} API. Must be .jsonl", param="file")
        jsonl_objects(upload_file.data)
    now = int(time.time())
    expires_at = now + _THIRTY_DAYS if purpose == "batch" else None
    anchor = form.get("expires_after[anchor]")
    seconds = form_int(form, "expires_after[seconds]")
    if anchor is not None or seconds is not None:
        if anchor != "created_at":
            raise invalid_value("expires_after.anchor", anchor, ("created_at",))
        if seconds is None or not 3600 <= seconds <= 2592000:
            raise APIError(400, "Invalid 'expires_after.seconds': expected a value between 3600 and 2592000.",
                           param="expires_after.seconds", code="invalid_value")
        expires_at = now + seconds
    stored = add_file(state, upload_file.filename, purpose, upload_file.data, expires_at)
    return ok(state, stored.object())


@api()
async def list_files(request: web.Request, state: SimState) -> web.StreamResponse:
    query = request.query
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_value("order", order, ("asc", "desc"))
    limit = _query_int(query.get("limit"), "limit", 10000, 1, 10000)
    items = [f for f in state.files.values() if query.get("purpose") in (None, f.purpose)]
    if order == "desc":
        items.reverse()
    if (after := query.get("after")) is not None:
        ids = [f.id for f in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    page = items[:limit]
    return ok(state, {"object": "list", "data": [f.object() for f in page],
                      "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                      "has_more": len(items) > limit})


@api()
async def retrieve(request: web.Request, state: SimState) -> web.StreamResponse:
    return ok(state, get_file(state, request.match_info["file_id"]).object())


@api()
async def delete(request: web.Request, state: SimState) -> web.StreamResponse:
    stored = get_file(state, request.match_info["file_id"])
    del state.files[stored.id]
    return ok(state, {"id": stored.id, "object": "file", "deleted": True})


@api()
async def content(request: web.Request, state: SimState) -> web.StreamResponse:
    stored = get_file(state, request.match_info["file_id"])
    if stored.purpose == "assistants":
        raise APIError(400, "Not allowed to download files of purpose: assistants", param="file_id")
    hdrs = {**headers(state), "Content-Disposition": f'attachment; filename="{stored.filename}"'}
    return web.Response(body=stored.data, content_type="application/octet-stream", headers=hdrs)


def _query_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise APIError(400, f"Invalid type for '{name}': expected an integer, but got a string instead.",
                       param=name, code="invalid_type") from None
    if not low <= value <= high:
        raise APIError(400, f"Invalid '{name}': expected a value between {low} and {high}, but got {value} "
                       "instead.", param=name, code="invalid_value")
    return value
