"""Bring the database to the latest schema; safe at every start-up.

`python -m crm_store.migrate` migrates `CRM_STORE_DATABASE_URL`.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from crm_store.config import Settings
from crm_store.core import make_engine

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# Serialises concurrent start-ups on PostgreSQL (SQLite serialises on BEGIN IMMEDIATE).
ADVISORY_LOCK_KEY = 0x53_57_43_52_4D  # "SWCRM"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(database_url: str, revision: str = "head") -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            await connection.run_sync(_upgrade, alembic_config(), revision)
    finally:
        await engine.dispose()
    log.info("database schema at %s", revision)


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(migrate(Settings().database_url))


if __name__ == "__main__":
    main()
