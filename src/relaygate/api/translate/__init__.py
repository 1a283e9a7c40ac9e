"""DeepL-compatible ``POST /v2/translate`` onto translation channels."""
