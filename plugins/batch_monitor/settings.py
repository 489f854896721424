"""Every setting of the monitor, defined once: its name, where it is read from, and its default.

The sources, from the deployment's outside in:

- environment variables: where the project's files are (``BATCH_MONITOR_*_DIR``);
- Airflow's configuration: ``[api] base_url``, the UI's address that mails link to;
- Airflow connections and Variables: CC&B, the store, the channels; recipients and the scraper token;
- the store's ``batch_monitoring_config`` table (scope ``global``): what an operator tunes with SQL
  while the monitor runs (retention, the page's refresh, the longest silence, the STUCK default).
  ``prepare_store`` writes the defaults of the missing keys, never over an operator's value, and
  deletes keys the monitor does not read, so the table holds exactly the values in effect.

A workflow's own fields (``business_day_start``, ``schedule``, ``stuck_after``, ...) are its YAML
(``config.py``); the table's ``stuck_threshold_minutes`` is the default of ``stuck_after``.

Only the edge reads settings: the path functions below, ``airflow_io`` (connections, Variables,
``[api] base_url``) and ``store.repository.setting`` (the table). Pure modules take values as
arguments. This module imports nothing outside the standard library; :data:`SETTINGS` lists every
setting for the README's table and the tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T", int, str, None)


class Source(StrEnum):
    ENV = "environment variable"
    AIRFLOW_CONFIG = "Airflow configuration"
    CONNECTION = "Airflow connection"
    CONNECTION_EXTRA = "Airflow connection extra"
    VARIABLE = "Airflow Variable"
    TABLE = "batch_monitoring_config"


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One setting: ``name`` as its source spells it, where it comes from, its default (None: none)."""

    name: str
    source: Source
    default: T
    description: str
    section: str = ""  # Airflow configuration only: the section (``api`` for ``[api] base_url``)

    @property
    def label(self) -> str:
        """How people write it: ``[api] base_url``, ``retention_days``, ``BATCH_MONITOR_SQL_DIR``."""
        return f"[{self.section}] {self.name}" if self.section else self.name


PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent

# ----------------------------------------------------------------- environment variables (paths)

INCLUDE_DIR = Setting(
    "BATCH_MONITOR_INCLUDE_DIR",
    Source.ENV,
    "include",
    "the include folder: workflows, SQL, scenarios, mail templates (default: beside plugins/)",
)
WORKFLOWS_DIR = Setting(
    "BATCH_MONITOR_WORKFLOWS_DIR",
    Source.ENV,
    "workflows",
    "the workflow files, one monitoring DAG per file (default: in the include folder)",
)
SQL_DIR = Setting(
    "BATCH_MONITOR_SQL_DIR", Source.ENV, "sql", "the OUAF SQL run against CC&B (default: in the include folder)"
)
TEMPLATES_DIR = Setting(
    "BATCH_MONITOR_TEMPLATES_DIR", Source.ENV, "templates", "the mail templates (default: in the include folder)"
)
SCENARIOS = "scenarios"  # the simulator's scenarios: always in the include folder

# ----------------------------------------------------------------- Airflow configuration

BASE_URL = Setting(
    "base_url", Source.AIRFLOW_CONFIG, "http://localhost:8080", "the Airflow UI's address, for links in mails", "api"
)

# ----------------------------------------------------------------- Airflow connections

SOURCE_CONN_ID = "ccb_oracle"
STORE_CONN_ID = "batch_monitor_db"
SMTP_CONN_ID = "smtp_default"
SLACK_CONN_ID = "batch_monitor_slack"  # an incoming webhook (slackwebhook), or the Web API (slack) to thread
APPRISE_CONN_ID = "batch_monitor_apprise"

CONNECT_TIMEOUT = Setting(
    "connect_timeout",
    Source.CONNECTION_EXTRA,
    30,
    f"seconds a PostgreSQL {SOURCE_CONN_ID} or {STORE_CONN_ID} connection may take to connect",
)

# ----------------------------------------------------------------- Airflow Variables

EMAIL_TO = Setting(
    "batch_monitor_email_to",
    Source.VARIABLE,
    None,
    "overrides every workflow's on_call (addresses separated by commas, semicolons or spaces)",
)
ESCALATE_TO = Setting(
    "batch_monitor_escalate_to", Source.VARIABLE, None, "overrides every workflow's escalate_to (same separators)"
)
METRICS_TOKEN = Setting(
    "batch_monitor_metrics_token",
    Source.VARIABLE,
    None,
    "the read-only scraper token of GET /batch-monitor/metrics (unset: Airflow tokens only)",
)

