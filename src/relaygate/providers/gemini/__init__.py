from relaygate.providers.gemini.adapter import GeminiAdapter

__all__ = ["GeminiAdapter"]
