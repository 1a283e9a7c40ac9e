"""``POST /sdapi/v1/txt2img`` and ``/sdapi/v1/img2img`` of the fake AUTOMATIC1111 API.

Deterministic rules:

* Fields and defaults follow ``StableDiffusionProcessingTxt2Img`` as the notes list them (``steps``
  50, ``cfg_scale`` 7, ``width``/``height`` 512, ``batch_size``/``n_iter`` 1, ``seed``/``subseed`` -1,
  ``sampler_index`` "Euler", ``send_images`` true...); a wrong JSON type is FastAPI's 422
  ``{"detail": [{"loc", "msg", "type"}]}``; unknown fields are ignored; an unknown sampler is 404
  ``{"detail": "Sampler not found"}``.
* Seed -1 means "random": here derived from the prompt, so still deterministic. Image ``i`` uses
  ``seed + i`` and ``subseed + i`` (``all_seeds`` / ``all_subseeds``).
* ``batch_size * n_iter`` PNGs of ``width x height`` rounded down to multiples of 8 (``enable_hr``:
  scaled by ``hr_scale`` or ``hr_resize_x/y``), base64 without a ``data:`` prefix. With more than one
  image a grid (``ceil``-balanced rows x columns) is prepended unless ``do_not_save_grid``
  (``info.index_of_first_image`` is then 1). ``send_images: false`` returns ``images: []``.
* ``parameters`` echoes the request with every default filled in; ``info`` is a JSON *string* with
  the keys the notes list (``all_prompts``, ``all_seeds``, ``infotexts``, ``sd_model_name``...).
* ``override_settings.sd_model_checkpoint`` picks the reported model for this request (unknown names
  keep the current one, as A1111 does).
* img2img additionally requires ``init_images`` (base64 images; 404 "Init image not found" when
  missing, 422 when not base64) and reports ``init_images: null`` unless ``include_init_images``.
* Injected faults answer A1111's runtime error shape ``{"error", "detail", "body", "errors"}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import time
from typing import Any

import orjson
from aiohttp import web

from relaygate.simulators.common import png
from relaygate.simulators.common.runner import json_response

from .state import SAMPLERS, STATE, SDWebUIState

VERSION = "v1.10.1"
_STR, _INT, _FLOAT, _BOOL, _LIST, _DICT = "str", "int", "float", "bool", "list", "dict"
FIELDS: dict[str, tuple[str, Any]] = {
    "prompt": (_STR, ""), "negative_prompt": (_STR, ""), "styles": (_LIST, []), "seed": (_INT, -1),
    "subseed": (_INT, -1), "subseed_strength": (_FLOAT, 0.0), "seed_resize_from_h": (_INT, -1),
    "seed_resize_from_w": (_INT, -1), "sampler_name": (_STR, None), "scheduler": (_STR, None),
    "batch_size": (_INT, 1), "n_iter": (_INT, 1), "steps": (_INT, 50), "cfg_scale": (_FLOAT, 7.0),
    "width": (_INT, 512), "height": (_INT, 512), "restore_faces": (_BOOL, None), "tiling": (_BOOL, None),
    "do_not_save_samples": (_BOOL, False), "do_not_save_grid": (_BOOL, False), "eta": (_FLOAT, None),
    "denoising_strength": (_FLOAT, None), "override_settings": (_DICT, None),
    "override_settings_restore_afterwards": (_BOOL, True), "refiner_checkpoint": (_STR, None),
    "refiner_switch_at": (_FLOAT, None), "disable_extra_networks": (_BOOL, False), "comments": (_DICT, None),
    "enable_hr": (_BOOL, False), "firstphase_width": (_INT, 0), "firstphase_height": (_INT, 0),
    "hr_scale": (_FLOAT, 2.0), "hr_upscaler": (_STR, None), "hr_second_pass_steps": (_INT, 0),
    "hr_resize_x": (_INT, 0), "hr_resize_y": (_INT, 0), "hr_checkpoint_name": (_STR, None),
    "hr_sampler_name": (_STR, None), "hr_scheduler": (_STR, None), "hr_prompt": (_STR, ""),
    "hr_negative_prompt": (_STR, ""), "force_task_id": (_STR, None), "sampler_index": (_STR, "Euler"),
    "script_name": (_STR, None), "script_args": (_LIST, []), "send_images": (_BOOL, True),
    "save_images": (_BOOL, False), "alwayson_scripts": (_DICT, {}), "infotext": (_STR, None),
}
IMG2IMG_FIELDS: dict[str, tuple[str, Any]] = {
    "init_images": (_LIST, None), "resize_mode": (_INT, 0), "image_cfg_scale": (_FLOAT, None),
    "mask": (_STR, None), "mask_blur_x": (_INT, 4), "mask_blur_y": (_INT, 4), "mask_blur": (_INT, None),
    "inpainting_fill": (_INT, 0), "inpaint_full_res": (_BOOL, True), "inpaint_full_res_padding": (_INT, 0),
    "inpainting_mask_invert": (_INT, 0), "include_init_images": (_BOOL, False),
}
_TYPE_ERRORS = {_STR: ("str type expected", "type_error.str"), _INT: ("value is not a valid integer",
                "type_error.integer"), _FLOAT: ("value is not a valid float", "type_error.float"),
                _BOOL: ("value could not be parsed to a boolean", "type_error.bool"),
                _LIST: ("value is not a valid list", "type_error.list"),
                _DICT: ("value is not a valid dict", "type_error.dict")}


class RequestError(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__("request rejected")
        self.response = response


def validation_error(loc: list[Any], msg: str, kind: str) -> web.Response:
    return json_response(422, {"detail": [{"loc": loc, "msg": msg, "type": kind}]})


def runtime_error(message: str, status: int = 500, name: str = "RuntimeError") -> web.Response:
    return json_response(status, {"error": name, "detail": "", "body": "", "errors": message})


async def txt2img(request: web.Request) -> web.StreamResponse:
    return await _handle(request, img2img=False)


async def img2img(request: web.Request) -> web.StreamResponse:
    return await _handle(request, img2img=True)


async def _handle(request: web.Request, img2img: bool) -> web.StreamResponse:
    state = request.app[STATE]
    if await state.hang_or_fault():
        if state.knobs.fail_body is not None:
            return json_response(state.knobs.fail_status, state.knobs.fail_body)
        headers = {"Retry-After": str(state.knobs.retry_after)} if state.knobs.retry_after else None
        response = runtime_error(f"simulated failure ({state.knobs.fail_status})", state.knobs.fail_status)
        if headers:
            response.headers.update(headers)
        return response
    try:
        return _generate(state, await _parse(request, img2img), img2img)
    except RequestError as err:
        return err.response


async def _parse(request: web.Request, img2img: bool) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise RequestError(validation_error(["body", exc.pos], "JSON decode error", "value_error.jsondecode")) from None
    if not isinstance(body, dict):
        raise RequestError(validation_error(["body"], "value is not a valid dict", "type_error.dict"))
    fields = {**FIELDS, **IMG2IMG_FIELDS} if img2img else FIELDS
    params: dict[str, Any] = {}
    for name, (kind, default) in fields.items():
        value = body.get(name, default)
        params[name] = _coerce(name, kind, value) if value is not None else None
    return params


def _coerce(name: str, kind: str, value: Any) -> Any:
    ok = {_STR: isinstance(value, str), _BOOL: isinstance(value, bool), _LIST: isinstance(value, list),
          _DICT: isinstance(value, dict),
          _INT: (isinstance(value, int) and not isinstance(value, bool))
          or (isinstance(value, float) and value.is_integer()),
          _FLOAT: isinstance(value, int | float) and not isinstance(value, bool)}[kind]
    if not ok:
        msg, error_type = _TYPE_ERRORS[kind]
        raise RequestError(validation_error(["body", name], msg, error_type))
    return int(value) if kind == _INT else float(value) if kind == _FLOAT else value


def _generate(state: SDWebUIState, p: dict[str, Any], img2img: bool) -> web.Response:
    sampler = p["sampler_name"] or p["sampler_index"] or "Euler"
    if sampler not in SAMPLERS:
        raise RequestError(json_response(404, {"detail": "Sampler not found"}))
    if img2img:
        if not p["init_images"]:
            raise RequestError(json_response(404, {"detail": "Init image not found"}))
        for i, item in enumerate(p["init_images"]):
            try:
                base64.b64decode(str(item).split(",", 1)[-1], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(validation_error(["body", "init_images", i], "invalid base64 image",
                                                    "value_error")) from None
    for name in ("width", "height", "steps", "batch_size", "n_iter"):
        if p[name] < 1:
            raise RequestError(validation_error(["body", name], "ensure this value is greater than 0",
                                                "value_error.number.not_gt"))
    width, height = p["width"], p["height"]
    if p["enable_hr"] and not img2img:
        width = p["hr_resize_x"] or int(width * p["hr_scale"])
        height = p["hr_resize_y"] or int(height * p["hr_scale"])
    width, height = max(8, width - width % 8), max(8, height - height % 8)
    checkpoint = state.find_checkpoint(state.options["sd_model_checkpoint"]) or {}
    override = (p["override_settings"] or {}).get("sd_model_checkpoint")
    if override is not None:
        checkpoint = state.find_checkpoint(str(override)) or checkpoint
    total = p["batch_size"] * p["n_iter"]
    seed = p["seed"] if p["seed"] != -1 else _derived(p["prompt"], "seed")
    subseed = p["subseed"] if p["subseed"] != -1 else _derived(p["prompt"], "subseed")
    seeds = [seed + i for i in range(total)]
    pictures = [png.render(width, height, f"{checkpoint.get('title')}|{p['prompt']}|{p['negative_prompt']}|{s}|"
                                          f"{'img2img' if img2img else 'txt2img'}".encode()) for s in seeds]
    grid = total > 1 and not p["do_not_save_grid"] and state.options.get("return_grid", True)
    if grid:
        rows = max(1, int(math.sqrt(total)))
        while total % rows:
            rows -= 1
        cols = math.ceil(total / rows)
        pictures.insert(0, png.render(width * cols, height * rows, f"grid|{seeds}".encode()))
    scheduler = p["scheduler"] or "Automatic"
    info = _info(p, checkpoint, sampler, scheduler, seeds, subseed, width, height, total, 1 if grid else 0)
    parameters = dict(p)
    if img2img and not p["include_init_images"]:
        parameters["init_images"] = None
        parameters["mask"] = None
    images = [base64.b64encode(picture).decode("ascii") for picture in pictures] if p["send_images"] else []
    return json_response(200, {"images": images, "parameters": parameters, "info": orjson.dumps(info).decode()})


def _derived(prompt: str, label: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{label}|{prompt}".encode()).digest()[:4], "big") % 4294967294


def _info(p: dict[str, Any], checkpoint: dict[str, Any], sampler: str, scheduler: str, seeds: list[int],
          subseed: int, width: int, height: int, total: int, first: int) -> dict[str, Any]:
    model_name, model_hash = checkpoint.get("model_name", ""), checkpoint.get("hash", "")

    def infotext(seed: int) -> str:
        lines = [p["prompt"]]
        if p["negative_prompt"]:
            lines.append(f"Negative prompt: {p['negative_prompt']}")
        lines.append(f"Steps: {p['steps']}, Sampler: {sampler}, Schedule type: {scheduler}, CFG scale: "
                     f"{p['cfg_scale']:g}, Seed: {seed}, Size: {width}x{height}, Model hash: {model_hash}, "
                     f"Model: {model_name}, Version: {VERSION}")
        return "\n".join(lines)

    return {
        "prompt": p["prompt"], "all_prompts": [p["prompt"]] * total, "negative_prompt": p["negative_prompt"],
        "all_negative_prompts": [p["negative_prompt"]] * total, "seed": seeds[0], "all_seeds": seeds,
        "subseed": subseed, "all_subseeds": [subseed + i for i in range(total)],
        "subseed_strength": p["subseed_strength"], "width": width, "height": height, "sampler_name": sampler,
        "cfg_scale": p["cfg_scale"], "steps": p["steps"], "batch_size": p["batch_size"],
        "restore_faces": bool(p["restore_faces"]), "face_restoration_model": None, "sd_model_name": model_name,
        "sd_model_hash": model_hash, "sd_vae_name": None, "sd_vae_hash": None,
        "seed_resize_from_w": p["seed_resize_from_w"], "seed_resize_from_h": p["seed_resize_from_h"],
        "denoising_strength": p["denoising_strength"], "extra_generation_params": {"Schedule type": scheduler},
        "index_of_first_image": first, "infotexts": [infotext(s) for s in seeds], "styles": p["styles"],
        "job_timestamp": time.strftime("%Y%m%d%H%M%S"), "clip_skip": 1, "is_using_inpainting_conditioning": False,
        "version": VERSION,
    }
