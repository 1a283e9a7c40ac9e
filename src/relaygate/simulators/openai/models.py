"""``GET /v1/models``, ``GET /v1/models/{model}`` and ``DELETE /v1/models/{model}`` (fine-tuned only).

The list is the configured ``models`` (or a small default catalog) plus every model produced by a
succeeded fine-tuning job of this simulator (``owned_by`` = the organisation, as for real ft models).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import APIError
from .plumbing import api, ok
from .state import SimState

DEFAULT_CATALOG: dict[str, int] = {
    "gpt-4o": 1715367049, "gpt-4o-mini": 1721172741, "gpt-4.1": 1744316542, "gpt-4.1-mini": 1744318173,
    "gpt-3.5-turbo": 1677610602, "o3-mini": 1737146383, "text-embedding-3-small": 1705948997,
}
FT_OWNER = "user-simulated"


@api()
async def list_models(request: web.Request, state: SimState) -> web.StreamResponse:
    ids = sorted(state.models) if state.models is not None else list(DEFAULT_CATALOG)
    ids += [m for m in state.fine_tuned_models if m not in ids]
    return ok(state, {"object": "list", "data": [model_object(state, m) for m in ids]})


@api()
async def get_model(request: web.Request, state: SimState) -> web.StreamResponse:
    model = request.match_info["model"]
    if not state.model_known(model):
        raise _not_found(model)
    return ok(state, model_object(state, model))


@api()
async def delete_model(request: web.Request, state: SimState) -> web.StreamResponse:
    model = request.match_info["model"]
    if model not in state.fine_tuned_models:
        if state.model_known(model):
            raise APIError(403, "You have insufficient permissions for this operation. Missing scopes: "
                           "api.delete", type_="invalid_request_error")
        raise _not_found(model)
    del state.fine_tuned_models[model]
    return ok(state, {"id": model, "object": "model", "deleted": True})


def model_object(state: SimState, model: str) -> dict[str, Any]:
    if model in state.fine_tuned_models:
        return {"id": model, "object": "model", "created": state.fine_tuned_models[model], "owned_by": FT_OWNER}
    created = DEFAULT_CATALOG.get(model, 1700000000)
    return {"id": model, "object": "model", "created": created, "owned_by": "system"}


def _not_found(model: str) -> APIError:
    return APIError(404, f"The model '{model}' does not exist", param="model", code="model_not_found")
