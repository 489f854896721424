"""Fixtures shared by every test: a real PostgreSQL server and fresh databases on it.

The server is the machine's (``BATCH_MONITOR_TEST_PG``, default 127.0.0.1:5432, user postgres)
or, where none answers, an embedded one from the ``pgserver`` package. Every test that asks
for ``fresh_pg_url`` gets a database of its own, dropped afterwards (in the background), so tests
(and several pytest processes) never see each other's rows. Also a real SMTP server (``mail_server``) and a local
HTTP server standing in for Slack (``slack``), each with the Airflow connection pointing at it.
"""

from __future__ import annotations

import os
import queue
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from hypothesis import settings
from tests.support.mail import MailServer
from tests.support.slack import FakeSlack
from tests.support.workflows import WORKFLOWS_DIR

if TYPE_CHECKING:
    from tests.support.monitor_env import MonitorEnv

# Property tests draw new examples on every local run; under CI=true they draw the same ones each
# run, so that a red CI run can be replayed and a green one is not luck.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins"))


def _memory_backed_tmp() -> str | None:
    """A RAM-backed directory (Linux's /dev/shm) for the session's scratch files, if there is one.

    The tests' SQLite files (Airflow's metadata database under ``dag.test()``, the simulated CC&B
    files) commit after every statement; on a disk each commit waits for an fsync (~10 ms on the CI
    machines), in RAM it does not. What is committed, and when, stays the same.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        return None
    stat = os.statvfs(shm)
    # a container's small default /dev/shm (64 MiB) is left to Chromium: the disk then
    return str(shm) if stat.f_bavail * stat.f_frsize >= 2 * 1024**3 else None


FAST_TMP = _memory_backed_tmp()
if FAST_TMP:
    # pytest's tmp_path / tmp_path_factory root (read when the first tmp_path is made, after this)
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", FAST_TMP)

# Airflow reads its configuration when first imported: give the test session a home of its own
# (SQLite metadata database created on demand by the `airflow_db` fixture).
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="bm-airflow-home-", dir=FAST_TMP))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__PARALLELISM"] = "4"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
# The DAGs Airflow parses in the tests (and the api-server the API tests start) come from the tests'
# own workflow files, never the deployment's include/workflows (tests/support/workflows.py).
os.environ["BATCH_MONITOR_WORKFLOWS_DIR"] = str(WORKFLOWS_DIR)

DEFAULT_ADMIN_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def _reachable(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a maintenance database on a real PostgreSQL server."""
    url = os.environ.get("BATCH_MONITOR_TEST_PG", DEFAULT_ADMIN_URL)
    if _reachable(url):
        yield url
        _DROPPER.wait()
        return
    import pgserver  # embedded PostgreSQL, only where no server runs

    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    yield server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)
    try:
        _DROPPER.wait()
    finally:
        server.cleanup()


