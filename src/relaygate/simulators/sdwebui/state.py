"""Knobs and shared state of the AUTOMATIC1111 simulator (checkpoints, current options)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from relaygate.simulators.common.runner import BaseKnobs, BaseState

DEFAULT_CHECKPOINTS = ("v1-5-pruned-emaonly.safetensors", "sd_xl_base_1.0.safetensors")
SAMPLERS = ("DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "Euler a", "Euler", "LMS", "Heun", "DPM2", "DPM2 a",
            "DPM fast", "DPM adaptive", "Restart", "DDIM", "PLMS", "UniPC", "LCM")


@dataclass
class SDWebUIKnobs(BaseKnobs):
    """Base fault knobs; nothing WebUI-specific yet."""


def checkpoint_info(filename: str) -> dict[str, Any]:
    """One ``/sdapi/v1/sd-models`` entry; hashes are derived from the file name."""
    sha256 = hashlib.sha256(filename.encode()).hexdigest()
    name = filename.rsplit(".", 1)[0]
    return {"title": f"{filename} [{sha256[:10]}]", "model_name": name, "hash": sha256[:8], "sha256": sha256,
            "filename": f"/sd/models/Stable-diffusion/{filename}", "config": None}


@dataclass
class SDWebUIState(BaseState):
    credentials: frozenset[tuple[str, str]] | None = None
    checkpoints: tuple[str, ...] = DEFAULT_CHECKPOINTS
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.on_reset.append(self.reset_options)
        self.reset_options()

    def reset_options(self) -> None:
        self.options.clear()
        self.options.update({"sd_model_checkpoint": checkpoint_info(self.checkpoints[0])["title"],
                             "CLIP_stop_at_last_layers": 1, "samples_format": "png", "return_grid": True})

    def find_checkpoint(self, name: str) -> dict[str, Any] | None:
        """Match a title, a file name or a model name (as A1111's checkpoint lookup does)."""
        for filename in self.checkpoints:
            info = checkpoint_info(filename)
            if name in (info["title"], filename, info["model_name"], info["hash"]):
                return info
        return None


STATE = web.AppKey("relaygate_sdwebui_state", SDWebUIState)
