"""Fake AUTOMATIC1111 stable-diffusion-webui API (``--api``, optional ``--api-auth``), from
``shared/protocols/stable_diffusion.md``, for tests, the demo and benchmarks."""

from .simulator import SDWebUIKnobs, SDWebUISimulator

__all__ = ["SDWebUIKnobs", "SDWebUISimulator"]
