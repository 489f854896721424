"""Every SQL file under include/sql, as Oracle would receive it.

Oracle cannot run here, so each file goes the way the reader sends it to Oracle: bound through
the reader's own parameter types, compiled by SQLAlchemy's Oracle dialect with the list binds
expanded (``:batch_codes_1, :batch_codes_2``), then parsed by sqlglot's Oracle grammar. The
statement must parse, bind only names the reader sends, and come back from sqlglot's Oracle
generator token for token: anything sqlglot has to rewrite for Oracle (``LIMIT``, ``::`` casts,
``AS`` before a table alias, …) is something Oracle would not take as written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlglot
from sqlalchemy.dialects import oracle
from sqlglot import exp

from batch_monitor.settings import sql_dir
from batch_monitor.source import CHUNK_SIZE, _prepare

ORACLE_IN_LIST_MAX = 1000  # ORA-01795: maximum number of expressions in a list is 1000

SQL_FILES = sorted(p.relative_to(sql_dir()).as_posix() for p in sql_dir().rglob("*.sql"))

# what bind_parameters() hands the SQL files (two batch codes, so the list binds expand)
PARAMS = {
    "batch_codes": ["CM-DMRU", "D1-IMD"],
    "error_codes": ["30", "ER"],
    "window_start": dt.datetime(2026, 11, 23, 5, 0),
    "window_end": dt.datetime(2026, 11, 24, 15, 0),
    "day_start": dt.datetime(2026, 11, 24, 5, 0),
    "day_end": dt.datetime(2026, 11, 25, 5, 0),
    "as_of": dt.datetime(2026, 11, 24, 12, 0),
    "business_date": dt.date(2026, 11, 24),
}


def _as_oracle_receives_it(name: str) -> tuple[str, set[str]]:
    path = sql_dir() / name
    prepared = _prepare(path, path.read_text(encoding="utf-8"))
    statement = prepared.statement.bindparams(**{k: v for k, v in PARAMS.items() if k in prepared.params})
    compiled = statement.compile(dialect=oracle.dialect(), compile_kwargs={"render_postcompile": True})
    return compiled.string, set(compiled.params)


def _tokens(sql: str) -> list[str]:
    return [token.text.upper() for token in sqlglot.tokenize(sql, read="oracle")]


def test_every_sql_file_is_checked() -> None:
    assert SQL_FILES and {Path(n).name for n in SQL_FILES} >= {"batch_runs.sql", "batch_threads.sql", "ping.sql"}


@pytest.mark.parametrize("name", SQL_FILES)
def test_the_sql_compiled_for_oracle_parses_as_oracle_and_needs_no_rewriting(name: str) -> None:
    sql, bound = _as_oracle_receives_it(name)
    tree = sqlglot.parse_one(sql, read="oracle", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Query), f"{name}: not a query"
    placeholders = {p.name for p in tree.find_all(exp.Placeholder)}
    assert placeholders == bound, f"{name}: binds {sorted(placeholders)} but the reader sends {sorted(bound)}"
    regenerated = tree.sql(dialect="oracle")
    assert _tokens(regenerated) == _tokens(sql), f"{name}: sqlglot rewrites it for Oracle:\n{regenerated}"


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT BATCH_CD FROM CI_BATCH_RUN LIMIT 5",
        "SELECT BATCH_NBR::int FROM CI_BATCH_RUN",
        "SELECT R.BATCH_CD FROM CI_BATCH_RUN AS R",
    ],
)
def test_the_check_catches_sql_oracle_does_not_take(sql: str) -> None:
    regenerated = sqlglot.parse_one(sql, read="oracle").sql(dialect="oracle")
    assert _tokens(regenerated) != _tokens(sql)


@pytest.mark.parametrize("name", SQL_FILES)
def test_a_full_chunk_of_batch_codes_stays_within_oracles_in_list_limit(name: str) -> None:
    """The reader sends CHUNK_SIZE codes a query; Oracle refuses an IN list of over 1,000 (ORA-01795)."""
    path = sql_dir() / name
    prepared = _prepare(path, path.read_text(encoding="utf-8"))
    codes = [f"C{i:05d}" for i in range(CHUNK_SIZE)]
    params = {**PARAMS, "batch_codes": codes}
    statement = prepared.statement.bindparams(**{k: v for k, v in params.items() if k in prepared.params})
    compiled = statement.compile(dialect=oracle.dialect(), compile_kwargs={"render_postcompile": True})
    tree = sqlglot.parse_one(compiled.string, read="oracle", error_level=sqlglot.ErrorLevel.RAISE)
    lists = [len(node.expressions) for node in tree.find_all(exp.In)]
    assert all(n <= ORACLE_IN_LIST_MAX for n in lists), f"{name}: IN lists of {lists} items"
    if "batch_codes" in prepared.params:
        assert CHUNK_SIZE in lists, f"{name}: the batch codes' IN list holds {lists} items"
