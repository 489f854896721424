"""Alembic environment of the monitor's store, driven from batch_monitor.store.migrate.

No alembic.ini: migrate.py builds the Config in code and hands over an open connection in
``config.attributes["connection"]``. The version table is the monitor's own, and only the
monitor's tables are ever compared, so the store can share a database with anything else.
"""

from __future__ import annotations

from alembic import context

from batch_monitor.store.migrate import VERSION_TABLE, is_store_object
from batch_monitor.store.schema import metadata


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the store's migrations through batch_monitor.store.migrate")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=is_store_object,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) mode is not supported; run batch_monitor.store.migrate against a database")
run_online()
