"""Stability AI REST (v1 engines and v2beta Stable Image) behind OpenAI's ``/v1/images/generations``."""

from relaygate.providers.stability.adapter import StabilityAdapter

__all__ = ["StabilityAdapter"]
