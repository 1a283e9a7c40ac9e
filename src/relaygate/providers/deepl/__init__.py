"""Channel type ``deepl``: DeepL API v2, as chat models (``deepl-zh``...) and behind ``POST /v2/translate``."""

from relaygate.providers.deepl.chat import TranslationChatAdapter
from relaygate.providers.deepl.translator import DeepLTranslator

__all__ = ["DeepLTranslator", "TranslationChatAdapter"]
