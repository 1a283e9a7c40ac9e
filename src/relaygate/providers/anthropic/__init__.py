from relaygate.providers.anthropic.adapter import AnthropicAdapter

__all__ = ["AnthropicAdapter"]