# ----------------------------------------------------------------- the store's batch_monitoring_config

RETENTION_DAYS = Setting(
    "retention_days", Source.TABLE, 60, "days of history kept; older runs, alerts, summaries and ticks are purged"
)
SNAPSHOT_RETENTION_DAYS = Setting(
    "snapshot_retention_days",
    Source.TABLE,
    2,
    "days of raw CC&B snapshots kept: a tick needs only its own; two days are kept to replay and debug",
)
STUCK_THRESHOLD_MINUTES = Setting(
    "stuck_threshold_minutes",
    Source.TABLE,
    60,
    "minutes without progress before a running step is STUCK, for steps whose YAML sets no stuck_after",
)
REFRESH_INTERVAL_SECONDS = Setting(
    "refresh_interval_seconds", Source.TABLE, 1800, "how often the page refreshes itself, in seconds (at least 10)"
)
MAX_SILENCE_DAYS = Setting("max_silence_days", Source.TABLE, 7, "the longest a silence may last, in days")

TABLE_SETTINGS: tuple[Setting[int], ...] = (
    RETENTION_DAYS,
    SNAPSHOT_RETENTION_DAYS,
    STUCK_THRESHOLD_MINUTES,
    REFRESH_INTERVAL_SECONDS,
    MAX_SILENCE_DAYS,
)

CONNECTIONS: tuple[tuple[str, str], ...] = (
    (SOURCE_CONN_ID, "CC&B: Oracle (or a PostgreSQL/SQLite stand-in, the simulator)"),
    (STORE_CONN_ID, "the store: PostgreSQL"),
    (SMTP_CONN_ID, "mail (the email channel and the failure notifier)"),
    (SLACK_CONN_ID, "the slack channel: an incoming webhook (slackwebhook) or the Web API (slack, extra channel)"),
    (APPRISE_CONN_ID, "the apprise channel (extra config)"),
)

SETTINGS: tuple[Setting[Any], ...] = (
    INCLUDE_DIR,
    WORKFLOWS_DIR,
    SQL_DIR,
    TEMPLATES_DIR,
    BASE_URL,
    *(Setting(conn_id, Source.CONNECTION, None, what) for conn_id, what in CONNECTIONS),
    CONNECT_TIMEOUT,
    EMAIL_TO,
    ESCALATE_TO,
    METRICS_TOKEN,
    *TABLE_SETTINGS,
)


# ----------------------------------------------------------------- reading the environment


def env(setting: Setting[str], environ: Mapping[str, str] | None = None) -> str | None:
    """The environment variable's value (None when unset or blank)."""
    value = (os.environ if environ is None else environ).get(setting.name, "").strip()
    return value or None


def _folder(setting: Setting[str], parent: Path) -> Path:
    value = env(setting)
    return Path(value) if value else parent / str(setting.default)


def include_dir() -> Path:
    """``$BATCH_MONITOR_INCLUDE_DIR``, else ``include/`` beside ``plugins/``."""
    return _folder(INCLUDE_DIR, PROJECT_ROOT)


def workflows_dir() -> Path:
    """``$BATCH_MONITOR_WORKFLOWS_DIR``, else ``workflows`` in the include folder."""
    return _folder(WORKFLOWS_DIR, include_dir())


def sql_dir() -> Path:
    """``$BATCH_MONITOR_SQL_DIR``, else ``sql`` in the include folder."""
    return _folder(SQL_DIR, include_dir())


def templates_dir() -> Path:
    """``$BATCH_MONITOR_TEMPLATES_DIR``, else ``templates`` in the include folder."""
    return _folder(TEMPLATES_DIR, include_dir())


def scenarios_dir() -> Path:
    """The simulator's scenarios, in the include folder."""
    return include_dir() / SCENARIOS


def markdown_table() -> str:
    """The README's table of settings, from :data:`SETTINGS` (a test keeps the README's copy equal)."""
    lines = ["| setting | source | default | what |", "|---|---|---|---|"]
    for s in SETTINGS:
        shown = "—" if s.source == Source.CONNECTION else "unset" if s.default is None else f"`{s.default}`"
        lines.append(f"| `{s.label}` | {s.source.value} | {shown} | {s.description} |")
    return "\n".join(lines)
