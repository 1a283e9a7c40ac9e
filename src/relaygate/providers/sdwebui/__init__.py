"""AUTOMATIC1111 stable-diffusion-webui (``--api``) behind OpenAI's ``/v1/images/generations``."""

from relaygate.providers.sdwebui.adapter import SDWebUIAdapter

__all__ = ["SDWebUIAdapter"]
