"""Create and upgrade the store's tables with Alembic, run from code (no alembic.ini).

The migrations live beside this module (``store/migrations``) and record their progress in
the monitor's own version table, so the store can share a database with Airflow or anything
else. An upgrade holds a PostgreSQL advisory lock for its whole transaction: two workers that
start at once run it one after the other, and the second finds nothing left to do.

    python -m batch_monitor.store.migrate upgrade --url postgresql+psycopg2://user@host/db
    python -m batch_monitor.store.migrate check --url ...   # exit 1 if the schema differs
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from batch_monitor.store.schema import metadata

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "batch_monitor_alembic_version"
# key of the pg_advisory_xact_lock taken around migrations: b"bmonitor" read as a bigint
LOCK_KEY = int.from_bytes(b"bmonitor", "big") & 0x7FFF_FFFF_FFFF_FFFF

EngineOrUrl = sa.Engine | sa.URL | str


def is_store_object(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: only the monitor's tables are ever compared."""
    return type_ != "table" or name in metadata.tables


def _engine_of(engine_or_url: EngineOrUrl) -> tuple[sa.Engine, bool]:
    """The engine to use and whether we made it (then we dispose of it)."""
    if isinstance(engine_or_url, sa.Engine):
        return engine_or_url, False
    url = sa.make_url(engine_or_url)
    if url.drivername == "postgres":  # Airflow-style URIs
        url = url.set(drivername="postgresql")
    if not url.drivername.startswith("postgresql"):
        raise ValueError(f"the store needs PostgreSQL; got a {url.drivername!r} URL")
    return sa.create_engine(url), True


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic Config pointing at the packaged migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


@contextmanager
def _locked(engine_or_url: EngineOrUrl) -> Iterator[sa.Connection]:
    """A connection in a transaction that holds the store's migration lock until it ends."""
    engine, owned = _engine_of(engine_or_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
            yield conn
    finally:
        if owned:
            engine.dispose()


def migrate(engine_or_url: EngineOrUrl, revision: str = "head") -> None:
    """Bring the store up to ``revision`` (default: the newest). Idempotent, safe to run at once."""
    with _locked(engine_or_url) as conn:
        command.upgrade(alembic_config(conn), revision)


def downgrade(engine_or_url: EngineOrUrl, revision: str = "base") -> None:
    """Take the store back to ``revision``; ``"base"`` drops every table the migrations made."""
    with _locked(engine_or_url) as conn:
        command.downgrade(alembic_config(conn), revision)


def current(engine_or_url: EngineOrUrl) -> str | None:
    """The store's revision, or None when it was never migrated."""
    engine, owned = _engine_of(engine_or_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    finally:
        if owned:
            engine.dispose()


def schema_differences(engine_or_url: EngineOrUrl) -> list[Any]:
    """What differs between the database and store/schema.py (Alembic autogenerate diffs).

    Empty when the migrations create exactly the tables the code expects.
    """
    engine, owned = _engine_of(engine_or_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "version_table": VERSION_TABLE,
                    "include_name": is_store_object,
                    "compare_type": True,
                    "compare_server_default": True,
                },
            )
            return list(compare_metadata(context, metadata))
    finally:
        if owned:
            engine.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m batch_monitor.store.migrate", description="Manage the Batch Monitor store's schema."
    )
    parser.add_argument("action", choices=["upgrade", "downgrade", "current", "check"])
    parser.add_argument("--url", required=True, help="SQLAlchemy URL of the PostgreSQL store")
    parser.add_argument("--revision", default=None, help="target revision (upgrade: head, downgrade: base)")
    args = parser.parse_args(argv)
    if args.action == "upgrade":
        migrate(args.url, args.revision or "head")
    elif args.action == "downgrade":
        downgrade(args.url, args.revision or "base")
    revision = current(args.url)
    print(f"store revision: {revision or 'none (not migrated)'} (code head: {head_revision()})")
    if args.action == "check":
        diffs = schema_differences(args.url)
        for diff in diffs:
            print(f"differs from store/schema.py: {diff}")
        return 1 if diffs or revision != head_revision() else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
