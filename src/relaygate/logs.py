"""Logging set-up for the CLI process and every worker process.

Some libraries log SQL statements with their parameters at debug level (aiosqlite, SQLAlchemy's
engine): those parameters include channel keys, so they stay above debug whatever the gateway's
own level is. The gateway itself never logs a key.
"""

from __future__ import annotations

import logging

# loggers that print query parameters or request headers when at DEBUG
_QUIET = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool", "asyncio", "alembic", "hpack", "httpcore")


def setup_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger().level))
