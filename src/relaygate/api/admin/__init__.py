"""Management API (admin): channels, users, keys, prices, logs and usage."""

from relaygate.api.admin.app import build_admin_app

__all__ = ["build_admin_app"]