def create_database(admin_url: str, prefix: str = "bm_test", template: str | None = None) -> str:
    """A new database (a copy of the database ``template`` if given, else empty); returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        # a test database need not survive a crash of the server: commits do not wait for the WAL's
        # fsync (what a transaction sees and when it commits are unchanged)
        conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    engine.dispose()
    return sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_now(admin_url: str, url: str) -> None:
    name = sa.make_url(url).database
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


class _Dropper:
    """Drops the tests' databases one after the other in a background thread.

    A DROP DATABASE makes PostgreSQL checkpoint (seconds, on a busy disk); nothing a test proves
    depends on when its finished database goes, so the next test runs meanwhile. :meth:`wait`
    (at the end of the session, before an embedded server stops) drops what is left and reports
    any database that could not be dropped.
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._failures: list[str] = []

    def drop(self, admin_url: str, url: str) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="drop-test-databases", daemon=True)
            self._thread.start()
        self._queue.put((admin_url, url))

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                _drop_now(*item)
            except sa.exc.SQLAlchemyError as exc:
                self._failures.append(f"{sa.make_url(item[1]).database}: {exc}")

    def wait(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        failures, self._failures = self._failures, []
        assert not failures, "test databases not dropped:\n" + "\n".join(failures)


_DROPPER = _Dropper()


def drop_database(admin_url: str, url: str) -> None:
    """Drop a test's database (in the background: see :class:`_Dropper`)."""
    _DROPPER.drop(admin_url, url)


@pytest.fixture(scope="session")
def migrated_store_database(pg_admin_url: str) -> Iterator[str]:
    """The name of a database holding the store's tables (Alembic head), migrated once per session."""
    from batch_monitor.store.migrate import migrate

    url = create_database(pg_admin_url, "bm_store_template")
    engine = sa.create_engine(url)
    migrate(engine)
    engine.dispose()
    yield str(sa.make_url(url).database)
    drop_database(pg_admin_url, url)


@pytest.fixture
def fresh_pg_url(pg_admin_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new PostgreSQL database for this test: empty, or, for a test that takes ``store`` (which
    migrates this database), already a copy of the session's migrated store database (running the
    migrations again for each of ~160 tests takes about a second each)."""
    template = request.getfixturevalue("migrated_store_database") if "store" in request.fixturenames else None
    url = create_database(pg_admin_url, template=template)
    yield url
    drop_database(pg_admin_url, url)


@pytest.fixture(autouse=True)
def _forget_airflow_engines() -> None:
    """Each test starts without the engines airflow_io keeps per connection id in this process. A
    task run in-process by ``dag.test()`` leaves them behind after its test; the next test's task,
    given another database under the same connection id, would otherwise reach the earlier test's
    (by then dropped) database."""
    airflow_io = sys.modules.get("batch_monitor.airflow_io")
    if airflow_io is not None:
        airflow_io.store_engine.cache_clear()
        airflow_io.source_engine.cache_clear()


def copy_airflow_db(template: Path, target: Path) -> None:
    """Copy a SQLite Airflow metadata database with SQLite's backup API (safe while ``target`` is open)."""
    import sqlite3

    source, dest = sqlite3.connect(template), sqlite3.connect(target)
    try:
        source.backup(dest)
    finally:
        dest.close()
        source.close()


@pytest.fixture(scope="session")
def migrated_airflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite Airflow metadata database migrated to head once per session (``airflow db
    migrate`` takes tens of seconds): each Airflow the tests run (the session's ``dag.test()``, the
    api-server, a test's own) starts from a copy of it (:func:`copy_airflow_db`), never a shared file."""
    import subprocess

    home = tmp_path_factory.mktemp("airflow_migrated")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=300,
    )
    return home / "airflow.db"


@pytest.fixture(scope="session")
def airflow_db(migrated_airflow_db: Path) -> Path:
    """A migrated SQLite Airflow metadata database in the session's AIRFLOW_HOME (for dag.test())."""
    copy_airflow_db(migrated_airflow_db, AIRFLOW_HOME / "airflow.db")
    return AIRFLOW_HOME


@pytest.fixture
def mail_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[MailServer]:
    """A running SMTP server, and AIRFLOW_CONN_SMTP_DEFAULT pointing at it."""
    server = MailServer()
    server.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", server.connection_json())
    yield server
    server.stop()


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    """A local HTTP server standing in for Slack, and AIRFLOW_CONN_BATCH_MONITOR_SLACK an incoming
    webhook to it (a test that threads points the connection at its Web API instead)."""
    server = FakeSlack()
    server.start()
    monkeypatch.setenv("AIRFLOW_CONN_BATCH_MONITOR_SLACK", server.webhook_connection())
    yield server
    server.stop()


@pytest.fixture
def store(fresh_pg_url: str) -> Iterator[sa.Engine]:
    """An engine on a fresh database holding the store's tables (Alembic head)."""
    from batch_monitor.store.migrate import migrate

    engine = sa.create_engine(fresh_pg_url)
    migrate(engine)  # at head already (a copy of migrated_store_database): checks that, changes nothing
    yield engine
    engine.dispose()


# ----------------------------------------------------------------- fixtures shared by several folders


@pytest.fixture(params=["sqlite", "postgresql"])
def ccb(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty simulated CC&B (the OUAF tables) in a SQLite file or a fresh PostgreSQL database."""
    sqlite = f"sqlite:///{tmp_path / 'ccb.db'}"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("fresh_pg_url")
    from batch_monitor.simulator import create_schema  # after Airflow's home is set (above)

    engine = sa.create_engine(url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def monitor_session(
    pg_admin_url: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> MonitorEnv:
    """The session's one api-server over the simulated store (tests/api, tests/browser, tests/reliability)."""
    from tests.support.monitor_env import shared_monitor_env  # after Airflow's home is set (above)

    template = request.getfixturevalue("migrated_airflow_db")
    return shared_monitor_env(request, pg_admin_url, tmp_path_factory, template)


@pytest.fixture
def monitor(monitor_session: MonitorEnv) -> MonitorEnv:
    """The api-server and its store, reset to the simulated days."""
    monitor_session.reset()
    return monitor_session
