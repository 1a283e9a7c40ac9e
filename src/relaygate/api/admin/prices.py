"""Prices per model, in the configured currency per 1M tokens (plus an optional per-call fee, and
for translation models an optional price per 1M characters).

Model names carry slashes and colons (``meta/llama-3``, ``ft:gpt-4o:org::id``), hence the
``{model:path}`` routes.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from relaygate.api.admin.auth import AdminRuntime, require_admin
from relaygate.api.admin.common import RESPONSES
from relaygate.api.admin.errors import ApiError, bad_request
from relaygate.api.admin.schemas import DataList, PriceIn, PriceOut
from relaygate.billing.money import format_money
from relaygate.runtime import Runtime
from relaygate.store import repos
from relaygate.store.models import Price

router = APIRouter(prefix="/api/prices", tags=["prices"], dependencies=[Depends(require_admin)],
                   responses=RESPONSES)


def price_out(p: Price) -> PriceOut:
    return PriceOut(
        model=p.model, input=format_money(p.input) or "0.00", output=format_money(p.output) or "0.00",
        per_request=format_money(p.per_request) or "0.00", cache_read=format_money(p.cache_read),
        cache_write=format_money(p.cache_write), max_output_tokens=p.max_output_tokens,
        per_character=format_money(p.per_character), per_image=format_money(p.per_image),
        image_prices={k: format_money(v) or "0.00" for k, v in p.image_prices.items()} if p.image_prices else None,
        per_second=format_money(p.per_second), updated_at=repos.as_utc(p.updated_at),
    )


def _model_name(model: str) -> str:
    if not model.strip():
        raise bad_request("a model name is required: /api/prices/{model}", "model")
    if len(model) > repos.MODEL_MAX:
        raise bad_request(f"model name longer than {repos.MODEL_MAX} characters", "model")
    try:
        return repos.check_text(model)
    except ValueError as exc:
        raise bad_request(f"model name {exc}", "model") from exc


def _no_price(model: str) -> ApiError:
    return ApiError(404, f"no price for model {model!r}", code="price_not_found", param="model")


@router.get("", response_model=DataList[PriceOut])
async def list_prices(rt: AdminRuntime) -> DataList[PriceOut]:
    async with rt.sessions() as s:
        rows = (await s.scalars(select(Price).order_by(Price.model))).all()
    return DataList[PriceOut](data=[price_out(p) for p in rows])


@router.get("/{model:path}", response_model=PriceOut)
async def get_price(model: str, rt: AdminRuntime) -> PriceOut:
    model = _model_name(model)
    async with rt.sessions() as s:
        price = await s.get(Price, model)
    if price is None:
        raise _no_price(model)
    return price_out(price)


async def _upsert(rt: Runtime, model: str, body: PriceIn) -> Price:
    async with rt.sessions() as s, s.begin():
        price = await s.get(Price, model)
        if price is None:
            price = Price(model=model)
            s.add(price)
        price.input = body.input
        price.output = body.output
        price.per_request = body.per_request
        price.cache_read = body.cache_read
        price.cache_write = body.cache_write
        price.max_output_tokens = body.max_output_tokens
        price.per_character = body.per_character
        price.per_image = body.per_image
        price.image_prices = body.image_prices
        price.per_second = body.per_second
        price.updated_at = repos.utcnow()
    return price


@router.put("/{model:path}", response_model=PriceOut)
async def put_price(model: str, body: PriceIn, rt: AdminRuntime) -> PriceOut:
    """Replaces the whole price: fields left out go back to their defaults."""
    model = _model_name(model)
    for attempt in range(2):
        try:
            price = await _upsert(rt, model, body)
            break
        except IntegrityError as exc:  # a concurrent PUT created it first: update that row instead
            if attempt:
                raise ApiError(409, f"price for {model!r} changed concurrently; retry",
                               code="conflict") from exc
    await rt.state_changed()
    return price_out(price)


@router.delete("/{model:path}", status_code=204, response_class=Response)
async def delete_price(model: str, rt: AdminRuntime) -> Response:
    model = _model_name(model)
    async with rt.sessions() as s, s.begin():
        price = await s.get(Price, model)
        if price is None:
            raise _no_price(model)
        await s.delete(price)
    await rt.state_changed()
    return Response(status_code=204)
