"""Channel type name -> adapter (and transport, translator). New protocols register here and nowhere else.

OpenAI-compatible presets (:mod:`.presets`) are types of their own that share the one ``openai``
adapter instance. Types whose upstream call is not a plain pooled HTTP request also register
their :class:`~relaygate.providers.base.Transport` (the adapter instance itself, which keeps the
per-channel credential caches). Translation types register their
:class:`~relaygate.providers.base.Translator` for ``POST /v2/translate``; their chat adapter is
the translation shim over the same translator.
"""

from __future__ import annotations

from relaygate.providers.anthropic import AnthropicAdapter
from relaygate.providers.azure import AzureAdapter
from relaygate.providers.baidu import BaiduAdapter
from relaygate.providers.baidu_fanyi import FanyiAdapter
from relaygate.providers.base import ChatAdapter, MediaInliner, Translator, Transport
from relaygate.providers.deepl import DeepLTranslator, TranslationChatAdapter
from relaygate.providers.gemini import GeminiAdapter
from relaygate.providers.openai import OpenAIAdapter
from relaygate.providers.presets import OPENAI_COMPATIBLE
from relaygate.providers.sdwebui import SDWebUIAdapter
from relaygate.providers.spark import SparkAdapter
from relaygate.providers.stability import StabilityAdapter
from relaygate.providers.zhipu import ZhipuAdapter

_baidu = BaiduAdapter()
_spark = SparkAdapter()
_deepl = TranslationChatAdapter(DeepLTranslator())
_fanyi = FanyiAdapter()

_ADAPTERS: dict[str, ChatAdapter] = {
    "openai": OpenAIAdapter(),
    "azure": AzureAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
    "baidu": _baidu,
    "spark": _spark,
    "zhipu": ZhipuAdapter(),
    "deepl": _deepl,
    "baidu-fanyi": _fanyi,
}
for _name in sorted(OPENAI_COMPATIBLE):
    _ADAPTERS[_name] = _ADAPTERS["openai"]
# Stable Diffusion: image generation only (relay/endpoints/images.py calls their generate_images)
_ADAPTERS["stability"] = StabilityAdapter()
_ADAPTERS["sd-webui"] = SDWebUIAdapter()

_TRANSPORTS: dict[str, Transport] = {
    "baidu": _baidu,  # an access token first, refreshed once when refused
    "spark": _spark,  # a WebSocket per request
    "baidu-fanyi": _fanyi,  # errors arrive with HTTP 200
}

_TRANSLATORS: dict[str, Translator] = {
    "deepl": _deepl.translator,
    "baidu-fanyi": _fanyi.translator,
}

CHANNEL_TYPES: frozenset[str] = frozenset(_ADAPTERS)

# Types whose adapter wants image URLs downloaded and inlined first (see MediaInliner).
_INLINERS: dict[str, MediaInliner] = {t: a for t, a in _ADAPTERS.items() if callable(getattr(a, "must_inline", None))}


def adapter_for(channel_type: str) -> ChatAdapter:
    return _ADAPTERS[channel_type]


def transport_for(channel_type: str) -> Transport | None:
    """The transport of a type that needs one; None (the pooled HTTP client) for all others."""
    return _TRANSPORTS.get(channel_type)


def media_inliner(channel_type: str) -> MediaInliner | None:
    """The adapter of a type whose upstream needs image bytes inline; None for all others."""
    return _INLINERS.get(channel_type)


def translator_for(channel_type: str) -> Translator | None:
    """The translation protocol of a translation channel type; None for chat-only types."""
    return _TRANSLATORS.get(channel_type)
