"""aiohttp application of the fake OpenAI / Azure OpenAI upstream: routing only.

Every API request is recorded (multipart bodies as a form summary), then delayed by
``latency_ms``, then routed. Handlers live in one module per endpoint family; see
:mod:`.plumbing` for the shared auth -> faults -> handler pipeline. Fault knobs (``hang``,
``fail_next``, ``error_rate``) apply to every endpoint that does work (chat, completions,
embeddings, moderations, images, audio, file upload, fine-tuning job creation); list / retrieve /
delete calls never consume them. ``/__sim/*`` routes need no auth and are not recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from . import (
    audio,
    chat,
    completions,
    control,
    embeddings,
    files,
    fine_tuning,
    images,
    models,
    moderations,
    transcriptions,
)
from .errors import AZURE_NOT_FOUND, APIError, json_response
from .models import DEFAULT_CATALOG
from .plumbing import STATE, dispatch, error, headers
from .state import RecordedRequest, SimState

__all__ = ["DEFAULT_CATALOG", "MAX_BODY", "STATE", "create_app"]

MAX_BODY = 64 * 1024 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(state: SimState) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_record_and_delay])
    app[STATE] = state
    control.add_routes(app, state)
    app.router.add_get("/__sim/images/{name}", images.serve_stored)
    if state.mode == "azure":
        app.router.add_route("*", "/openai/deployments/{deployment}/chat/completions", chat.azure_chat)
    else:
        _add_openai_routes(app)
    app.router.add_route("*", "/{tail:.*}", _unknown_route)
    return app


def _add_openai_routes(app: web.Application) -> None:
    routes: dict[str, Handler] = {
        "/v1/chat/completions": chat.openai_chat,
        "/v1/models": dispatch(GET=models.list_models),
        "/v1/models/{model}": dispatch(GET=models.get_model, DELETE=models.delete_model),
        "/v1/completions": dispatch(POST=completions.create),
        "/v1/embeddings": dispatch(POST=embeddings.create),
        "/v1/moderations": dispatch(POST=moderations.create),
        "/v1/images/generations": dispatch(POST=images.generate),
        "/v1/images/edits": dispatch(POST=images.edit),
        "/v1/images/variations": dispatch(POST=images.variation),
        "/v1/audio/speech": dispatch(POST=audio.speech),
        "/v1/audio/transcriptions": dispatch(POST=transcriptions.transcribe),
        "/v1/audio/translations": dispatch(POST=transcriptions.translate),
        "/v1/files": dispatch(GET=files.list_files, POST=files.upload),
        "/v1/files/{file_id}": dispatch(GET=files.retrieve, DELETE=files.delete),
        "/v1/files/{file_id}/content": dispatch(GET=files.content),
        "/v1/fine_tuning/jobs": dispatch(GET=fine_tuning.list_jobs, POST=fine_tuning.create),
        "/v1/fine_tuning/jobs/{job_id}": dispatch(GET=fine_tuning.retrieve),
        "/v1/fine_tuning/jobs/{job_id}/cancel": dispatch(POST=fine_tuning.cancel),
        "/v1/fine_tuning/jobs/{job_id}/events": dispatch(GET=fine_tuning.list_events),
        "/v1/fine_tuning/jobs/{job_id}/checkpoints": dispatch(GET=fine_tuning.list_checkpoints),
    }
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)


@web.middleware
async def _record_and_delay(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    if request.path.startswith("/__sim/"):
        return await handler(request)
    state.requests.append(await RecordedRequest.capture(request, state.knobs.max_upload_bytes))
    if state.knobs.latency_ms > 0:
        await asyncio.sleep(state.knobs.latency_ms / 1000)
    return await handler(request)


async def _unknown_route(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    if state.mode == "azure":
        return json_response(404, AZURE_NOT_FOUND, headers(state))
    return error(state, APIError(404, f"Invalid URL ({request.method} {request.path})"))
