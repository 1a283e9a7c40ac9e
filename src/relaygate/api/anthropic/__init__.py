"""The Anthropic-format entry (``/v1/messages``) for Anthropic SDK and Claude Code users."""
