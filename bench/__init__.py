"""Benchmark of relaygate beside LiteLLM and Portkey: ``python -m bench`` (see __main__.py)."""
