"""``/__sim/*`` control plane, for driving a simulator that runs in another process.

``GET /__sim/knobs`` -> all knobs; ``POST /__sim/knobs`` with a partial JSON object -> updated knobs
(400 ``{"error": "..."}`` and no change on an unknown name or wrong type); ``GET /__sim/requests``
-> the request log (body as UTF-8 text plus parsed ``json``); ``POST /__sim/reset`` -> clears the
log and restores the default knobs. No auth: these routes never exist on a real upstream.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from .errors import json_response
from .state import SimState


def add_routes(app: web.Application, state: SimState) -> None:
    async def get_knobs(_: web.Request) -> web.Response:
        return json_response(200, state.knobs.to_dict())

    async def post_knobs(request: web.Request) -> web.Response:
        try:
            changes = orjson.loads(await request.read())
            if not isinstance(changes, dict):
                raise ValueError("expected a JSON object of knob values")
            state.knobs.update(changes)
        except (orjson.JSONDecodeError, ValueError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(200, state.knobs.to_dict())

    async def get_requests(_: web.Request) -> web.Response:
        return json_response(200, [r.to_dict() for r in state.requests])

    async def post_reset(_: web.Request) -> web.Response:
        state.reset()
        return json_response(200, {"ok": True})

    app.router.add_get("/__sim/knobs", get_knobs)
    app.router.add_post("/__sim/knobs", post_knobs)
    app.router.add_get("/__sim/requests", get_requests)
    app.router.add_post("/__sim/reset", post_reset)
