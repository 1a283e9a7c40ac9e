"""The management API: a FastAPI app under ``/api``, with its OpenAPI docs at ``/api/docs``.

FastAPI is used here (and not on the hot path) because its validation and generated docs are
worth their cost for a low-traffic admin surface.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from relaygate.api.admin import channels, keys, logs, metrics, prices, users
from relaygate.api.admin.errors import install_error_handlers
from relaygate.runtime import Runtime

DESCRIPTION = """Manage channels (upstreams), users, API keys, prices, and read logs and usage.

Authenticate with `Authorization: Bearer <admin key>`. Money is a decimal string in the
configured currency (`"10.00"`); errors look like `{"error": {"message", "type", "code"}}`.
"""


def build_admin_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="relaygate management API",
        description=DESCRIPTION,
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    for module in (channels, users, keys, prices, logs, metrics):
        app.include_router(module.router)
    _document_400s_not_422s(app)
    return app


def _document_400s_not_422s(app: FastAPI) -> None:
    """FastAPI documents a 422 on every route, but validation errors are answered with 400."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
