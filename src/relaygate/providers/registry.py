"""Channel type name -> adapter. New protocols register here and nowhere else."""

from __future__ import annotations

from relaygate.providers.anthropic import AnthropicAdapter
from relaygate.providers.azure import AzureAdapter
from relaygate.providers.base import ChatAdapter
from relaygate.providers.gemini import GeminiAdapter
from relaygate.providers.openai import OpenAIAdapter

_ADAPTERS: dict[str, ChatAdapter] = {
    "openai": OpenAIAdapter(),
    "azure": AzureAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}

CHANNEL_TYPES: frozenset[str] = frozenset(_ADAPTERS)


def adapter_for(channel_type: str) -> ChatAdapter:
    return _ADAPTERS[channel_type]
