"""Fake Stability AI REST upstream (v1 engines API and v2beta Stable Image), from
``shared/protocols/stable_diffusion.md``, for tests, the demo and benchmarks."""

from .simulator import StabilityKnobs, StabilitySimulator

__all__ = ["StabilityKnobs", "StabilitySimulator"]
